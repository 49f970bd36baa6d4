"""The camera as the visitor meets it: the live picture, the countdown and the still that becomes the portrait."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QPixmap

from .camera import Camera
from .config import KioskConfig
from .tasks import UiBridge
from .widgets import rgb_to_pixmap


def portrait_jpeg(frame: np.ndarray, mirror: bool) -> bytes:
    """The photo sent to the server: as the camera saw it, unless the operator asks for it mirrored."""
    portrait = frame[:, ::-1] if mirror else frame
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(portrait)).save(buf, "JPEG", quality=92)
    return buf.getvalue()


class Photographer(QObject):
    """Owns the kiosk's ``camera`` and its timers; given the kiosk's config, the worker bridge and whether the live
    screen shows (frames are drawn only then). Tells the window by its signals: a live ``frame`` (mirrored like a
    looking glass by default), the ``count`` (None: ended or stopped), the ``flash``, the ``photo`` (the JPEG as
    sent, and the picture as the visitor sees it), ``no_photo``, and whether the camera is ``available``."""

    frame = Signal(QPixmap)
    count = Signal(object)
    flash = Signal()
    photo = Signal(bytes, QPixmap)
    no_photo = Signal()
    available = Signal(bool)

    def __init__(self, config: Callable[[], KioskConfig], bridge: UiBridge, live_shown: Callable[[], bool]) -> None:
        super().__init__()
        self.config, self.bridge, self.live_shown = config, bridge, live_shown
        self.frames_shown, self._last_count, self._countdown, self._shot = 0, -1, 0, 0
        self.camera = self._start(config().camera)
        self.preview_timer = QTimer(self, interval=33, timeout=self._show_latest_frame)
        self.preview_timer.start()
        self.count_timer = QTimer(self, interval=1000, timeout=self._tick)

    @property
    def is_available(self) -> bool:
        return self.camera.is_available

    def switch(self, source: str) -> None:
        """Another camera: the old one stops at once, the new one waits for it to let go of the device."""
        old = self.camera
        old.stop()
        self.camera = self._start(source, after=old)

    def fresh_frame(self) -> None:
        """The live screen shows the camera's next frame, never an old one (a new visitor)."""
        self._last_count = -1

    def start_countdown(self) -> None:
        self._shot += 1
        self._countdown = self.config().countdown_s
        self.count.emit(self._countdown)
        self.count_timer.start()

    def stop_countdown(self) -> None:
        """The countdown's state is left: a still still on its way belongs to nobody."""
        self._shot += 1
        self.count_timer.stop()
        self.count.emit(None)

    def stop(self) -> None:
        """Never waits: a camera stuck in its driver must not hang the window."""
        self.preview_timer.stop()
        self.count_timer.stop()
        self.camera.stop()

    def _start(self, source: str, after: Camera | None = None) -> Camera:
        config = self.config()
        camera = Camera(source, config.camera_width, config.camera_height)
        camera.available.connect(self._camera_available, Qt.ConnectionType.QueuedConnection)  # gone with its owner
        self.available.emit(False)
        camera.start(after=after)  # a replaced camera lets go of the device first, on the new camera's thread
        return camera

    def _camera_available(self, camera: Camera, available: bool) -> None:
        if camera is self.camera:  # a stopped camera's last words are not about the current one
            self.available.emit(available)

    def _preview(self, frame: np.ndarray) -> QPixmap:
        return rgb_to_pixmap(frame, mirror=self.config().mirror_preview)

    def _show_latest_frame(self) -> None:
        if not self.live_shown():
            return
        count, frame = self.camera.latest()
        if frame is not None and count != self._last_count and self.camera.is_available:
            self._last_count = count
            self.frame.emit(self._preview(frame))
            self.frames_shown += 1

    def _tick(self) -> None:
        self._countdown -= 1
        if self._countdown > 0:
            self.count.emit(self._countdown)
            return
        self.count_timer.stop()
        self.count.emit(None)
        self.flash.emit()
        shot = self._shot
        self.bridge.run(
            self.camera.still,
            lambda frame: self._got_still(shot, frame),
            lambda exc: self._got_still(shot, None),
            what="taking the photo",
        )

    def _got_still(self, shot: int, frame: np.ndarray | None) -> None:
        if shot != self._shot:  # the visitor has gone (idle): this photo belongs to nobody
            return
        if frame is None:
            self.no_photo.emit()
            return
        self.photo.emit(portrait_jpeg(frame, self.config().mirror_capture), self._preview(frame))
