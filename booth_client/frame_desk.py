"""The event frame in the kiosk: what the operator set in the panel goes to the server when saved (the server
keeps it and lays it over every portrait it mails, offers for download or sends back for printing), and the
panel previews it on the kiosk's demo portrait as the server draws it.

The kiosk's settings keep the frame the server last accepted from it: a frame the server refuses (or cannot
be sent) is taken back out of the saved settings, and the server keeps the one it had.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import QObject, Signal

from shared.protocol import FRAME_MAX_BYTES, FrameInfo, FrameSettings, describe

from .api import RequestRejected, ServerApi
from .config import FRAME_FIELDS, KioskConfig
from .connection import ServerConnection
from .demo import PORTRAIT
from .tasks import UiBridge

log = logging.getLogger(__name__)


class FrameFileError(ValueError):
    """A frame the kiosk cannot even send: a file that cannot be read, or is far too large."""


@dataclass(frozen=True)
class FrameRequest:
    """A frame as sent: its settings and its files (``overlay``, ``logo``) as httpx multipart parts."""

    settings: FrameSettings
    files: dict[str, tuple[str, bytes, str]]

    @property
    def empty(self) -> bool:
        return not self.files and not self.settings.text


def frame_values(source: KioskConfig | Mapping[str, Any]) -> dict[str, Any]:
    """The frame's settings, from saved settings or from the panel's fields."""
    if isinstance(source, KioskConfig):
        return {name: getattr(source, name) for name in FRAME_FIELDS}
    return {name: source[name] for name in FRAME_FIELDS}


def frame_request(values: Mapping[str, Any]) -> FrameRequest:
    """The frame the ``frame_*`` settings describe, with its files read (``FrameFileError`` if they cannot be)."""
    try:
        settings = FrameSettings(
            text=values["frame_text"], colour=values["frame_colour"], text_colour=values["frame_text_colour"]
        )
    except ValidationError as exc:
        raise FrameFileError(describe(exc)) from None
    files = {}
    for part, name in (("overlay", "frame_image"), ("logo", "frame_logo")):
        if values[name]:
            files[part] = _file_part(Path(values[name]).expanduser())
    return FrameRequest(settings, files)


def _file_part(path: Path) -> tuple[str, bytes, str]:
    try:
        if path.stat().st_size > FRAME_MAX_BYTES:
            raise FrameFileError(f"{path} is larger than {FRAME_MAX_BYTES // 1_000_000} MB")
        data = path.read_bytes()
    except OSError as exc:
        raise FrameFileError(f"{path} cannot be read ({exc.strerror or exc})") from None
    return path.name, data, mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def send_frame(api: ServerApi, request: FrameRequest) -> FrameInfo | None:
    """Worker thread: the server keeps this frame (or, an empty one, none); it says why not if it refuses."""
    if request.empty:
        api.remove_frame()
        return None
    return api.set_frame(request.settings, request.files)


def preview_frame(api: ServerApi, request: FrameRequest) -> bytes | None:
    """Worker thread: the demo portrait in the frame, as the server draws it; None without a frame."""
    if request.empty:
        return None
    return api.frame_preview(request.settings, request.files, PORTRAIT.read_bytes())


class FrameDesk(QObject):
    """The operator panel's event frame and its trip to the server; given the worker bridge, the server connection
    and the frame as the panel holds it now (saved or not). Tells the panel what happened (``said``: a text id and
    its values) and the preview (``previewed``: JPEG, or None without a frame); ``refused`` hands back the settings
    from before a save whose frame the server refused, so the kiosk keeps the frame the server still has."""

    said = Signal(str, dict)
    previewed = Signal(object)
    refused = Signal(object)  # KioskConfig

    def __init__(
        self, bridge: UiBridge, connection: ServerConnection, panel_values: Callable[[], Mapping[str, Any]]
    ) -> None:
        super().__init__()
        self.bridge, self.connection, self.panel_values = bridge, connection, panel_values
        bridge.expected = (*bridge.expected, FrameFileError, RequestRejected)  # one line in the log
        self._to_send: tuple[KioskConfig, KioskConfig] | None = None  # (as it was, as saved)

    def saved(self, previous: KioskConfig, config: KioskConfig) -> None:
        """The operator saved the panel: a changed frame goes to the server once the connection is decided."""
        if frame_values(previous) != frame_values(config):
            self._to_send = (previous, config)

    def send_saved(self) -> None:
        """The connection is decided (``ServerConnection.decided``): send the frame saved meanwhile, if any."""
        if self._to_send is None:
            return
        previous, config = self._to_send
        self._to_send = None
        self.said.emit("frame.sending", {})

        def work() -> FrameInfo | None:
            return send_frame(self.connection.server(), frame_request(frame_values(config)))

        def sent(info: FrameInfo | None) -> None:
            self.said.emit("frame.removed" if info is None else "frame.set", {})
            self.preview()

        def refused(exc: Exception) -> None:
            self.refused.emit(previous)
            self.said.emit("frame.refused", {"why": _sentence(exc)})

        self.bridge.run(work, sent, refused, what="sending the event frame")

    def preview(self) -> None:
        """The frame in the panel's fields (saved or not) on the demo portrait, drawn by the server."""
        values = frame_values(self.panel_values())

        def work() -> bytes | None:
            return preview_frame(self.connection.server(), frame_request(values))

        def failed(exc: Exception) -> None:
            self.previewed.emit(None)
            self.said.emit("frame.no_preview", {"why": _sentence(exc)})

        self.bridge.run(work, self.previewed.emit, failed, what="previewing the event frame")


def _sentence(exc: Exception) -> str:
    """A reason as a sentence: the server's and the kiosk's reasons start lowercase and end without a stop."""
    text = str(exc).strip() or type(exc).__name__
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")
