"""The visitor's flow as a state machine (booth_client/flow.py), driven directly: the table is whole and
consistent, the kiosk starts on the attract screen, late answers do not move it, and the machine (not the
screens) handles the idle timeout and errors. Real kiosk windows (offscreen Qt), a video file as the camera."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import httpx
import numpy as np
import pytest

from booth_client.app import BoothWindow
from booth_client.flow import ANY, STATES, TOUCHES, TRANSITIONS, Flow
from booth_client.i18n import tr
from shared.protocol import JobCreated, JobRequest, JobStatus
from tests.harness import DEMO_PHOTO, ServerProcess, free_port, post_demo_job
from tests.test_kiosk import click, follow, make_window


@pytest.fixture
def window(qtbot, tmp_path, video) -> BoothWindow:
    return make_window(qtbot, tmp_path, server_url=f"http://127.0.0.1:{free_port()}", camera=str(video))


def test_the_table_is_whole_every_action_exists_and_every_state_is_reachable(window):
    names = {s.name for s in STATES}
    assert names == {
        "attract", "live", "countdown", "review", "gallery", "email", "sending",
        "progress", "result", "offline", "operator",
    }  # fmt: skip
    for state in STATES:
        assert state.screen in window.screens, state
        for action in (state.enter, state.exit):
            assert not action or callable(getattr(window, action, None)), action
    for step in TRANSITIONS:
        assert step.source in names | {ANY} and step.target in names, step
        assert not step.guard or callable(getattr(window, step.guard, None)), step.guard
    for screen, touched, event in TOUCHES:
        assert hasattr(window.screens[screen], touched), (screen, touched)
        assert any(t.event == event for t in TRANSITIONS), event
    reached, todo = {"attract"}, ["attract"]
    while todo:
        here = todo.pop()
        for step in TRANSITIONS:
            if step.source in (here, ANY) and step.target not in reached:
                reached.add(step.target)
                todo.append(step.target)
    assert reached == names
    every_state_leads_home = {(ANY, "idle", "attract"), (ANY, "reset", "attract")}
    assert every_state_leads_home <= {(t.source, t.event, t.target) for t in TRANSITIONS}


def test_the_kiosk_starts_on_the_attract_screen_never_on_the_pin_pad(window):
    assert window.flow.state == "attract" and window.current() == "attract"  # not the PIN pad
    assert window.stack.currentWidget() is window.attract and not window.flow.idle_timer.isActive()


def test_the_flow_from_attract_to_email_and_back(qtbot, window):
    window.flow.fire("start")
    assert (window.flow.state, window.current()) == ("live", "live")
    qtbot.waitUntil(lambda: window.photographer.camera.is_available, timeout=15000)
    assert window.flow.fire("capture") and window.flow.state == "countdown" and window.current() == "live"
    qtbot.waitUntil(lambda: window.flow.state == "review", timeout=10000)  # the photo was taken
    assert window.photo_jpeg[:2] == b"\xff\xd8" and window.current() == "review"
    assert window.flow.fire("keep") and window.flow.state == "gallery"
    assert not window.catalogue.styles  # no server, no cache
    assert not window.flow.fire("chosen", "starry-night", "fast")  # a style that is not loaded: the guard says no
    assert window.flow.state == "gallery"
    assert window.flow.fire("back") and window.flow.state == "review"
    assert window.flow.fire("retake") and window.flow.state == "live"


def test_events_a_state_does_not_expect_are_ignored(window):
    for event in ("photo", "done", "accepted", "kept", "keep", "submit", "finish"):
        assert not window.flow.fire(event)
        assert window.flow.state == "attract" and window.current() == "attract"


def test_the_machine_times_out_to_attract_from_every_state(qtbot, tmp_path, video):
    window = make_window(
        qtbot, tmp_path, server_url=f"http://127.0.0.1:{free_port()}", camera=str(video), idle_timeout_s=5
    )
    window.flow.fire("operator")
    assert window.current() == "operator" and window.flow.idle_timer.isActive()
    assert window.flow.idle_timer.interval() == 5000  # the configured idle timeout, owned by the machine
    window.flow.idle_timer.timeout.emit()  # the timeout itself, without waiting it out
    assert window.flow.state == "attract" and not window.operator.unlocked
    for state, args in (("live", ()), ("review", ()), ("gallery", ()), ("email", ()), ("result", (None, None, "x"))):
        window.flow.start(state, *args)
        assert window.flow.idle_timer.isActive(), state
        window.flow.idle_timer.timeout.emit()
        assert window.flow.state == "attract" and window.current() == "attract", state


def test_an_action_that_fails_falls_back_to_attract_and_is_logged(qtbot, window, caplog):
    window.flow.start("email")
    window.email.consent.setChecked(True)
    with caplog.at_level(logging.ERROR, logger="booth_client.flow"):
        assert not window.flow.fire("submit", "ada@example.org")  # no photo, no style: a bug, not a visitor's
    assert window.flow.state == "attract" and window.current() == "attract"
    assert window.flow.errors == 1
    [record] = [r for r in caplog.records if "back to attract" in r.getMessage()]
    assert record.exc_info and "without a photo" in str(record.exc_info[1])


def test_the_machine_runs_exit_then_enter_actions_in_order(qtbot):
    class Host:
        """The smallest host: records what the machine asks of it."""

        def __init__(self) -> None:
            self.calls: list[str] = []

        def show_screen(self, name: str) -> None:
            self.calls.append(f"show {name}")

        def __getattr__(self, name: str):
            return lambda *args: self.calls.append(f"{name}{args}") or True

    host = Host()
    flow = Flow(host, idle_ms=lambda: 60000)
    flow.start()
    flow.fire("start")
    flow.fire("capture")
    flow.fire("photo")
    assert host.calls == [
        "show attract", "enter_attract()", "show live", "enter_live()", "camera_ready()",
        "show live", "start_countdown()", "stop_countdown()", "show review",
    ]  # fmt: skip
    assert flow.state == "review"


def highlighted(button) -> bool:
    return button.isChecked() and button.property("secondary") is False


def test_a_still_that_arrives_after_its_countdown_was_left_belongs_to_nobody(qtbot, window):
    """The visitor walks away mid-countdown; the still taken for them arrives afterwards: no photo is kept, no
    review is shown (leaving the countdown by any way ends its shot)."""
    window.flow.fire("start")
    qtbot.waitUntil(lambda: window.photographer.camera.latest()[1] is not None, timeout=15000)
    assert window.flow.fire("capture") and window.flow.state == "countdown"
    shot, (_, frame) = window.photographer._shot, window.photographer.camera.latest()
    window.flow.idle_timer.timeout.emit()  # gone
    assert window.flow.state == "attract"
    window.photographer._got_still(shot, frame)  # the still of that countdown, late
    assert window.photo_jpeg is None and window.flow.state == "attract" and not window.review.view.has_picture


def test_the_chosen_method_is_shown_and_every_choice_is_reset_for_the_next_visitor(qtbot, window):
    gallery = window.gallery
    instant, masterpiece = gallery.method_buttons["fast"], gallery.method_buttons["gatys"]
    assert highlighted(instant) and not highlighted(masterpiece)
    window.photo_jpeg = b"\xff\xd8 a portrait"
    window.flow.start("gallery")
    click(qtbot, masterpiece)
    assert highlighted(masterpiece) and not highlighted(instant)  # Instant goes dark
    window.flow.start("email", "starry-night", "gatys")
    window.email.address.setText("ada@example.org")
    window.email.consent.setChecked(True)
    window.flow.idle_timer.timeout.emit()  # the visitor walks away
    assert window.flow.state == "attract"
    assert gallery.method == "fast" and highlighted(instant) and not highlighted(masterpiece)
    assert window.choice is None and window.photo_jpeg is None and window.orders.job is None
    assert window.email.address.text() == "" and not window.email.consent.isChecked()


class StreamCamera:
    """A real network camera: MJPEG over HTTP on 127.0.0.1 (OpenCV reads it like any stream URL), 25 fps,
    until ``unplug()`` closes the server."""

    def __init__(self) -> None:
        frame = np.zeros((240, 320, 3), np.uint8)
        frame[60:180, 110:210] = (40, 160, 220)
        jpeg = cv2.imencode(".jpg", frame)[1].tobytes()
        part = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n" % (len(jpeg), jpeg)
        unplugged = self.unplugged = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                with contextlib.suppress(OSError):
                    while not unplugged.is_set():
                        self.wfile.write(part)
                        unplugged.wait(0.04)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stream.mjpg"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def unplug(self) -> None:
        self.unplugged.set()
        self.server.shutdown()
        self.server.server_close()


def test_a_camera_that_stops_leaves_no_stale_frame_and_no_photo_can_be_taken(qtbot, tmp_path):
    camera = StreamCamera()
    try:
        window = make_window(
            qtbot, tmp_path, server_url=f"http://127.0.0.1:{free_port()}", camera=camera.url, countdown_s=5
        )
        window.flow.fire("start")
        qtbot.waitUntil(lambda: window.photographer.camera.is_available and window.live.view.has_picture, timeout=15000)
        assert window.live.take_button.isEnabled()
        assert window.flow.fire("capture") and window.flow.state == "countdown"
        camera.unplug()  # in the middle of the countdown
        # the camera's word reaches the window through the event loop
        qtbot.waitUntil(
            lambda: not window.photographer.camera.is_available and window.flow.state == "live", timeout=15000
        )
    finally:
        if not camera.unplugged.is_set():
            camera.unplug()
    assert window.flow.state == "live"  # the countdown stopped, rather than running on to take nothing
    assert not window.live.view.has_picture  # the frozen last frame is gone
    assert not window.live.take_button.isEnabled()
    assert not window.flow.fire("capture") and window.flow.state == "live"  # no countdown without a camera
    window.flow.fire("back")
    assert window.attract.unavailable.text() == tr("unavailable", "en")  # no camera (and no styles here)
    window.flow.fire("start")
    qtbot.waitUntil(lambda: window.live.message.text() == tr("camera_missing", "en"), timeout=10000)
    assert not window.live.view.has_picture and not window.live.take_button.isEnabled()


def test_attract_says_unavailable_without_styles_and_not_once_camera_and_styles_are_there(
    qtbot, tmp_path, video, server
):
    offline = make_window(qtbot, tmp_path / "a", server_url=f"http://127.0.0.1:{free_port()}", camera=str(video))
    qtbot.waitUntil(lambda: offline.photographer.camera.is_available, timeout=15000)
    qtbot.waitUntil(lambda: offline.catalogue.attempt > 0, timeout=15000)  # asked, and the server did not answer
    assert offline.attract.unavailable.text() == tr("unavailable", "en")  # a camera, but no styles
    online = make_window(qtbot, tmp_path / "b", server_url=server.url, camera=str(video))
    qtbot.waitUntil(lambda: online.photographer.camera.is_available and bool(online.catalogue.styles), timeout=20000)
    assert online.attract.unavailable.text() == ""


def test_a_kiosk_started_before_its_server_fills_its_gallery_on_its_own(qtbot, tmp_path, cache_dir, inbox, video):
    late = ServerProcess(tmp_path / "server", cache_dir, inbox.port)  # its port is chosen, nothing listens yet
    window = make_window(qtbot, tmp_path, server_url=late.url, camera=str(video), catalogue_refresh_s=3)
    qtbot.waitUntil(lambda: window.catalogue.attempt >= 2, timeout=15000)  # tried, failed, tried again
    assert window.catalogue.styles == [] and window.gallery.message.text() == tr("no_styles", "en")
    tries, started = window.catalogue.attempt, time.monotonic()
    try:
        late.start()
        ready = time.monotonic()
        qtbot.waitUntil(lambda: bool(window.catalogue.styles), timeout=60000)  # no operator, no restart
        filled = time.monotonic()
        assert window.gallery.style_buttons and window.gallery.message.text() == ""
        assert window.catalogue.eta and window.attract.unavailable.text() == ""
        loads = window.catalogue.loads
        qtbot.waitUntil(lambda: window.catalogue.loads > loads, timeout=15000)  # and refreshed every 3 s
    finally:
        late.stop()
    print(
        f"server up after {ready - started:.1f} s; gallery filled {filled - ready:.1f} s later "
        f"(after {tries} failed attempts with backoff); catalogue refreshed periodically"
    )


def test_the_visitors_address_leaves_the_result_screen_after_a_while_and_on_finish(qtbot, tmp_path, video):
    window = make_window(
        qtbot, tmp_path, server_url=f"http://127.0.0.1:{free_port()}", camera=str(video), address_shown_s=1
    )
    request = JobRequest(style="palette-04", email="ada@example.org", consent=True)
    window.last_request = (request, "key")
    window.flow.start("result", None, DEMO_PHOTO)  # the painting is here, sent to ada@example.org
    assert "ada@example.org" in window.result.detail.text() and window.result.view.has_picture
    qtbot.waitUntil(lambda: "ada@example.org" not in window.result.detail.text(), timeout=5000)
    assert "•••" in window.result.detail.text()  # "Sent to •••": the next person reads no address
    click(qtbot, window.result.finish_button)
    assert window.flow.state == "attract" and window.result.detail.text() == ""
    assert not window.result.view.has_picture  # nor the last visitor's painting, when the next one gets there
    window.flow.start("offline", DEMO_PHOTO, request)  # the outbox kept it: the note names the address too
    assert "ada@example.org" in window.result.detail.text()
    click(qtbot, window.result.finish_button)  # Finish at once
    assert window.result.detail.text() == "" and not window.address_timer.isActive()


@pytest.fixture(scope="module")
def held_server(tmp_path_factory, cache_dir, inbox):
    """A real server whose fast batch waits while a file exists (testing only): a job that takes its time."""
    data = tmp_path_factory.mktemp("held-data")
    proc = ServerProcess(data, cache_dir, inbox.port, test_hold_batch_file=data / "hold")
    yield proc.start()
    proc.stop()


def wait_ticks(window) -> list[tuple[int, str]]:
    """What the progress screen shows at each tick of the wait timer from now: (bar value, time-left text)."""
    shown: list[tuple[int, str]] = []
    window.orders.wait_timer.timeout.connect(
        lambda: shown.append((window.progress.bar.value(), window.progress.remaining.text()))
    )
    return shown


def test_the_wait_counts_down_from_the_servers_estimate_and_instant_moves(qtbot, tmp_path, held_server, video):
    window = make_window(qtbot, tmp_path, server_url=held_server.url, camera=str(video))
    qtbot.waitUntil(lambda: bool(window.catalogue.styles), timeout=20000)
    assert window.catalogue.eta.get("fast", 0) > 0  # the catalogue answer carries the server's current estimates
    hold = held_server.data_dir / "hold"
    hold.touch()  # the Instant painting is slow today: no event arrives while this file exists
    try:
        job = post_demo_job(held_server)
        follow(window, job)
        shown = wait_ticks(window)  # until the estimate has passed
        qtbot.waitUntil(lambda: len(shown) >= 8 and shown[-1][1] == tr("almost_done", "en"), timeout=30000)
    finally:
        hold.unlink()
    values = [v for v, _ in shown]
    assert values == sorted(values) and 0 < values[-1] < 100, shown  # it moves, never back, never to done
    assert all(text for _, text in shown), shown  # the time left is always said, never an empty line
    assert shown[-1][1] == tr("almost_done", "en")  # past the estimate: almost done, not a frozen 0 %
    qtbot.waitUntil(lambda: window.flow.state == "result", timeout=30000)
    assert not window.orders.wait_timer.isActive()
    print(f"Instant, server's estimate {window.catalogue.eta['fast']:.1f} s: progress shown while held {shown}")


def test_without_the_server_the_progress_stands_still_and_says_it_reconnects(qtbot, window):
    status = JobStatus(
        id="j1", state="queued", method="gatys", style="starry-night", eta_seconds=30, created_at=datetime.now(UTC)
    )
    window.flow.start("progress", JobCreated(id="j1", token="t", status=status))  # nothing listens: no server
    reconnecting = tr("reconnecting", "en")
    qtbot.waitUntil(lambda: window.progress.remaining.text() == reconnecting, timeout=5000)
    shown = window.progress.bar.value()
    seen = wait_ticks(window)  # the wait timer ticks on; the bar must not advance along the estimate meanwhile
    qtbot.waitUntil(lambda: len(seen) >= 8, timeout=30000)
    assert set(seen) == {(shown, reconnecting)}, seen
    assert window.progress.detail.text() == tr("arrives_anyway", "en")
    window.flow.fire("finish")
    assert not window.orders.wait_timer.isActive()


@pytest.fixture(scope="module")
def public_server(tmp_path_factory, cache_dir, inbox):
    """A real server that makes download links (its public URL is a setting)."""
    proc = ServerProcess(tmp_path_factory.mktemp("public-data"), cache_dir, inbox.port)
    proc.env["PORTRAIT_PUBLIC_URL"] = proc.url
    yield proc.start()
    proc.stop()


@pytest.mark.parametrize("show_qr", [True, False])
def test_the_result_screen_gets_the_download_link_when_the_operator_wants_a_qr_code(
    qtbot, tmp_path, public_server, show_qr
):
    window = make_window(qtbot, tmp_path, server_url=public_server.url, camera="none", show_qr=show_qr)
    qtbot.waitUntil(lambda: bool(window.catalogue.styles), timeout=20000)
    follow(window, post_demo_job(public_server))
    qtbot.waitUntil(lambda: window.flow.state == "result", timeout=30000)
    if not show_qr:
        assert window.result.qr_url is None  # off by default: the e-mail is the way
        return
    url = window.result.qr_url
    assert url and url.startswith(public_server.url) and not window.result.qr.isHidden()
    with httpx.Client() as client:  # what the visitor's phone opens: the painting, no key needed
        got = client.get(url)
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    click(qtbot, window.result.finish_button)
    assert window.result.qr_url is None  # nothing of this visitor stays on screen
    with httpx.Client() as client:  # and the link dies: the next person cannot open the painting later
        qtbot.waitUntil(lambda: client.get(url).status_code == 404, timeout=10000)


def test_the_no_styles_note_speaks_the_kiosks_language(qtbot, tmp_path, video):
    window = make_window(
        qtbot, tmp_path, server_url=f"http://127.0.0.1:{free_port()}", camera=str(video), language="de"
    )
    qtbot.waitUntil(lambda: window.gallery.message.text() != "", timeout=10000)
    assert window.gallery.message.text() == tr("no_styles", "de")  # German in German mode, not English
