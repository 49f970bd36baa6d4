"""The visitor's own face in every style: after Keep, the server paints the kept photo at tile size in each style
the gallery offers, and each tile shows its painting as it arrives, over the style's thumbnail.

The thumbnails stay where the server is slow or cannot be reached. The previews are the visitor's face: held in
memory only (never written to disk), and dropped when the visitor's session ends (start over, idle timeout).
"""

from __future__ import annotations

import base64
import logging

from PySide6.QtCore import QObject, Signal

from shared.protocol import PreviewRequest

from .connection import ServerConnection
from .tasks import UiBridge

log = logging.getLogger(__name__)


class GalleryPreviews(QObject):
    """Asks the server, through ``connection`` on the worker ``bridge``, for one photo's previews; ``arrived``
    (style id, JPEG) for each tile of the photo still asked for, never of a previous visitor's."""

    arrived = Signal(str, bytes)

    def __init__(self, bridge: UiBridge, connection: ServerConnection) -> None:
        super().__init__()
        self.bridge, self.connection = bridge, connection
        self.photo: bytes | None = None  # the photo whose previews are asked for or shown (compared by identity)
        self.done = 0  # requests ended (answered in full, or failed): for the operator's log and tests
        self.count = 0  # tiles of the current photo that arrived

    def request(self, photo: bytes, styles: list[str]) -> None:
        """This photo's previews, unless they are asked for already (back from the e-mail screen, or Keep again
        after Back); none without styles or a trusted server: the thumbnails it is."""
        if photo is self.photo:
            return
        self.erase()
        if not styles or self.connection.api is None:
            return
        self.photo = photo
        request = PreviewRequest(styles=styles)
        self.bridge.run(
            lambda: self._fetch(photo, request),
            lambda _: self._ended(photo, len(styles)),
            lambda _exc: self._ended(photo, len(styles)),  # logged by the bridge; the thumbnails stay
            what="painting the gallery's previews",
        )

    def erase(self) -> None:
        """The visitor's session ended (or a new photo was kept): late tiles of theirs are dropped."""
        self.photo, self.count = None, 0

    def _fetch(self, photo: bytes, request: PreviewRequest) -> None:
        """Worker thread: each tile to the UI thread as it arrives; stops reading once the visitor has left."""
        for preview in self.connection.server().previews(photo, request):
            if self.photo is not photo:
                return  # closing the stream stops the server's painting after its current pass
            jpeg = base64.b64decode(preview.jpeg_base64)
            self.bridge.call.emit(lambda s=preview.style, j=jpeg: self.tile(photo, s, j))

    def tile(self, photo: bytes, style_id: str, jpeg: bytes) -> None:
        """A tile of ``photo`` arrived (UI thread)."""
        if self.photo is photo:  # never a tile of a previous visitor's face
            self.count += 1
            self.arrived.emit(style_id, jpeg)

    def _ended(self, photo: bytes, styles: int) -> None:
        self.done += 1
        if self.photo is photo:
            log.info("gallery previews: %d of %d styles", self.count, styles)
