"""The kiosk in a real X window (Xvfb at a kiosk screen's size), driven by xdotool taps, in English and German.

The kiosk runs in its own process, started like ``booth-client`` (full screen) with ``QT_QPA_PLATFORM=xcb``;
``tests/kiosk_in_x.py`` tells where its buttons are. Screenshots go to a temporary folder, or to
``PORTRAIT_WINDOW_SCREENSHOTS`` (``scripts/refresh_screenshots.py --window``) when refreshed on purpose.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from booth_client.config import KioskConfig
from tests.harness import API_KEY
from tests.xvfb import MISSING, SKIP_REASON, Xvfb

pytestmark = pytest.mark.skipif(bool(MISSING), reason=SKIP_REASON)
SHOTS_ENV = "PORTRAIT_WINDOW_SCREENSHOTS"


class KioskInX:
    """The kiosk's process on a display, and what it last reported."""

    def __init__(self, x: Xvfb, folder: Path, **config) -> None:
        self.x, self.folder = x, folder
        self.config_file, self.report_file = folder / "kiosk.json", folder / "report.json"
        settings = {"api_key": API_KEY, "outbox_dir": folder / "outbox", "countdown_s": 1, "idle_timeout_s": 300}
        KioskConfig(**{**settings, **config}).save(self.config_file)
        self.log = folder / "kiosk.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.kiosk_in_x", str(self.config_file), str(self.report_file)],
            env=x.env(),
            cwd=Path(__file__).resolve().parent.parent,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def report(self) -> dict:
        try:
            return json.loads(self.report_file.read_text())
        except (OSError, ValueError):
            return {}

    def wait(self, condition, timeout: float = 30, what: str = "") -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the kiosk exited: {self.log.read_text()[-3000:]}"
            report = self.report()
            if report and condition(report):
                return report
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what or condition}: {self.report()}")

    def settle(self) -> None:
        """Until the kiosk's event loop has turned twice more (it writes each report): what it was last told to
        show is painted, ready for a screenshot."""
        seq = self.wait(lambda r: "seq" in r, what="a report")["seq"]
        self.wait(lambda r: r["seq"] >= seq + 2, 10, "two more turns of the kiosk's event loop")

    def tap(self, name: str) -> None:
        point = self.wait(lambda r: (r["buttons"].get(name) or [0, 0, 0])[2], what=f"{name} enabled")["buttons"][name]
        self.x.tap(point[0], point[1])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture(scope="module")
def window_shots(tmp_path_factory) -> Path:
    return Path(os.environ.get(SHOTS_ENV) or tmp_path_factory.mktemp("window-screenshots"))


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_visitor_in_a_real_window_at_1280x800(tmp_path, server, video, window_shots, language):
    x = Xvfb(1280, 800).start()
    kiosk = KioskInX(x, tmp_path, server_url=server.url, camera=str(video), language=language)
    try:
        first = kiosk.wait(lambda r: r["styles"] > 0 and r["state"] == "attract", 60, "the attract screen")
        kiosk.settle()
        x.screenshot(window_shots / f"{language}-1-attract.png")
        kiosk.tap("start")
        kiosk.wait(lambda r: r["screen"] == "live" and r["buttons"]["take"][2], 30, "a live camera")
        kiosk.settle()
        x.screenshot(window_shots / f"{language}-2-live.png")
        kiosk.tap("take")
        kiosk.wait(lambda r: r["screen"] == "review", 15, "the review")
        kiosk.settle()
        x.screenshot(window_shots / f"{language}-3-review.png")
        kiosk.tap("keep")
        kiosk.wait(lambda r: r["screen"] == "gallery", 10, "the gallery")
        kiosk.settle()
        x.screenshot(window_shots / f"{language}-4-gallery.png")
        middle = kiosk.report()["buttons"]["style:starry-night"]
        x.drag((middle[0], middle[1] + 300), (middle[0], middle[1] - 100))  # a finger flicks the styles up
        scrolled = kiosk.wait(lambda r: r["gallery_scroll"] > 0, 10, "the gallery to scroll")["gallery_scroll"]
        for _ in range(4):  # and back down to the top: the flick may still glide on, so drag until it is there
            x.drag((middle[0], middle[1]), (middle[0], middle[1] + 400))
            with contextlib.suppress(AssertionError):
                kiosk.wait(lambda r: r["gallery_scroll"] == 0, 3, "the gallery back at the top")
                break
        kiosk.wait(lambda r: r["gallery_scroll"] == 0 and not r["gallery_gliding"], 10, "the gallery still at the top")
        assert kiosk.report()["screen"] == "gallery", "a drag is not a tap on a style"
        kiosk.tap("style:starry-night")
        kiosk.wait(lambda r: r["screen"] == "email", 10, "the e-mail screen")
        for char in "ada@example.org":
            kiosk.tap(f"key:{char}")
        kiosk.tap("consent")
        kiosk.wait(lambda r: r["buttons"]["send"][2], 10, "send enabled by the consent")
        kiosk.settle()
        x.screenshot(window_shots / f"{language}-5-email.png")
        kiosk.tap("send")
        kiosk.wait(lambda r: r["screen"] in ("progress", "result"), 30, "progress")
        if kiosk.report()["screen"] == "progress":
            kiosk.settle()
            x.screenshot(window_shots / f"{language}-6-progress.png")
        kiosk.wait(lambda r: r["screen"] == "result", 90, "the result")
        kiosk.settle()
        image = x.screenshot(window_shots / f"{language}-7-result.png")
        assert np.asarray(image).std() > 10  # a real picture, not an empty screen
        kiosk.tap("finish")
        kiosk.wait(lambda r: r["screen"] == "attract", 10, "back to the attract screen")
        assert first["screen"] == "attract"  # it starts on the attract screen, never the PIN pad
        assert first["display"] == [1280, 800]
        assert first["window"] == [0, 0, 1280, 800], "full screen, nothing outside it"
        assert first["minimum"][0] <= 1280 and first["minimum"][1] <= 800, first["minimum"]
        print(f"{language}: the gallery scrolled {scrolled} px under an xdotool drag")
    finally:
        kiosk.stop()
        x.stop()


def test_no_camera_in_a_real_window_says_so_in_german(tmp_path, server, window_shots):
    x = Xvfb(1280, 800).start()
    kiosk = KioskInX(x, tmp_path, server_url=server.url, camera=str(tmp_path / "unplugged.avi"), language="de")
    try:
        kiosk.wait(lambda r: r["styles"] > 0 and r["state"] == "attract", 60, "the attract screen")
        kiosk.settle()
        x.screenshot(window_shots / "de-8-attract-no-camera.png")
        kiosk.tap("start")
        kiosk.wait(lambda r: r["screen"] == "live", 10, "the live screen")
        kiosk.settle()
        image = np.asarray(x.screenshot(window_shots / "de-9-live-no-camera.png"))
        assert kiosk.report()["buttons"]["take"][2] == 0, "Foto aufnehmen is disabled without a camera"
        assert image[200:600, 300:980].std() < 40, "no camera picture (nor an old one): a calm placeholder"
    finally:
        kiosk.stop()
        x.stop()
