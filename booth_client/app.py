"""The kiosk window: its screens and timers, the wiring between them, and the actions of the visitor's flow
(``flow.py`` says when each runs). The work behind them lives beside it. Components, given what they need and
telling the window by their signals: the server and its trust (``connection.py``: ``ServerConnection``), the style
catalogue (``catalogue.py``: ``StyleCatalogue``), the camera with its countdown and still (``photo.py``:
``Photographer``), the gallery's previews of the visitor's face (``gallery_previews.py``), the panel's tests of
the camera and the mail (``operator_tools.py``: ``PanelTests``), printing (``print_desk.py``: ``PrintDesk``), the
event frame (``frame_desk.py``: ``FrameDesk``), ordering a painting (``ordering.py``: ``Orders``). The window
composes them; the flow finds every action on it."""

from __future__ import annotations

import base64
import logging
import signal
import sys
import uuid
from functools import partial
from pathlib import Path

from pydantic import ValidationError
from PySide6.QtCore import QEvent, QObject, QSize, QTimer
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QApplication, QMainWindow, QStackedWidget

from shared.protocol import JobCreated, JobEvent, JobOptions, JobRequest

from .api import RequestRejected, ServerUnavailable
from .catalogue import StyleCatalogue
from .config import DEFAULT_FILE, FRAME_FIELDS, KioskConfig
from .connection import ServerConnection
from .demo import PORTRAIT
from .flow import TOUCHES, Flow
from .frame_desk import FrameDesk, frame_values
from .gallery_previews import GalleryPreviews
from .i18n import tr
from .operator import OperatorScreen
from .operator_tools import CornerTaps, PanelTests
from .ordering import Orders
from .outbox import RequestOutbox
from .photo import Photographer
from .print_desk import PrintDesk
from .screens import (
    AttractScreen,
    EmailScreen,
    GalleryScreen,
    LiveScreen,
    ProgressScreen,
    ResultScreen,
    ReviewScreen,
)
from .tasks import UiBridge
from .trust import TrustStore
from .widgets import STYLE_SHEET

log = logging.getLogger(__name__)


