"""The style catalogue: loaded from the server, refreshed, kept on disk for a kiosk that starts offline."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from shared.protocol import StyleInfo, StyleList

from .demo import PORTRAIT
from .i18n import tr

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


class StyleCatalogue:
    """Mixed into ``BoothWindow``: keeps ``styles``, ``thumbnails``, ``eta`` and ``retention_hours`` current and
    shows them on the gallery, attract, e-mail and operator screens."""

    styles: list[StyleInfo]
    thumbnails: dict[str, bytes]
    catalogue_ids: list[str]  # every style the server offers, enabled or not (operator panel)
    eta: dict[str, float]

    def _init_catalogue(self) -> None:
        self.styles, self.thumbnails, self.catalogue_ids, self.eta = [], {}, [], {}
        self.styles_attempt, self.catalogue_loads, self._loading_styles = 0, 0, False
        self.server_reached = False  # the last word from the server came back (the catalogue's load)

    @property
    def style_cache(self) -> StyleCache:
        return StyleCache(self.config.data_dir / "styles-cache")  # follows the configured data folder

    def _known_retention(self) -> float:
        """The server's retention as last heard (kept in the style cache), else the safe default."""
        return self.style_cache.retention(self.config.retention_hours_unknown)

    def load_styles(self) -> None:
        """Ask the server for the catalogue and its current waits; again every ``catalogue_refresh_s``, and after
        a failure sooner, with growing pauses (a kiosk started before its server fills its gallery on its own)."""
        self.styles_timer.stop()
        if self._loading_styles:
            return
        self._loading_styles = True
        self.bridge.run(
            self._fetch_styles, self._styles_loaded, self._styles_failed, what="loading the styles from the server"
        )

    def _styles_loaded(self, loaded: Loaded) -> None:
        self._loading_styles, self.styles_attempt = False, 0
        self.catalogue_loads += 1
        self.server_reached = True
        self._show_styles(loaded)
        self._show_availability()
        self.styles_timer.start(round(self.config.catalogue_refresh_s * 1000))

    def _styles_failed(self, exc: Exception) -> None:
        self._loading_styles = False
        self.connection.refused(exc)
        self.server_reached = False
        if not self.styles:  # nothing shown yet: the last catalogue heard is better than an empty gallery
            self._show_styles(self._cached_styles())
        self._show_availability()
        pause = min(STYLES_BACKOFF[min(self.styles_attempt, len(STYLES_BACKOFF) - 1)], self.config.catalogue_refresh_s)
        self.styles_attempt += 1
        self.styles_timer.start(round(pause * 1000))

    def _fetch_styles(self) -> Loaded:
        """Worker thread: the listing, and the thumbnails not already held (saved so an offline start has them)."""
        api = self.connection.server()
        listing = api.styles()
        known = dict(self.thumbnails)
        fetched = {s.id: api.thumbnail(s.thumbnail_url) for s in listing.styles if not known.get(s.id)}
        self.style_cache.save(listing, fetched)  # the known thumbnails are on disk already
        return listing, {s.id: known.get(s.id) or fetched[s.id] for s in listing.styles}

    def _cached_styles(self) -> Loaded:
        cached = self.style_cache.load(self.config.retention_hours_unknown)
        return cached or (StyleList(styles=[], retention_hours=self.retention_hours), {})

    def _show_styles(self, loaded: Loaded) -> None:
        listing, thumbs = loaded
        self.retention_hours = listing.retention_hours
        self.email.set_retention(listing.retention_hours)
        by_id = {s.id: s for s in listing.styles}
        order = [i for i in self.config.styles if i in by_id] or list(by_id)
        styles, self.eta = [by_id[i] for i in order], listing.eta_seconds
        same = (styles, thumbs.keys(), list(by_id)) == (self.styles, self.thumbnails.keys(), self.catalogue_ids)
        if same and styles:  # a refresh with the same catalogue: only the waits change, the tiles stay
            self.gallery.set_eta(self.eta)
            return
        self.styles, self.thumbnails, self.catalogue_ids = styles, thumbs, list(by_id)
        language = self.config.language  # the panel names the styles in the kiosk's language too
        self.operator.set_styles([(s.id, s.names.get(language) or s.name) for s in listing.styles], self.config.styles)
        self._fill_screens()

    def _fill_screens(self) -> None:
        """The styles on the visitor's screens (after a new catalogue, or screens rebuilt in another language)."""
        self.gallery.set_styles(self.styles, self.thumbnails)  # keeps the visitor's method
        self.gallery.set_eta(self.eta)
        self.gallery.say("" if self.styles else tr("no_styles", self.config.language))
        samples = [self.thumbnails[s.id] for s in self.styles if s.id in self.thumbnails]
        self.attract.set_samples(samples or [PORTRAIT.read_bytes()])
        self._show_availability()
