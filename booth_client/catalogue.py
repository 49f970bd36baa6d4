"""The style catalogue: loaded from the server, refreshed, kept on disk for a kiosk that starts offline."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from shared.protocol import StyleInfo, StyleList

from .config import KioskConfig
from .connection import ServerConnection
from .tasks import UiBridge

STYLES_BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # seconds between attempts to load the catalogue
log = logging.getLogger(__name__)
Loaded = tuple[StyleList, dict[str, bytes]]  # the listing and each style's thumbnail


class StyleCache:
    """The last catalogue heard, as files: ``styles.json`` (with the retention) and one ``<id>.jpg`` per style."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.index = folder / "styles.json"

    def thumbnail(self, style_id: str) -> Path:
        return self.folder / f"{style_id}.jpg"  # ids are strict slugs (validated), safe as file names

    def save(self, listing: StyleList, thumbs: dict[str, bytes]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for style_id, data in thumbs.items():
            self.thumbnail(style_id).write_bytes(data)
        self.index.write_text(listing.model_dump_json())  # also keeps retention_hours

    def load(self, retention_unknown: float) -> Loaded | None:
        """The cached catalogue, or None when there is none or it is unusable (logged)."""
        if not self.index.is_file():
            return None
        try:
            data = json.loads(self.index.read_text())
            data.setdefault("retention_hours", retention_unknown)  # a cache from older kiosks
            listing = StyleList.model_validate(data)
        except (OSError, ValueError) as exc:
            log.warning("the style cache %s is unusable: %s", self.index, exc)
            return None
        thumbs = {s.id: p.read_bytes() for s in listing.styles if (p := self.thumbnail(s.id)).is_file()}
        return listing, thumbs

    def retention(self, default: float) -> float:
        """The server's retention as last heard, else ``default``."""
        try:
            return float(json.loads(self.index.read_text())["retention_hours"])
        except (OSError, ValueError, KeyError, TypeError):
            return default


class StyleCatalogue(QObject):
    """The server's catalogue as the kiosk knows it: the styles it offers (in the operator's order), their
    thumbnails, the lanes' waits and the retention the server promises. Loaded through ``connection`` on the
    worker ``bridge``, again every ``catalogue_refresh_s`` and after a failure sooner, with growing pauses (a kiosk
    started before its server fills its gallery on its own); the last one heard is kept on disk for a kiosk that
    starts offline. ``shown`` says there is a catalogue to show (True: new tiles; False: only the waits moved),
    ``answered`` whether the server answered this time."""

    shown = Signal(bool)
    answered = Signal(bool)

    def __init__(self, config: Callable[[], KioskConfig], bridge: UiBridge, connection: ServerConnection) -> None:
        super().__init__()
        self.config, self.bridge, self.connection = config, bridge, connection
        self.styles: list[StyleInfo] = []
        self.thumbnails: dict[str, bytes] = {}
        self.offered: list[StyleInfo] = []  # every style the server offers, enabled or not (operator panel)
        self.eta: dict[str, float] = {}
        self.attempt, self.loads, self._loading = 0, 0, False
        self.server_reached = False  # the last word from the server came back
        # the e-mail screen promises the retention before the server answers: the last heard, else the safe default
        self.retention_hours = self.cache.retention(config().retention_hours_unknown)
        self.timer = QTimer(self, singleShot=True, timeout=self.load)

    @property
    def cache(self) -> StyleCache:
        return StyleCache(self.config().data_dir / "styles-cache")  # follows the configured data folder

    def load(self) -> None:
        """Ask the server for the catalogue and its current waits (one request at a time)."""
        self.timer.stop()
        if self._loading:
            return
        self._loading = True
        self.bridge.run(self._fetch, self._loaded, self._failed, what="loading the styles from the server")

    def stop(self) -> None:
        self.timer.stop()

    def _loaded(self, loaded: Loaded) -> None:
        self._loading, self.attempt = False, 0
        self.loads += 1
        self.server_reached = True
        self._show(loaded)
        self.answered.emit(True)
        self.timer.start(round(self.config().catalogue_refresh_s * 1000))

    def _failed(self, exc: Exception) -> None:
        self._loading = False
        self.connection.refused(exc)
        self.server_reached = False
        if not self.styles:  # nothing shown yet: the last catalogue heard is better than an empty gallery
            self._show(self._cached())
        self.answered.emit(False)
        refresh = self.config().catalogue_refresh_s
        pause = min(STYLES_BACKOFF[min(self.attempt, len(STYLES_BACKOFF) - 1)], refresh)
        self.attempt += 1
        self.timer.start(round(pause * 1000))

    def _fetch(self) -> Loaded:
        """Worker thread: the listing, and the thumbnails not already held (saved so an offline start has them)."""
        api = self.connection.server()
        listing = api.styles()
        known = dict(self.thumbnails)
        fetched = {s.id: api.thumbnail(s.thumbnail_url) for s in listing.styles if not known.get(s.id)}
        self.cache.save(listing, fetched)  # the known thumbnails are on disk already
        return listing, {s.id: known.get(s.id) or fetched[s.id] for s in listing.styles}

    def _cached(self) -> Loaded:
        cached = self.cache.load(self.config().retention_hours_unknown)
        return cached or (StyleList(styles=[], retention_hours=self.retention_hours), {})

    def _show(self, loaded: Loaded) -> None:
        listing, thumbs = loaded
        self.retention_hours = listing.retention_hours
        by_id = {s.id: s for s in listing.styles}
        order = [i for i in self.config().styles if i in by_id] or list(by_id)
        styles, self.eta = [by_id[i] for i in order], listing.eta_seconds
        offered_before = [s.id for s in self.offered]
        same = (styles, thumbs.keys(), list(by_id)) == (self.styles, self.thumbnails.keys(), offered_before)
        if same and styles:  # a refresh with the same catalogue: only the waits change, the tiles stay
            self.shown.emit(False)
            return
        self.styles, self.thumbnails, self.offered = styles, thumbs, listing.styles
        self.shown.emit(True)

    def available(self, style_id: str, method: str) -> bool:
        return any(s.id == style_id and method in s.methods for s in self.styles)
