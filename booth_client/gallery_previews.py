"""The visitor's own face in every style: after Keep, the server paints the kept photo at tile size in each style
the gallery offers, and each tile shows its painting as it arrives, over the style's thumbnail.

The thumbnails stay where the server is slow or cannot be reached. The previews are the visitor's face: held in
memory only (never written to disk), and dropped when the visitor's session ends (start over, idle timeout).
"""

from __future__ import annotations

import base64
import logging

from shared.protocol import PreviewRequest

log = logging.getLogger(__name__)


class GalleryPreviews:
    """Mixed into ``BoothWindow``: ``enter_gallery`` (a flow action) asks for the kept photo's previews once,
    ``erase_previews`` forgets them."""

    previews_for: bytes | None  # the photo whose previews are asked for or shown (compared by identity)
    previews_done: int  # preview requests ended (answered in full, or failed): for the operator's log and tests

    def _init_previews(self) -> None:
        self.previews_for, self.previews_done = None, 0

    def enter_gallery(self) -> None:
        """The gallery is shown: ask for this photo's previews, unless they are asked for already (back from the
        e-mail screen, or Keep again after Back)."""
        photo = self.photo_jpeg
        if photo is None or photo is self.previews_for:
            return
        self.erase_previews()
        styles = [style.id for style in self.catalogue.styles]
        if not styles or self.connection.api is None:  # the thumbnails it is
            return
        self.previews_for = photo
        request = PreviewRequest(styles=styles)
        self.bridge.run(
            lambda: self._fetch_previews(photo, request),
            lambda _: self._previews_ended(photo),
            lambda _exc: self._previews_ended(photo),  # logged by the bridge; the thumbnails stay
            what="painting the gallery's previews",
        )

    def _fetch_previews(self, photo: bytes, request: PreviewRequest) -> None:
        """Worker thread: each tile to the UI thread as it arrives; stops reading once the visitor has left."""
        for preview in self.connection.server().previews(photo, request):
            if self.previews_for is not photo:
                return  # closing the stream stops the server's painting after its current pass
            jpeg = base64.b64decode(preview.jpeg_base64)
            self.bridge.call.emit(lambda s=preview.style, j=jpeg: self._preview_arrived(photo, s, j))

    def _preview_arrived(self, photo: bytes, style_id: str, jpeg: bytes) -> None:
        if self.previews_for is photo:  # never a tile of a previous visitor's face
            self.gallery.show_preview(style_id, jpeg)

    def _previews_ended(self, photo: bytes) -> None:
        self.previews_done += 1
        if self.previews_for is photo:
            log.info("gallery previews: %d of %d styles", len(self.gallery.previews), len(self.catalogue.styles))

    def erase_previews(self) -> None:
        """The visitor's session ended (or a new photo was kept): their painted faces are gone from the tiles and
        from memory; late tiles of theirs are dropped."""
        self.previews_for = None
        self.gallery.clear_previews()
