"""The kiosk: screens, camera, server, outbox and operator mode, driven by the visitor's flow (``flow.py``)."""

from __future__ import annotations

import base64
import io
import json
import logging
import signal
import sys
import time
import uuid
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image
from pydantic import ValidationError
from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow, QStackedWidget

from shared.protocol import JobCreated, JobEvent, JobOptions, JobRequest, JobStatus, StyleInfo, StyleList

from .api import RequestRejected, ServerApi, ServerUnavailable, UntrustedServer
from .camera import Camera, open_capture
from .config import DEFAULT_FILE, KioskConfig
from .flow import TOUCHES, Flow
from .i18n import tr
from .operator import OperatorScreen
from .outbox import RequestOutbox
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
from .trust import Trust, TrustStore
from .widgets import STYLE_SHEET, bytes_to_pixmap, rgb_to_pixmap

ASSETS = Path(__file__).parent / "assets"
CORNER_TAPS = 5
RECONNECT_BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0)  # seconds between attempts to follow a job's progress again
STYLES_BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # seconds between attempts to load the catalogue
log = logging.getLogger(__name__)


class BoothWindow(QMainWindow):
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
        self.bridge = UiBridge()
        self.bridge.expected = (ServerUnavailable, RequestRejected)
        self.trust_store = TrustStore(config.data_dir)
        self.trust = Trust(None, "checking the server…", retry=True)
        self.api: ServerApi | None = None
        self._checking_trust = False
        self.event_reconnects = 0
        self.outbox = RequestOutbox(config.outbox_dir)
        self.retention_hours = self._known_retention()
        self.styles: list[StyleInfo] = []
        self.thumbnails: dict[str, bytes] = {}
        self.catalogue_ids: list[str] = []  # every style the server offers, enabled or not (operator panel)
        self.eta: dict[str, float] = {}
        self.photo_jpeg: bytes | None = None
        self.choice: tuple[str, str] | None = None
        self.job: JobCreated | None = None
        self.last_request: tuple[JobRequest, str] | None = None
        self.preview_frames = 0
        self._last_count = -1
        self._countdown = 0
        self._corner_taps: list[float] = []
        self._flushing = False
        self.flow = Flow(self, idle_ms=lambda: self.config.idle_timeout_s * 1000)
        self._build_screens()
        self.camera = self._start_camera(config.camera)
        self.preview_timer = QTimer(self, interval=33, timeout=self._show_latest_frame)
        self.preview_timer.start()
        self.count_timer = QTimer(self, interval=1000, timeout=self._tick)
        self.outbox_timer = QTimer(self, interval=int(outbox_every_s * 1000), timeout=self.flush_outbox)
        self.outbox_timer.start()
        self.styles_timer = QTimer(self, singleShot=True, timeout=self.load_styles)
        self.address_timer = QTimer(self, singleShot=True, timeout=self._hide_address)
        self.wait_timer = QTimer(self, interval=250, timeout=self._show_wait)
        self._shown_address = ""
        self.styles_attempt, self.catalogue_loads, self._loading_styles = 0, 0, False
        QApplication.instance().installEventFilter(self)
        self.flow.start()  # the attract screen, always (never the operator's PIN pad)
        self._connect()

    # -- construction ---------------------------------------------------------------------------------

    def _build_screens(self) -> None:
        self.stack = QStackedWidget()
        self.setCentralWidget(self.stack)
        self.operator = OperatorScreen(self.config)
        self.stack.addWidget(self.operator)
        self.operator.saved.connect(self.apply_config)
        self.operator.retry_outbox.connect(self.flush_outbox)
        self.operator.test_camera.connect(self._test_camera)
        self.operator.test_email.connect(self._test_email)
        self.operator.quit_kiosk.connect(self._leave_kiosk)
        self.operator.trust_server.connect(self._trust_offered)
        self._build_visitor_screens()

    def _visitor_screens(self) -> tuple:
        return (self.attract, self.live, self.review, self.gallery, self.email, self.progress, self.result)

    def _build_visitor_screens(self) -> None:
        """(Re)build every screen a visitor sees, in the configured language; touches become flow events."""
        lang = self.config.language
        self.attract, self.live, self.review = AttractScreen(lang), LiveScreen(lang), ReviewScreen(lang)
        self.gallery, self.email = GalleryScreen(lang), EmailScreen(lang, self.retention_hours)
        self.progress, self.result = ProgressScreen(lang), ResultScreen(lang)
        self.screens = {s.objectName(): s for s in (self.operator, *self._visitor_screens())}
        for screen in self._visitor_screens():
            self.stack.addWidget(screen)
        self.attract.set_note(self.config.demo_note)  # in the kiosk's language when it is ours
        self.attract.corner.connect(self._corner_tap)
        for screen, touched, event in TOUCHES:
            getattr(self.screens[screen], touched).connect(partial(self.flow.fire, event))

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
            self.live.view.clear_picture()  # the last frame may show the previous visitor
            self.flow.fire("camera_lost")  # a countdown stops (other states ignore it)
        self.attract.set_unavailable(not (available and self.styles))

    # -- what the flow's states do (see flow.py for when) -------------------------------------------

    def show_screen(self, screen: str) -> None:
        self.stack.setCurrentWidget(self.screens[screen])

    def current(self) -> str:
        return self.stack.currentWidget().objectName()

    def reset(self) -> None:
        self.flow.fire("reset")

    def enter_attract(self) -> None:
        """A new visitor: nothing of the last one is left (photo, style, method, address, job)."""
        self.photo_jpeg, self.choice, self.job = None, None, None
        for view in (self.live.view, self.review.view):
            view.clear_picture()
        self._last_count = -1  # the live screen shows the camera's next frame, never an old one
        self.email.reset()
        self.gallery.set_method(self.config.default_method)  # the next visitor starts from the default

    def enter_live(self) -> None:
        self.live.set_camera_available(self.camera.is_available)

    def camera_ready(self) -> bool:
        return self.camera.is_available

    def start_countdown(self) -> None:
        self._countdown = self.config.countdown_s
        self.live.show_count(self._countdown)
        self.count_timer.start()

    def stop_countdown(self) -> None:
        self.count_timer.stop()
        self.live.show_count(None)
        self.live.set_camera_available(self.camera.is_available)

    def style_available(self, style_id: str, method: str) -> bool:
        return any(s.id == style_id and method in s.methods for s in self.styles)

    def enter_email(self, style_id: str = "", method: str = "") -> None:
        if style_id:  # a style was chosen (not back from a refused send): a fresh form
            self.choice = (style_id, method)
            self.email.reset()

    def enter_operator(self) -> None:
        self.operator.ask_pin()

    def leave_operator(self) -> None:
        self.operator.lock()  # locked again whenever the panel is left (the idle timeout too)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.MouseButtonPress, QEvent.Type.TouchBegin, QEvent.Type.KeyPress):
            self.flow.touched()
        return False

    # -- camera and photo -----------------------------------------------------------------------------

    def _show_latest_frame(self) -> None:
        if self.current() != "live":
            return
        count, frame = self.camera.latest()
        if frame is not None and count != self._last_count and self.camera.is_available:
            self._last_count = count
            self.live.view.show_pixmap(rgb_to_pixmap(frame[:, ::-1] if self.config.mirror_preview else frame))
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
        portrait = frame[:, ::-1] if self.config.mirror_capture else frame  # as the camera saw it, by default
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(portrait)).save(buf, "JPEG", quality=92)
        self.photo_jpeg = buf.getvalue()
        self.review.view.show_pixmap(rgb_to_pixmap(frame[:, ::-1] if self.config.mirror_preview else frame))
        self.flow.fire("photo")

    def _still_failed(self) -> None:
        if self.flow.fire("no_photo") and self.camera.is_available:
            self.live.message.setText(tr("photo_failed", self.config.language))

    # -- the server and how far it is trusted -------------------------------------------------------

    def _connect(self) -> None:
        """(Re)decide how to reach the server. Nothing is sent until this says the server is trusted:
        visitors' requests wait in the outbox meanwhile."""
        if self.api is not None:
            self.api.close()
        self.api = None
        config = self.config
        decided = self.trust_store.decide_offline(config.server_url, config.server_fingerprint)
        if decided is not None:
            self._trusted(config, decided)
            return
        self._checking_trust = True
        self.operator.show_connection("Checking the server's certificate…")
        self.bridge.run(
            lambda: self.trust_store.decide(config.server_url, config.server_fingerprint),
            lambda trust: self._trusted(config, trust),
            lambda exc: self._trusted(config, Trust(None, f"cannot check the server: {exc}", retry=True)),
            what="checking the server's certificate",
        )

    def _trusted(self, config: KioskConfig, trust: Trust) -> None:
        self._checking_trust = False
        if config is not self.config:  # the operator changed the connection meanwhile
            return
        self.trust = trust
        if trust.ok:
            self.api = ServerApi(
                config.server_url,
                config.api_key,
                verify=trust.verify,
                events_read_timeout=config.events_read_timeout_s,
            )
            pinned = f" (certificate pinned: {config.server_fingerprint})" if config.server_fingerprint else ""
            self.operator.show_connection(f"Server: {config.server_url}{pinned}")
        else:
            log.warning("not sending to %s: %s", config.server_url, trust.problem.splitlines()[0])
            self.operator.show_connection(trust.problem, trust.offered)
        self.load_styles()
        self.flush_outbox()

    def _server(self) -> ServerApi:
        """The server, if it may be talked to (worker threads)."""
        api = self.api
        if api is None:
            raise ServerUnavailable(self.trust.problem.splitlines()[0] if self.trust.problem else "not connected")
        return api

    def _trust_offered(self, seen: str) -> None:
        """The operator compared the fingerprint and trusts this server (trust on first use)."""
        if seen:
            self.apply_config(self.config.model_copy(update={"server_fingerprint": seen}))

    def _untrusted(self, exc: Exception) -> None:
        if isinstance(exc, UntrustedServer):
            self.operator.show_connection(f"REFUSING TO SEND to {self.config.server_url}: {exc}")

    # -- styles ---------------------------------------------------------------------------------------

    @property
    def styles_cache(self) -> Path:
        return self.config.data_dir / "styles-cache"

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

    def _styles_loaded(self, loaded: tuple[StyleList, dict[str, bytes]]) -> None:
        self._loading_styles, self.styles_attempt = False, 0
        self.catalogue_loads += 1
        self._show_styles(loaded)
        self.styles_timer.start(round(self.config.catalogue_refresh_s * 1000))

    def _styles_failed(self, exc: Exception) -> None:
        self._loading_styles = False
        self._untrusted(exc)
        if not self.styles:
            self._show_styles(self._cached_styles())
        pause = min(STYLES_BACKOFF[min(self.styles_attempt, len(STYLES_BACKOFF) - 1)], self.config.catalogue_refresh_s)
        self.styles_attempt += 1
        self.styles_timer.start(round(pause * 1000))

    def _fetch_styles(self) -> tuple[StyleList, dict[str, bytes]]:
        api = self._server()
        listing = api.styles()  # validated: style ids are strict slugs, safe as file names below
        known = dict(self.thumbnails)
        thumbs = {s.id: known.get(s.id) or api.thumbnail(s.thumbnail_url) for s in listing.styles}
        self.styles_cache.mkdir(parents=True, exist_ok=True)  # so a kiosk that starts offline still has a gallery
        for style_id, data in thumbs.items():
            (self.styles_cache / f"{style_id}.jpg").write_bytes(data)
        (self.styles_cache / "styles.json").write_text(listing.model_dump_json())  # also keeps retention_hours
        return listing, thumbs

    def _cached_styles(self) -> tuple[StyleList, dict[str, bytes]]:
        empty = StyleList(styles=[], retention_hours=self.retention_hours), {}
        index = self.styles_cache / "styles.json"
        if not index.is_file():
            return empty
        try:
            data = json.loads(index.read_text())
            data.setdefault("retention_hours", self.config.retention_hours_unknown)  # a cache from older kiosks
            listing = StyleList.model_validate(data)
        except (OSError, ValueError) as exc:
            log.warning("the style cache %s is unusable: %s", index, exc)
            return empty
        thumbs = {s.id: p.read_bytes() for s in listing.styles if (p := self.styles_cache / f"{s.id}.jpg").is_file()}
        return listing, thumbs

    def _known_retention(self) -> float:
        """The server's retention as last heard (kept in the style cache), else the safe default."""
        index = self.styles_cache / "styles.json"
        try:
            return float(json.loads(index.read_text())["retention_hours"])
        except (OSError, ValueError, KeyError, TypeError):
            return self.config.retention_hours_unknown

    def _show_styles(self, loaded: tuple[StyleList, dict[str, bytes]]) -> None:
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
        self.operator.set_styles([(s.id, s.name) for s in listing.styles], self.config.styles)
        self._fill_screens()

    def _fill_screens(self) -> None:
        """The styles on the visitor's screens (after a new catalogue, or screens rebuilt in another language)."""
        self.gallery.set_styles(self.styles, self.thumbnails)  # keeps the visitor's method
        self.gallery.set_eta(self.eta)
        self.gallery.message.setText("" if self.styles else tr("no_styles", self.config.language))
        samples = [self.thumbnails[s.id] for s in self.styles if s.id in self.thumbnails]
        self.attract.set_samples(samples or [(ASSETS / "demo_portrait.jpg").read_bytes()])
        self.attract.set_unavailable(not (self.camera.is_available and self.styles))

    # -- ordering the painting ------------------------------------------------------------------------

    def request_ready(self, address: str) -> bool:
        """Guard of ``submit``: consent given and a valid address make the request to send (``self.request``)."""
        if not self.choice or not self.photo_jpeg:
            raise RuntimeError("a request without a photo or a style")  # the flow falls back to attract
        if not self.email.consent.isChecked():
            self.email.message.setText(tr("need_consent", self.config.language))
            return False
        style_id, method = self.choice
        try:
            request = JobRequest(
                style=style_id,
                method=method,
                email=address,
                consent=True,
                language=self.config.language,
                options=JobOptions(face_protect=True),
            )
        except ValidationError:
            self.email.message.setText(tr("bad_email", self.config.language))
            return False
        self.last_request = (request, str(uuid.uuid4()))
        return True

    def send_request(self, _address: str) -> None:
        request, key = self.last_request
        photo = self.photo_jpeg
        self.email.send_button.setEnabled(False)
        self.bridge.run(
            lambda: self._server().submit(photo, request, key),
            lambda job: self.flow.fire("accepted", job),
            lambda exc: self._submit_failed(exc, photo, request, key),
            what="sending the portrait",
        )

    def sending_over(self) -> None:
        self.email.send_button.setEnabled(True)

    def _submit_failed(self, exc: Exception, photo: bytes, request: JobRequest, key: str) -> None:
        if isinstance(exc, RequestRejected):
            self.email.message.setText(tr("failed", self.config.language, error=str(exc)))
            self.flow.fire("refused")
            return
        self._untrusted(exc)
        # offline, busy, not trusted or anything unexpected: keep it, send it when the server can take it
        self.outbox.add(photo, request, key)
        self.flow.fire("kept", photo, request)

    def enter_offline(self, photo: bytes, request: JobRequest) -> None:
        self.result.heading.setText(tr("saved", self.config.language))
        self.result.view.show_pixmap(bytes_to_pixmap(photo))
        self.result.detail.setText(tr("offline", self.config.language, email=request.email))
        self._hide_address_later(str(request.email))

    def enter_progress(self, job: JobCreated) -> None:
        """Follow the job (``flow.start("progress", job)`` follows any job, as after a visitor's send)."""
        self.job = job
        self.progress.detail.setText(tr("can_leave", self.config.language))
        self.progress.preview.show_pixmap(bytes_to_pixmap(self.photo_jpeg or b""))
        now = time.monotonic()
        wait = job.status.eta_seconds or self.eta.get(job.status.method) or 0.0  # the server's own estimates
        self._wait = {"started": now, "until": now + wait, "server": 0.0, "shown": 0.0, "position": None}
        self._status_arrived(job.status)
        self.wait_timer.start()
        self.bridge.run(lambda: self._watch(job), lambda _: None, lambda exc: self._lost_track(job), what="following")

    def leave_progress(self) -> None:
        self.wait_timer.stop()

    def _status_arrived(self, status: JobStatus) -> None:
        if status.eta_seconds:  # what is left, as the server sees it now
            self._wait["until"] = time.monotonic() + status.eta_seconds
        self._wait["server"], self._wait["position"] = status.progress, status.position
        self._show_wait()

    def _show_wait(self) -> None:
        """Progress and time left, between the server's events too: interpolated along its estimate, so an
        Instant painting moves instead of jumping from 0 % to done."""
        wait, now = self._wait, time.monotonic()
        total, left = wait["until"] - wait["started"], wait["until"] - now
        guessed = min(0.95, 1 - left / total) if total > 0 else 0.0
        wait["shown"] = max(wait["shown"], wait["server"], guessed)  # never backwards
        self.progress.update_status(wait["shown"], wait["position"], max(0.0, left) if total > 0 else None)

    def enter_result(
        self, job: JobCreated, data: bytes | None, error: str = "", download_url: str | None = None
    ) -> None:
        lang = self.config.language
        self.result.show_qr(download_url if self.config.show_qr else None)  # the painting on the visitor's phone
        if error:
            self.result.heading.setText(tr("failed", lang, error=error))
            self.result.detail.setText("")
            return
        self.result.heading.setText(tr("done", lang))
        if data:
            self.result.view.show_pixmap(bytes_to_pixmap(data))
        request = self.last_request[0] if self.last_request else None
        self.result.detail.setText(tr("sent_to", lang, email=request.email) if request and request.email else "")
        self._hide_address_later(str(request.email) if request and request.email else "")

    def _hide_address_later(self, address: str) -> None:
        """The address is for the visitor's eyes: after ``address_shown_s`` the next person no longer reads it."""
        self._shown_address = address
        if address:
            self.address_timer.start(self.config.address_shown_s * 1000)

    def _hide_address(self) -> None:
        if self._shown_address:
            self.result.detail.setText(self.result.detail.text().replace(self._shown_address, "•••"))
            self._shown_address = ""

    def leave_result(self) -> None:
        """Finish (or the idle timeout): nothing of this visitor stays on the result screen."""
        self.address_timer.stop()
        self._shown_address = ""
        self.result.detail.clear()
        self.result.view.clear_picture()
        self.result.show_qr(None)

    def _watch(self, job: JobCreated) -> None:
        """Worker thread: follow the job's events until it ends. A stream that breaks, or stays silent past
        the read timeout (a half-open connection), is opened again with growing pauses."""
        attempt = 0
        while self.job is job:
            try:
                for event in self._server().events(job):
                    attempt = 0
                    self.bridge.call.emit(lambda e=event: self._on_event(job, e))
                    if event.type in ("done", "failed", "cancelled"):
                        return
            except (ServerUnavailable, RequestRejected) as exc:
                self.event_reconnects += 1
                log.warning("progress of job %s: %s; following it again", job.id, exc)
                self.bridge.call.emit(lambda: self._stream_broken(job))
            time.sleep(RECONNECT_BACKOFF[min(attempt, len(RECONNECT_BACKOFF) - 1)])
            attempt += 1

    def _stream_broken(self, job: JobCreated) -> None:
        if self.job is job:
            self.progress.detail.setText(tr("arrives_anyway", self.config.language))

    def _lost_track(self, job: JobCreated) -> None:
        """Following the job failed unexpectedly (logged): the painting still comes by e-mail."""
        if self.job is job:
            self.progress.detail.setText(tr("arrives_anyway", self.config.language))

    def _on_event(self, job: JobCreated, event: JobEvent) -> None:
        if self.job is not job:
            return
        self.progress.detail.setText(tr("can_leave", self.config.language))
        if event.preview_jpeg_base64:
            self.progress.preview.show_pixmap(bytes_to_pixmap(base64.b64decode(event.preview_jpeg_base64)))
        self._status_arrived(event.status)
        if event.type == "done":
            self.bridge.run(
                lambda: self._server().result(job),
                lambda data: self.flow.fire("done", job, data, "", event.status.download_url),
                lambda exc: self.flow.fire("done", job, None, "", event.status.download_url),
                what="fetching the painting",
            )
        elif event.type in ("failed", "cancelled"):
            self.flow.fire("failed", job, None, event.status.error or event.type)

    # -- outbox ---------------------------------------------------------------------------------------

    def flush_outbox(self) -> None:
        if self._flushing:
            return
        if self.api is None and self.trust.retry and not self._checking_trust:
            self._connect()  # e.g. the server could not be reached to check its certificate: try again
            return
        self._flushing = True
        self.bridge.run(self._send_outbox, self._outbox_done, self._outbox_failed, what="sending the outbox")

    def _send_outbox(self) -> tuple[int, list]:
        self.outbox.purge(self.retention_hours)  # personal data: never kept longer than the server would
        api = self.api
        for entry in self.outbox.pending() if api is not None else []:
            try:
                api.submit(entry.portrait, entry.request, entry.idempotency_key)
            except ServerUnavailable:
                break
            except RequestRejected as exc:
                log.warning("the server refused an outbox entry for good: %s", exc)
                self.outbox.set_aside(entry, str(exc))
                continue
            self.outbox.remove(entry)
        return len(self.outbox.pending()), self.outbox.rejected()

    def _outbox_done(self, counts: tuple[int, list]) -> None:
        self._flushing = False
        remaining, rejected = counts
        waiting = "" if self.api is not None else " (not sending: see the connection note above)"
        self.operator.show_outbox(f"Outbox: {remaining} waiting{waiting}")
        self.operator.show_rejected(rejected)

    def _outbox_failed(self, exc: Exception) -> None:
        self._flushing = False
        self._untrusted(exc)
        self.operator.show_outbox(f"Outbox: not sent ({exc})")

    # -- operator -------------------------------------------------------------------------------------

    def _corner_tap(self) -> None:
        now = time.monotonic()
        self._corner_taps = [t for t in self._corner_taps if now - t < 3] + [now]
        if len(self._corner_taps) >= CORNER_TAPS:
            self._corner_taps = []
            self.flow.fire("operator")

    def apply_config(self, config: KioskConfig) -> None:
        camera_changed = config.camera != self.config.camera
        language_changed = config.language != self.config.language
        self.config = config
        config.save(self.config_path)
        if language_changed:
            for screen in self._visitor_screens():
                self.stack.removeWidget(screen)
                screen.deleteLater()
            self._build_visitor_screens()
            self.email.set_retention(self.retention_hours)
            self._fill_screens()
            self.live.set_camera_available(self.camera.is_available)
        if camera_changed:
            old = self.camera
            old.stop()  # returns at once; the new camera waits for the old one to let go of the device
            self.camera = self._start_camera(config.camera, after=old)
        self._connect()

    def _test_camera(self, source: str) -> None:
        def probe() -> str:
            capture = open_capture(source, 640, 480)
            if capture is None:
                return f"Camera {source!r}: not found"
            ok, frame = capture.read()
            capture.release()
            if not ok:
                return f"Camera {source!r}: opens but gives no picture"
            return f"Camera {source!r}: works, {frame.shape[1]}x{frame.shape[0]}"

        self.bridge.run(
            probe,
            self.operator.show_status,
            lambda exc: self.operator.show_status(f"Camera {source!r}: test failed ({exc})"),
            what="testing the camera",
        )

    def _test_email(self, address: str) -> None:
        if not self.styles:
            self.operator.show_status("No styles loaded: check the server URL and key.")
            return
        try:
            request = JobRequest(
                style=self.styles[0].id, method="fast", email=address, consent=True, language=self.config.language
            )
        except ValidationError:
            self.operator.show_status("That is not a valid e-mail address.")
            return
        photo = (ASSETS / "demo_portrait.jpg").read_bytes()
        self.bridge.run(
            lambda: self._server().submit(photo, request, str(uuid.uuid4())),
            lambda job: self.operator.show_status(f"Test job {job.id} sent; the mail is on its way."),
            lambda exc: self.operator.show_status(f"Test failed: {exc}"),
            what="sending a test e-mail",
        )

    def _leave_kiosk(self) -> None:
        self.showNormal()
        self.close()

    def closeEvent(self, event) -> None:
        self.bridge.close()
        self.job = None  # ends the event watcher
        self.flow.stop()
        timers = (self.preview_timer, self.count_timer, self.outbox_timer, self.styles_timer, self.address_timer)
        timers += (self.wait_timer,)
        for timer in timers:
            timer.stop()
        self.camera.stop()  # never waits: a camera stuck in its driver must not hang the window
        if self.api is not None:
            self.api.close()
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
