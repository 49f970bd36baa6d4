"""What the operator reaches from the kiosk: the hidden corner that opens the panel, and the panel's tests of
the camera and of the e-mail path."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from pydantic import ValidationError
from PySide6.QtCore import QObject, Signal

from shared.lanes import FAST
from shared.protocol import JobRequest

from .camera import open_capture
from .catalogue import StyleCatalogue
from .config import KioskConfig
from .connection import ServerConnection
from .demo import PORTRAIT
from .tasks import UiBridge

CORNER_TAPS = 5  # taps on the attract screen's top-left corner that open the panel
CORNER_WINDOW_S = 3.0  # ... all within this many seconds, so a visitor does not open it by chance


class CornerTaps:
    """Counts the corner taps of the last few seconds."""

    def __init__(self) -> None:
        self._taps: list[float] = []

    def tap(self) -> bool:
        """True when this tap completes the gesture (which then starts over)."""
        now = time.monotonic()
        self._taps = [t for t in self._taps if now - t < CORNER_WINDOW_S] + [now]
        if len(self._taps) < CORNER_TAPS:
            return False
        self._taps = []
        return True


def probe_camera(source: str) -> tuple[str, dict[str, object]]:
    """Open the camera on its own (not the kiosk's) and say what it gives, as a panel text id and its values
    (runs on a worker thread)."""
    capture = open_capture(source, 640, 480)
    if capture is None:
        return "panel.camera_missing", {"source": source}
    ok, frame = capture.read()
    capture.release()
    if not ok:
        return "panel.camera_blank", {"source": source}
    return "panel.camera_works", {
        "source": source,
        "width": frame.shape[1],
        "height": frame.shape[0],
    }


class PanelTests(QObject):
    """The operator panel's tests of the camera and of the e-mail path; given the kiosk's config, the worker
    bridge, the server connection and the catalogue. Each answer is ``said`` (a panel text id and its values)."""

    said = Signal(str, dict)

    def __init__(
        self,
        config: Callable[[], KioskConfig],
        bridge: UiBridge,
        connection: ServerConnection,
        catalogue: StyleCatalogue,
    ) -> None:
        super().__init__()
        self.config, self.bridge, self.connection, self.catalogue = config, bridge, connection, catalogue

    def test_camera(self, source: str) -> None:
        self.bridge.run(
            lambda: probe_camera(source),
            lambda said: self.said.emit(*said),
            lambda exc: self.said.emit("panel.camera_failed", {"source": source, "why": exc}),
            what="testing the camera",
        )

    def test_email(self, address: str) -> None:
        """A real job (the demo portrait, the first style) to ``address``: the whole path to a mailbox."""
        if not self.catalogue.styles:
            self.said.emit("panel.no_styles", {})
            return
        try:
            request = JobRequest(
                style=self.catalogue.styles[0].id,
                method=FAST.method,
                email=address,
                consent=True,
                language=self.config().language,
            )
        except ValidationError:
            self.said.emit("panel.bad_address", {})
            return
        photo = PORTRAIT.read_bytes()
        self.bridge.run(
            lambda: self.connection.server().submit(photo, request, str(uuid.uuid4())),
            lambda job: self.said.emit("panel.test_sent", {"id": job.id}),
            lambda exc: self.said.emit("panel.test_failed", {"why": exc}),
            what="sending a test e-mail",
        )
