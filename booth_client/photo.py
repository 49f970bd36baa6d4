"""The camera side of the kiosk: the live preview, the countdown's end, the still that becomes the portrait."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap

from .camera import Camera
from .i18n import tr
from .widgets import rgb_to_pixmap


def portrait_jpeg(frame: np.ndarray, mirror: bool) -> bytes:
    """The photo sent to the server: as the camera saw it, unless the operator asks for it mirrored."""
    portrait = frame[:, ::-1] if mirror else frame
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(portrait)).save(buf, "JPEG", quality=92)
    return buf.getvalue()


class CameraHandling:
    """Mixed into ``BoothWindow``: runs its ``camera`` and shows it on the ``live`` and ``review`` screens."""

    camera: Camera

    def _start_camera(self, source: str, after: Camera | None = None) -> Camera:
        camera = Camera(source, self.config.camera_width, self.config.camera_height)
        camera.available.connect(self._camera_available, Qt.ConnectionType.QueuedConnection)  # gone with the window
        self._camera_changed(False)
        camera.start(after=after)  # a replaced camera lets go of the device first, on the new camera's thread
        return camera

    def _camera_available(self, camera: Camera, available: bool) -> None:
        if camera is self.camera:  # a stopped camera's last words are not about the current one
            self._camera_changed(available)

    def _camera_changed(self, available: bool) -> None:
        """The camera came or went. Gone: no stale frame on screen, no photo, no countdown."""
        self.live.set_camera_available(available)
        if not available:
            self.live.clear_picture()  # the last frame may show the previous visitor
            self.flow.fire("camera_lost")  # a countdown stops (other states ignore it)
        self._show_availability(available)

    def _preview(self, frame: np.ndarray) -> QPixmap:
        """What the visitor sees: mirrored by default, as in a looking glass."""
        return rgb_to_pixmap(frame, mirror=self.config.mirror_preview)

    def _show_latest_frame(self) -> None:
        if self.current() != "live":
            return
        count, frame = self.camera.latest()
        if frame is not None and count != self._last_count and self.camera.is_available:
            self._last_count = count
            self.live.show_frame(self._preview(frame))
            self.preview_frames += 1

    def _tick(self) -> None:
        self._countdown -= 1
        if self._countdown > 0:
            self.live.show_count(self._countdown)
            return
        self.count_timer.stop()
        self.live.show_count(None)
        self.live.do_flash()
        self.bridge.run(self.camera.still, self._got_still, lambda exc: self._still_failed(), what="taking the photo")

    def _got_still(self, frame: np.ndarray | None) -> None:
        if self.flow.state != "countdown":  # the visitor has gone (idle): this photo belongs to nobody
            return
        if frame is None:
            self._still_failed()
            return
        self.photo_jpeg = portrait_jpeg(frame, self.config.mirror_capture)
        self.review.show_frame(self._preview(frame))
        self.flow.fire("photo")

    def _still_failed(self) -> None:
        if self.flow.fire("no_photo") and self.camera.is_available:
            self.live.say(tr("photo_failed", self.config.language))