class BoothWindow(QMainWindow):
    """The kiosk. ``Flow`` calls its actions by name (``enter_live``, ``request_ready``...): they are here. The
    components built in ``_init_parts`` do the work behind them and tell the window by signals."""

    def __init__(self, config: KioskConfig, config_path: Path = DEFAULT_FILE, outbox_every_s: float = 5.0) -> None:
        super().__init__()
        if not config.operator_pin:  # first start: a random PIN, never a documented default
            config = config.with_first_pin()
            config.save(config_path)
            log.warning(
                "operator PIN made on first start: %s (tap the top-left corner 5 times; the panel asks to change it)",
                config.operator_pin,
            )
        self.config, self.config_path = config, config_path
        self.setWindowTitle("Portrait Booth")
        self.setStyleSheet(STYLE_SHEET)
        self._init_parts()
        self._init_visit()
        self.flow = Flow(self, idle_ms=lambda: self.config.idle_timeout_s * 1000)
        self._build_screens()
        self.photographer = Photographer(lambda: self.config, self.bridge, lambda: self.current() == "live")
        self._wire_photographer()
        self._start_timers(outbox_every_s)
        QApplication.instance().installEventFilter(self)  # any touch anywhere restarts the idle timeout
        self.flow.start()  # the attract screen, always (never the operator's PIN pad)
        self.connection.connect_to(self.config)

    # -- construction ---------------------------------------------------------------------------------

    def _init_parts(self) -> None:
        """What outlives visitors: the worker bridge, the server's trust, the outbox, the catalogue."""
        self.bridge = UiBridge()
        self.bridge.expected = (ServerUnavailable, RequestRejected)  # logged in one line, not as tracebacks
        self.connection = ServerConnection(self.bridge, TrustStore(self.config.data_dir))
        self.outbox = RequestOutbox(self.config.outbox_dir)
        self.catalogue = StyleCatalogue(lambda: self.config, self.bridge, self.connection)
        self.previews = GalleryPreviews(self.bridge, self.connection)
        self.panel_tests = PanelTests(lambda: self.config, self.bridge, self.connection, self.catalogue)
        self.corner_taps = CornerTaps()
        self.print_desk = PrintDesk(
            lambda: self.config,
            self.bridge,
            asked=lambda: (self.operator.field_value("print_server"), self.operator.print_panel.chosen()),
        )
        self.frame_desk = FrameDesk(
            self.bridge, self.connection, lambda: {name: self.operator.field_value(name) for name in FRAME_FIELDS}
        )
        self.orders = Orders(
            lambda: self.config, self.bridge, self.connection, self.catalogue, self.outbox, self.print_desk.spool
        )

    def _init_visit(self) -> None:
        """What belongs to one visitor (``enter_attract`` clears it), and the live screen's counters."""
        self.photo_jpeg: bytes | None = None
        self.choice: tuple[str, str] | None = None
        self.last_request: tuple[JobRequest, str] | None = None
        self._shown_address = ""
        self._download_job: JobCreated | None = None  # the job whose download link the result screen shows

    def _start_timers(self, outbox_every_s: float) -> None:
        self.outbox_timer = QTimer(self, interval=int(outbox_every_s * 1000), timeout=self.orders.flush)
        self.outbox_timer.start()
        self.address_timer = QTimer(self, singleShot=True, timeout=self._hide_address)

    def _timers(self) -> tuple[QTimer, ...]:
        return (
            self.outbox_timer,
            self.address_timer,
        )

    def _build_screens(self) -> None:
        self.stack = QStackedWidget()
        self.setCentralWidget(self.stack)
        self.operator = OperatorScreen(self.config)
        self.stack.addWidget(self.operator)
        self.operator.saved.connect(self.apply_config)
        self.operator.retry_outbox.connect(self.orders.flush)
        self.operator.test_camera.connect(self.panel_tests.test_camera)
        self.operator.test_email.connect(self.panel_tests.test_email)
        self.panel_tests.said.connect(lambda text_id, values: self.operator.show_status(text_id, **values))
        self.operator.quit_kiosk.connect(self._leave_kiosk)
        self.operator.trust_server.connect(self._trust_offered)
        self.connection.news.connect(
            lambda text_id, offered, values: self.operator.show_connection(text_id, offered, **values)
        )
        self.connection.decided.connect(self._server_decided)
        self.catalogue.shown.connect(self._catalogue_shown)
        self.catalogue.answered.connect(lambda _answered: self._show_availability())
        self.previews.arrived.connect(lambda style_id, jpeg: self.gallery.show_preview(style_id, jpeg))
        self._wire_printing()
        self._wire_orders()
        self._wire_frame()
        self._build_visitor_screens()

    def _visitor_screens(self) -> tuple:
        return (self.attract, self.live, self.review, self.gallery, self.email, self.progress, self.result)

    def _build_visitor_screens(self) -> None:
        """(Re)build every screen a visitor sees, in the configured language; touches become flow events."""
        lang = self.config.language
        self.attract, self.live, self.review = AttractScreen(lang), LiveScreen(lang), ReviewScreen(lang)
        self.gallery, self.email = GalleryScreen(lang), EmailScreen(lang, self.catalogue.retention_hours)
        self.progress, self.result = ProgressScreen(lang), ResultScreen(lang)
        self.screens = {s.objectName(): s for s in (self.operator, *self._visitor_screens())}
        for screen in self._visitor_screens():
            self.stack.addWidget(screen)
        self.attract.set_note(self.config.demo_note)  # in the kiosk's language when it is ours
        self.attract.corner.connect(self._corner_tap)
        self.result.print_tapped.connect(self.print_desk.print_portrait)
        for screen, touched, event in TOUCHES:
            getattr(self.screens[screen], touched).connect(partial(self.flow.fire, event))

    def _show_availability(self, camera_available: bool | None = None) -> None:
        """What the attract screen promises before anyone poses: without the server, only the outbox (where the
        operator allows it) can take a portrait, and the visitor reads so; without it, the start button waits."""
        can_start = self.catalogue.server_reached or self.config.offline_outbox
        if camera_available is None:
            camera_available = self.photographer.is_available
        ready = camera_available and bool(self.catalogue.styles)
        note = "" if self.catalogue.server_reached else "server_offline"
        if not ready or not can_start:
            note = "unavailable"
        self.attract.set_availability(note, can_start)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.MouseButtonPress, QEvent.Type.TouchBegin, QEvent.Type.KeyPress):
            self.flow.touched()
        return False

    # -- what the flow's states do (see flow.py for when) -------------------------------------------

    def show_screen(self, screen: str) -> None:
        self.stack.setCurrentWidget(self.screens[screen])

    def current(self) -> str:
        return self.stack.currentWidget().objectName()

    def reset(self) -> None:
        self.flow.fire("reset")

    def enter_attract(self) -> None:
        """A new visitor: nothing of the last one is left (photo, style, method, address, job)."""
        self.photo_jpeg, self.choice = None, None
        self.orders.forget()
        self.erase_previews()  # the painted faces of the gallery go with the photo
        self.live.clear_picture()
        self.review.clear_picture()
        self.photographer.fresh_frame()  # the live screen shows the camera's next frame, never an old one
        self.email.reset()
        self.gallery.set_method(self.config.default_method)  # the next visitor starts from the default

    def enter_gallery(self) -> None:
        """The gallery is shown: the kept photo's previews are asked for, once per photo (not again when the
        visitor comes back from the e-mail screen, or keeps the same photo after Back)."""
        photo = self.photo_jpeg
        if photo is None or photo is self.previews.photo:
            return
        self.erase_previews()
        self.previews.request(photo, [style.id for style in self.catalogue.styles])

    def erase_previews(self) -> None:
        """The visitor's painted faces are gone from the tiles and from memory; late tiles of theirs are dropped."""
        self.previews.erase()
        self.gallery.clear_previews()

    def enter_live(self) -> None:
        self.live.set_camera_available(self.photographer.is_available)

    def camera_ready(self) -> bool:
        return self.photographer.is_available

    def start_countdown(self) -> None:
        self.photographer.start_countdown()

    def stop_countdown(self) -> None:
        self.photographer.stop_countdown()
        self.live.set_camera_available(self.photographer.is_available)

    # -- the camera (``Photographer``) tells ------------------------------------------------------------

    def _wire_photographer(self) -> None:
        """Its news go to whichever screens show now (the visitor's screens are rebuilt for another language)."""
        p = self.photographer
        p.frame.connect(lambda frame: self.live.show_frame(frame))
        p.count.connect(lambda count: self.live.show_count(count))
        p.flash.connect(lambda: self.live.do_flash())
        p.photo.connect(self._photo_taken)
        p.no_photo.connect(self._no_photo)
        p.available.connect(self._camera_changed)
        self._camera_changed(p.is_available)

    def _camera_changed(self, available: bool) -> None:
        """The camera came or went. Gone: no stale frame on screen, no photo, no countdown."""
        self.live.set_camera_available(available)
        if not available:
            self.live.clear_picture()  # the last frame may show the previous visitor
            self.flow.fire("camera_lost")  # a countdown stops (other states ignore it)
        self._show_availability(available)

    def _photo_taken(self, jpeg: bytes, picture: QPixmap) -> None:
        """Only a still of the countdown running now arrives here: leaving the countdown (``stop_countdown``, on
        every way out of the state) makes the photographer drop a late one."""
        self.photo_jpeg = jpeg
        self.review.show_frame(picture)
        self.flow.fire("photo")

    def _no_photo(self) -> None:
        if self.flow.fire("no_photo") and self.photographer.is_available:
            self.live.say(tr("photo_failed", self.config.language))

    def style_available(self, style_id: str, method: str) -> bool:
        return self.catalogue.available(style_id, method)

    def enter_email(self, style_id: str = "", method: str = "") -> None:
        if style_id:  # a style was chosen (not back from a refused send): a fresh form
            self.choice = (style_id, method)
            self.email.reset()

    def request_ready(self, address: str) -> bool:
        """Guard of ``submit``: consent given and a valid address make the request to send (``last_request``)."""
        if not self.choice or not self.photo_jpeg:
            raise RuntimeError("a request without a photo or a style")  # the flow falls back to attract
        if not self.email.consent_given():
            self.email.say(tr("need_consent", self.config.language))
            return False
        style_id, method = self.choice
        try:
            request = JobRequest(
                style=style_id,
                method=method,
                email=address,
                consent=True,
                wall=self.email.wall_wanted(),
                language=self.config.language,
                options=JobOptions(face_protect=True),
            )
        except ValidationError:
            self.email.say(tr("bad_email", self.config.language))
            return False
        self.last_request = (request, str(uuid.uuid4()))
        return True

    def send_request(self, _address: str = "") -> None:
        request, key = self.last_request
        self.email.set_sending(True)  # one send per touch; ready again when the state is left
        self.orders.submit(self.photo_jpeg, request, key)

    def sending_over(self) -> None:
        self.email.set_sending(False)

    def enter_offline(self, photo: bytes, request: JobRequest) -> None:
        self.result.set_heading(tr("saved", self.config.language))
        self.result.show_picture(photo)
        self.result.set_detail(tr("offline", self.config.language, email=request.email))
        self._hide_address_later(str(request.email))

    def enter_progress(self, job: JobCreated) -> None:
        """Follow the job (``flow.start("progress", job)`` follows any job, as after a visitor's send)."""
        self.progress.set_detail(tr("can_leave", self.config.language))
        self.progress.show_picture(self.photo_jpeg or b"")
        self.orders.follow(job)

    def leave_progress(self) -> None:
        self.orders.stop_showing_wait()

    def enter_result(
        self, job: JobCreated, data: bytes | None, error: str = "", download_url: str | None = None
    ) -> None:
        lang = self.config.language
        qr = download_url if self.config.show_qr else None
        self.result.show_qr(qr)  # the painting on the visitor's phone
        self._download_job = job if qr else None
        if error:  # the server's reason is for the log: the visitor reads calm words in their language
            log.warning("job %s failed: %s", job.id if job else "?", error)
            self.result.set_heading(tr("job_failed", lang))
            self.result.set_detail("")
            self.result.set_failed(self.last_request is not None and self.photo_jpeg is not None)
            return
        self.result.set_heading(tr("done", lang))
        self.print_desk.offer(data)  # when the operator turned printing on
        if data:
            self.result.show_picture(data)
        request = self.last_request[0] if self.last_request else None
        address = str(request.email) if request and request.email else ""
        self.result.set_detail(tr("sent_to", lang, email=address) if address else "")
        self._hide_address_later(address)

    def _hide_address_later(self, address: str) -> None:
        """The address and the QR code are for the visitor's eyes: after ``address_shown_s`` the next person
        neither reads the address nor scans the code."""
        self._shown_address = address
        if address or self.result.qr_url:
            self.address_timer.start(self.config.address_shown_s * 1000)

    def _hide_address(self) -> None:
        if self._shown_address:
            self.result.set_detail(self.result.detail_text().replace(self._shown_address, "•••"))
            self._shown_address = ""
        self.result.show_qr(None)  # the code leaves with the address

    def leave_result(self) -> None:
        """Finish (or the idle timeout): nothing of this visitor stays on the result screen."""
        self.address_timer.stop()
        self._shown_address = ""
        self.result.clear()
        self.result.show_qr(None)
        self.result.set_failed(False)
        self.print_desk.withdraw()
        if self._download_job is not None:  # the code's link dies too: nobody downloads the painting later
            self.orders.end_download(self._download_job)
            self._download_job = None

    def retry_ready(self) -> bool:
        """Guard of ``retry``: the same photo and style sent again, as a new request (a new idempotency key)."""
        if self.last_request is None or self.photo_jpeg is None:
            return False
        self.last_request = (self.last_request[0], str(uuid.uuid4()))
        return True

    def enter_operator(self) -> None:
        self.operator.ask_pin()

    def leave_operator(self) -> None:
        self.operator.lock()  # locked again whenever the panel is left (the idle timeout too)

    # -- the operator's changes -----------------------------------------------------------------------

    def _corner_tap(self) -> None:
        if self.corner_taps.tap():
            self.flow.fire("operator")

    def apply_config(self, config: KioskConfig) -> None:
        """The operator saved the panel: kept on disk, then whatever changed is redone (the connection always)."""
        camera_changed = config.camera != self.config.camera
        language_changed = config.language != self.config.language
        self.frame_desk.saved(self.config, config)  # sent once the connection below is decided
        self.config = self.operator.config = config  # the panel reopens on what is saved, whoever saved it
        config.save(self.config_path)
        if language_changed:
            self._rebuild_visitor_screens()
        if camera_changed:
            self.photographer.switch(config.camera)
        self.connection.connect_to(config)

    def _wire_orders(self) -> None:
        """The orders' news become flow events, and go to the screens showing now and the panel."""
        orders = self.orders
        orders.accepted.connect(lambda job: self.flow.fire("accepted", job))
        orders.refused.connect(self._request_refused)
        orders.kept.connect(self._request_kept)
        orders.outbox_said.connect(lambda text_id, values: self.operator.show_outbox(text_id, **values))
        orders.rejected.connect(self.operator.show_rejected)
        orders.waiting.connect(lambda wait: self.progress.update_status(*wait))
        orders.lost.connect(self._job_lost)
        orders.heard.connect(self._job_heard)
        orders.finished.connect(lambda job, data, url: self.flow.fire("done", job, data, "", url))
        orders.failed.connect(lambda job, error: self.flow.fire("failed", job, None, error))

    def _request_refused(self) -> None:
        self.email.say(tr("refused", self.config.language))
        self.flow.fire("refused")

    def _request_kept(self, photo: bytes, request: JobRequest) -> None:
        """Kept in the outbox (offline, busy, not trusted): sent when the server can take it."""
        self.catalogue.server_reached = False
        self._show_availability()
        self.flow.fire("kept", photo, request)

    def _job_lost(self) -> None:
        """Following the job broke: the painting still comes by e-mail."""
        self.progress.set_detail(tr("arrives_anyway", self.config.language))
        self.progress.set_remaining(tr("reconnecting", self.config.language))

    def _job_heard(self, event: JobEvent) -> None:
        self.progress.set_detail(tr("can_leave", self.config.language))
        if event.preview_jpeg_base64:
            self.progress.show_picture(base64.b64decode(event.preview_jpeg_base64))

    def _wire_printing(self) -> None:
        """The desk's news go to the result screen showing now (it is rebuilt with the language) and the panel."""
        desk, panel = self.print_desk, self.operator.print_panel
        desk.offered.connect(lambda copies_left: self.result.offer_print(copies_left))
        desk.withdrawn.connect(lambda: self.result.withdraw_print())
        desk.sending.connect(lambda copies_left: self.result.print_sending(copies_left))
        desk.failed.connect(lambda: self.result.print_failed())
        desk.report.connect(panel.show_report)
        desk.unreachable.connect(panel.show_error)
        panel.visible.connect(desk.watch)
        panel.chosen_changed.connect(lambda _name: desk.poll())

    def _wire_frame(self) -> None:
        desk, panel = self.frame_desk, self.operator.frame_panel
        self.operator.frame_preview_wanted.connect(desk.preview)
        desk.said.connect(lambda text_id, values: panel.say(text_id, **values))
        desk.previewed.connect(panel.show_preview)
        desk.refused.connect(self._keep_frame)

    def _keep_frame(self, previous: KioskConfig) -> None:
        """The saved settings take back the frame the server still has (anything else saved stays)."""
        kept = self.config.model_copy(update=frame_values(previous))
        self.config = self.operator.config = kept
        kept.save(self.config_path)

    def _catalogue_shown(self, new_tiles: bool) -> None:
        """A catalogue to show: the retention it promises; new tiles, or only the lanes' new waits."""
        catalogue = self.catalogue
        self.email.set_retention(catalogue.retention_hours)
        if not new_tiles:
            self.gallery.set_eta(catalogue.eta)
            return
        language = self.config.language  # the panel names the styles in the kiosk's language too
        self.operator.set_styles(
            [(s.id, s.names.get(language) or s.name) for s in catalogue.offered], self.config.styles
        )
        self._fill_screens()

    def _fill_screens(self) -> None:
        """The styles on the visitor's screens (after a new catalogue, or screens rebuilt in another language)."""
        catalogue = self.catalogue
        self.gallery.set_styles(catalogue.styles, catalogue.thumbnails)  # keeps the visitor's method
        self.gallery.set_eta(catalogue.eta)
        self.gallery.say("" if catalogue.styles else tr("no_styles", self.config.language))
        samples = [catalogue.thumbnails[s.id] for s in catalogue.styles if s.id in catalogue.thumbnails]
        self.attract.set_samples(samples or [PORTRAIT.read_bytes()])
        self._show_availability()

    def _server_decided(self) -> None:
        """The server is trusted now (or refused): what waited for it goes (or stays refused and says so)."""
        self.frame_desk.send_saved()  # an event frame saved meanwhile
        self.catalogue.load()
        self.orders.flush()

    def _trust_offered(self, seen: str) -> None:
        """The operator compared the fingerprint and trusts this server (trust on first use)."""
        if seen:
            self.apply_config(self.config.model_copy(update={"server_fingerprint": seen}))

    def _rebuild_visitor_screens(self) -> None:
        """Another language: the visitor's screens are built anew, then given what the old ones showed."""
        for screen in self._visitor_screens():
            self.stack.removeWidget(screen)
            screen.deleteLater()
        self._build_visitor_screens()
        self.email.set_retention(self.catalogue.retention_hours)
        self._fill_screens()
        self.live.set_camera_available(self.photographer.is_available)

    def _leave_kiosk(self) -> None:
        self.showNormal()
        self.close()

    def closeEvent(self, event) -> None:
        self.bridge.close()
        self.orders.forget()  # ends the event watcher
        self.flow.stop()
        for timer in self._timers():
            timer.stop()
        self.print_desk.stop()
        self.catalogue.stop()
        self.photographer.stop()  # never waits: a camera stuck in its driver must not hang the window
        self.connection.close()
        super().closeEvent(event)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="booth-client", description="Portrait Booth kiosk")
    parser.add_argument("--config", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--server", help="style server URL (overrides the config file)")
    parser.add_argument("--camera", help="webcam index, stream URL or video file")
    parser.add_argument("--windowed", action="store_true", help="not full screen")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = KioskConfig.load(args.config)
    overrides = {k: v for k, v in (("server_url", args.server), ("camera", args.camera)) if v}
    if overrides:
        config = config.model_copy(update=overrides)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl+C or a service manager: close cleanly
        signal.signal(sig, lambda *_: app.quit())
    window = BoothWindow(config, args.config)
    if config.fullscreen and not args.windowed:
        window.setGeometry(window.screen().geometry())  # the whole screen even with no window manager to ask
        window.showFullScreen()
    else:
        window.resize(window.screen().availableSize().boundedTo(QSize(1280, 800)))  # never beyond the screen
        window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
