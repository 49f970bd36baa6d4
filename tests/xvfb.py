"""A real X display for the kiosk's window: Xvfb on a free display, taps with xdotool, screenshots of the screen.

The test process itself stays offscreen (pytest-qt); the kiosk runs in a subprocess with
``QT_QPA_PLATFORM=xcb`` on this display, as it would on a kiosk machine's X server. On Debian:
``apt-get install -y xvfb xdotool`` (``.ci/run`` does it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from PIL import Image, ImageGrab

MISSING = [tool for tool in ("Xvfb", "xdotool") if shutil.which(tool) is None]
SKIP_REASON = (
    f"no {' or '.join(MISSING)} on this machine: install them (Debian: apt-get install -y xvfb xdotool) "
    "to run the kiosk in a real X window"
)


class Xvfb:
    """``Xvfb`` on the first free display (it picks one itself: ``-displayfd``), ``width`` x ``height``."""

    def __init__(self, width: int = 1280, height: int = 800) -> None:
        self.width, self.height = width, height
        self.proc: subprocess.Popen | None = None
        self.display = ""

    def start(self, timeout: float = 20) -> Xvfb:
        read, write = os.pipe()
        self.proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write), "-screen", "0", f"{self.width}x{self.height}x24", "-nolisten", "tcp"],
            pass_fds=(write,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write)
        deadline = time.monotonic() + timeout
        number = b""
        with os.fdopen(read, "rb") as pipe:
            while not number.endswith(b"\n") and time.monotonic() < deadline:
                chunk = pipe.read(1)
                if not chunk:
                    break
                number += chunk
        if not number.strip():
            self.stop()
            raise RuntimeError("Xvfb did not start")
        self.display = f":{int(number)}"
        return self

    def env(self) -> dict[str, str]:
        """The environment of a program that should open its window on this display."""
        return {**os.environ, "DISPLAY": self.display, "QT_QPA_PLATFORM": "xcb"}

    def tap(self, x: int, y: int) -> None:
        """A finger on the screen at (x, y): pointer there, press, release."""
        subprocess.run(["xdotool", "mousemove", str(x), str(y), "click", "1"], env=self.env(), check=True)

    def drag(self, start: tuple[int, int], end: tuple[int, int], steps: int = 12) -> None:
        """A finger dragged from ``start`` to ``end`` (a swipe)."""
        (x0, y0), (x1, y1) = start, end
        moves = [
            ["mousemove", str(x0 + (x1 - x0) * i // steps), str(y0 + (y1 - y0) * i // steps)]
            for i in range(1, steps + 1)
        ]
        command = ["xdotool", "mousemove", str(x0), str(y0), "mousedown", "1"]
        for move in moves:
            command += [*move, "sleep", "0.02"]
        subprocess.run([*command, "mouseup", "1"], env=self.env(), check=True)

    def screenshot(self, path: Path | None = None) -> Image.Image:
        image = ImageGrab.grab(xdisplay=self.display)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path)
        return image

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
