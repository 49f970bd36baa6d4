"""What the operator reaches from the kiosk: the hidden corner that opens the panel, and the panel's tests of
the camera and of the e-mail path."""

from __future__ import annotations

import time
import uuid

from pydantic import ValidationError

from shared.lanes import FAST
from shared.protocol import JobRequest

from .camera import open_capture
from .demo import PORTRAIT

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


class OperatorTools:
    """Mixed into ``BoothWindow``: answers the operator panel's test buttons on its status line."""

    def _test_camera(self, source: str) -> None:
        self.bridge.run(
            lambda: probe_camera(source),
            lambda said: self.operator.show_status(said[0], **said[1]),
            lambda exc: self.operator.show_status("panel.camera_failed", source=source, why=exc),
            what="testing the camera",
        )

    def _test_email(self, address: str) -> None:
        """A real job (the demo portrait, the first style) to ``address``: the whole path to a mailbox."""
        if not self.catalogue.styles:
            self.operator.show_status("panel.no_styles")
            return
        try:
            request = JobRequest(
                style=self.catalogue.styles[0].id,
                method=FAST.method,
                email=address,
                consent=True,
                language=self.config.language,
            )
        except ValidationError:
            self.operator.show_status("panel.bad_address")
            return
        photo = PORTRAIT.read_bytes()
        self.bridge.run(
            lambda: self.connection.server().submit(photo, request, str(uuid.uuid4())),
            lambda job: self.operator.show_status("panel.test_sent", id=job.id),
            lambda exc: self.operator.show_status("panel.test_failed", why=exc),
            what="sending a test e-mail",
        )
