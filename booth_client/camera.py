"""Camera capture on a worker thread, with a supervisor that reconnects on its own.

The source is a webcam index ("0"), a stream URL or a video file: tests and demos use a file, opened
through the very same ``cv2.VideoCapture`` path as a webcam. Files loop and play at their own frame rate.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QObject, Signal

BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0)


def open_capture(source: str, width: int, height: int) -> cv2.VideoCapture | None:
    capture = cv2.VideoCapture(int(source)) if source.isdigit() else cv2.VideoCapture(source)
    if not capture.isOpened():
        capture.release()
        return None
    capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
    capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
    capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    return capture


class Camera(QObject):
    """Captures continuously; ``latest()`` feeds the preview, ``still()`` the photo, ``available`` the UI."""

    available = Signal(bool)

    def __init__(self, source: str, width: int = 1280, height: int = 720, mirror: bool = True) -> None:
        super().__init__()
        self.source, self.width, self.height, self.mirror = source, width, height, mirror
        self._latest: np.ndarray | None = None
        self._lock = threading.Lock()
        self._new_frame = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.is_available = False
        self.frames_seen = 0

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._supervise, name="camera", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)

    def latest(self) -> tuple[int, np.ndarray | None]:
        """(frame counter, newest frame): the preview polls this, so a slow UI never queues up frames."""
        with self._lock:
            return self.frames_seen, self._latest

    def still(self, timeout: float = 2.0) -> np.ndarray | None:
        """A frame exposed after this call: the first new one may have waited in the driver's buffer,
        so the second is taken."""
        with self._new_frame:
            start = self.frames_seen
            if not self._new_frame.wait_for(lambda: self.frames_seen >= start + 2, timeout):
                return None
            return self._latest.copy()

    # -- worker thread ------------------------------------------------------------------------------

    def _supervise(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            capture = open_capture(self.source, self.width, self.height)
            if capture is None:
                self._set_available(False)
                self._stop.wait(BACKOFF[min(attempt, len(BACKOFF) - 1)])
                attempt += 1
                continue
            attempt = 0
            self._read_until_failure(capture)
            capture.release()
            self._set_available(False)

    def _read_until_failure(self, capture: cv2.VideoCapture) -> None:
        is_file = Path(self.source).is_file()
        fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
        period = 1.0 / fps if is_file and fps > 0 else 0.0
        failures = 0
        while not self._stop.is_set():
            started = time.monotonic()
            ok, bgr = capture.read()
            if not ok and is_file and capture.get(cv2.CAP_PROP_POS_FRAMES) > 0:
                capture.set(cv2.CAP_PROP_POS_FRAMES, 0)  # a demo video loops
                continue
            if not ok:
                failures += 1
                if failures >= 5:  # unplugged
                    return
                time.sleep(0.05)
                continue
            failures = 0
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            if self.mirror:
                rgb = rgb[:, ::-1].copy()
            with self._new_frame:
                self._latest = rgb
                self.frames_seen += 1
                self._new_frame.notify_all()
            self._set_available(True)
            if period:
                time.sleep(max(0.0, period - (time.monotonic() - started)))

    def _set_available(self, value: bool) -> None:
        if value != self.is_available:
            self.is_available = value
            self.available.emit(value)
