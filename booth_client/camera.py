"""Camera capture on a worker thread, with a supervisor that reconnects on its own.

The source is a webcam index ("0"), a stream URL or a video file: tests and demos use a file, opened
through the very same ``cv2.VideoCapture`` path as a webcam. Files loop and play at their own frame rate.
Frames are kept exactly as the camera sees them: mirroring is a matter of display (see the kiosk's
``mirror_preview`` and ``mirror_capture`` settings), never of what is stored.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QObject, Signal

BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0)
log = logging.getLogger(__name__)


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
    """Captures continuously; ``latest()`` feeds the preview, ``still()`` the photo, ``available`` the UI.

    ``stop()`` never blocks: a capture stuck in a driver (or a stalled stream) is told to stop and left to
    finish on its own thread. A later ``start()`` waits, on its new thread, for the old one to let go of
    the device, and an old thread never writes frames again once told to stop.
    """

    available = Signal(object, bool)  # (this camera, available): a listener can tell a replaced camera apart

    def __init__(self, source: str, width: int = 1280, height: int = 720) -> None:
        super().__init__()
        self.source, self.width, self.height = source, width, height
        self._latest: np.ndarray | None = None
        self._lock = threading.Lock()
        self._new_frame = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.is_available = False
        self.frames_seen = 0

    def start(self, after: Camera | None = None) -> None:
        """Start capturing; ``after``: a stopped camera on the same device whose thread must end first."""
        previous = [t for t in (self._thread, after._thread if after else None) if t is not None]
        self._stop = stop = threading.Event()  # each run has its own flag: an old thread keeps seeing its own
        self._thread = threading.Thread(target=self._run, args=(stop, previous), name="camera", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Tell the capture thread to end and return at once (the thread releases the device when it can)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the capture thread to end (never on the UI thread): True if it has."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self._thread is None or not self._thread.is_alive()

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

    def _run(self, stop: threading.Event, previous: list[threading.Thread]) -> None:
        for thread in previous:  # the old capture must let go of the device before this one opens it
            while thread.is_alive() and not stop.is_set():
                thread.join(0.2)
        attempt = 0
        while not stop.is_set():
            try:
                attempt = self._supervise_once(stop, attempt)
            except Exception:  # never die silently: log it, say so, and try again
                log.exception("camera %r failed", self.source)
                self._set_available(False, stop)
                stop.wait(BACKOFF[-1])
        self._set_available(False, stop)

    def _supervise_once(self, stop: threading.Event, attempt: int) -> int:
        capture = open_capture(self.source, self.width, self.height)
        if capture is None:
            if attempt == 0:  # once per outage, not once per retry
                log.warning("camera %r: cannot be opened; retrying with growing pauses", self.source)
            self._set_available(False, stop)
            stop.wait(BACKOFF[min(attempt, len(BACKOFF) - 1)])
            return attempt + 1
        try:
            self._read_until_failure(capture, stop)
        finally:
            capture.release()
        self._set_available(False, stop)
        return 0

    def _read_until_failure(self, capture: cv2.VideoCapture, stop: threading.Event) -> None:
        is_file = Path(self.source).is_file()
        fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
        period = 1.0 / fps if is_file and fps > 0 else 0.0
        failures = 0
        while not stop.is_set():
            started = time.monotonic()
            ok, bgr = capture.read()
            if not ok and is_file and capture.get(cv2.CAP_PROP_POS_FRAMES) > 0:
                capture.set(cv2.CAP_PROP_POS_FRAMES, 0)  # a demo video loops
                continue
            if not ok:
                failures += 1
                if failures >= 5:  # unplugged
                    return
                stop.wait(0.05)
                continue
            failures = 0
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)  # as the camera sees it: never mirrored here
            with self._new_frame:
                if stop.is_set():  # told to stop while reading: this frame belongs to nobody
                    return
                self._latest = rgb
                self.frames_seen += 1
                self._new_frame.notify_all()
            self._set_available(True, stop)
            if period:
                stop.wait(max(0.0, period - (time.monotonic() - started)))

    def _set_available(self, value: bool, stop: threading.Event) -> None:
        if stop is not self._stop:  # an old thread no longer speaks for this camera
            return
        if value != self.is_available:
            self.is_available = value
            if value:
                log.info("camera %r: picture back", self.source)
            elif not stop.is_set():  # lost, not stopped on purpose: the operator reads why the booth waits
                log.warning("camera %r: no picture (unplugged or stalled); reconnecting", self.source)
            if not stop.is_set():  # a stopped camera has nobody left to tell (its window may be gone)
                self.available.emit(self, value)
