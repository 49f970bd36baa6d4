"""The kiosk as a visitor and an operator use it: real Qt widgets (offscreen), a video file as the
camera through OpenCV, a real style server on 127.0.0.1 and a real SMTP inbox.

Screenshots go to a temporary folder; ``scripts/refresh_screenshots.py`` points them at docs/screenshots
(``PORTRAIT_SCREENSHOTS``) to refresh the README's pictures on purpose."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import signal
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit

from booth_client.app import BoothWindow
from booth_client.config import KioskConfig
from booth_client.i18n import tr
from booth_client.outbox import RequestOutbox
from booth_client.tasks import UiBridge
from shared.protocol import JobCreated, JobRequest
from tests.harness import (
    API_KEY,
    DEMO_PHOTO,
    Inbox,
    ServerProcess,
    free_port,
    post_demo_job,
    wait_until_nothing_left_to_send,
)

SCREENSHOTS_ENV = "PORTRAIT_SCREENSHOTS"
RETENTION_HOURS = 6  # the server's, unlike the kiosk's fallback of 24: the consent text must say 6


@pytest.fixture(scope="module")
def server(tmp_path_factory, cache_dir, inbox):
    """The real style server of this module, with its own retention time."""
    proc = ServerProcess(tmp_path_factory.mktemp("data"), cache_dir, inbox.port, retention_hours=RETENTION_HOURS)
    yield proc.start()
    proc.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """Where screenshots go: a temporary folder, unless the refresh script names docs/screenshots."""
    return Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path_factory.mktemp("screenshots"))


@pytest.fixture(scope="module")
def red_blue_video(tmp_path_factory) -> Path:
    """A camera that sees red on its left and blue on its right."""
    path = tmp_path_factory.mktemp("camera") / "red-left-blue-right.avi"
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[:, :160] = (0, 0, 255)  # BGR red
    frame[:, 160:] = (255, 0, 0)  # BGR blue
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (320, 240))
    for _ in range(50):
        writer.write(frame)
    writer.release()
    return path


def red_on_the_left(rgb: np.ndarray) -> bool:
    width = rgb.shape[1]
    left, right = rgb[:, : width // 4].reshape(-1, 3).mean(0), rgb[:, -width // 4 :].reshape(-1, 3).mean(0)
    return left[0] > 150 > left[2] and right[2] > 150 > right[0]


def make_window(qtbot, tmp_path, **overrides) -> BoothWindow:
    """A kiosk whose files (config, outbox, style cache, pinned certificate) live in ``tmp_path``."""
    config = KioskConfig(
        **{
            "api_key": API_KEY,
            "outbox_dir": tmp_path / "outbox",
            "countdown_s": 1,
            "fullscreen": False,
            "idle_timeout_s": 300,
            **overrides,
        }
    )
    window = BoothWindow(config, tmp_path / "kiosk.json", outbox_every_s=0.5)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    return window


def follow(window: BoothWindow, job: JobCreated) -> None:
    """The kiosk follows a job posted straight to the server, as after a visitor's send."""
    window.photo_jpeg = DEMO_PHOTO
    window.flow.start("progress", job)


def outbox_rounds(qtbot, window: BoothWindow, rounds: int) -> None:
    """Until the kiosk's outbox has ended ``rounds`` more passes (every 0.5 s here, 5 s at an event)."""
    ended: list[str] = []

    def count(said: str, _values: dict) -> None:
        ended.append(said)

    window.orders.outbox_said.connect(count)
    try:
        qtbot.waitUntil(lambda: len(ended) >= rounds, timeout=30000)
    finally:
        window.orders.outbox_said.disconnect(count)


def shot(folder: Path, window: BoothWindow, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    assert window.grab().save(str(folder / f"{name}.png"))


def unlock_panel(qtbot, window: BoothWindow) -> None:
    for _ in range(5):
        click(qtbot, window.attract.hidden_corner)
    assert window.current() == "operator"
    for digit in window.config.operator_pin:
        click(qtbot, window.operator.pin_pad.keys[digit])
    assert window.operator.unlocked


def click(qtbot, widget) -> None:
    assert widget.isEnabled(), widget.objectName() or widget.text()
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def take_photo(qtbot, window: BoothWindow, shots: Path | None = None) -> None:
    click(qtbot, window.attract.start_button)
    assert window.current() == "live"
    qtbot.waitUntil(lambda: window.photographer.camera.is_available, timeout=15000)
    before = window.photographer.frames_shown
    qtbot.waitUntil(lambda: window.photographer.frames_shown - before >= 15, timeout=10000)  # the preview runs
    if shots:
        shot(shots, window, "2-live")
    click(qtbot, window.live.take_button)
    qtbot.waitUntil(lambda: window.current() == "review", timeout=5000)
    assert window.photo_jpeg and window.photo_jpeg[:2] == b"\xff\xd8"


def type_address(qtbot, window: BoothWindow, address: str) -> None:
    for char in address:
        click(qtbot, window.email.keyboard.keys[char])
    assert window.email.address.text() == address


def send_portrait(qtbot, window: BoothWindow, style: str, address: str) -> None:
    """From the attract screen to a sent (or kept) request, as a visitor does it."""
    take_photo(qtbot, window)
    click(qtbot, window.review.keep_button)
    click(qtbot, window.gallery.style_buttons[style])
    type_address(qtbot, window, address)
    click(qtbot, window.email.consent)
    click(qtbot, window.email.send_button)


def test_whole_visitor_flow_ends_with_one_mail(qtbot, tmp_path, server, inbox, video, shots):
    window = make_window(qtbot, tmp_path, server_url=server.url, camera=str(video))
    qtbot.waitUntil(lambda: bool(window.catalogue.styles), timeout=20000)
    shot(shots, window, "1-attract")
    take_photo(qtbot, window, shots)
    shot(shots, window, "3-review")
    click(qtbot, window.review.retake_button)  # a way back: the visitor tries again
    assert window.current() == "live"
    click(qtbot, window.live.take_button)
    qtbot.waitUntil(lambda: window.current() == "review", timeout=5000)
    click(qtbot, window.review.keep_button)
    assert window.current() == "gallery" and "starry-night" in window.gallery.style_buttons
    click(qtbot, window.gallery.method_buttons["gatys"])
    assert not window.gallery.style_buttons["palette-01"].isEnabled()  # fast-only styles grey out
    shot(shots, window, "4-gallery")
    click(qtbot, window.gallery.style_buttons["starry-night"])
    assert window.current() == "email"
    type_address(qtbot, window, "ada@example.org")
    click(qtbot, window.email.send_button)
    assert window.email.message.text() == tr("need_consent", "en")  # consent is required
    click(qtbot, window.email.consent)
    assert f"{RETENTION_HOURS} hours" in window.email.consent.text()  # the server's promise, not a constant
    shot(shots, window, "5-email")
    before = len(inbox.messages())
    click(qtbot, window.email.send_button)
    qtbot.waitUntil(lambda: window.current() in ("progress", "result"), timeout=20000)
    if window.current() == "progress":
        shot(shots, window, "6-progress")
    qtbot.waitUntil(lambda: window.current() == "result", timeout=60000)
    shot(shots, window, "7-result")
    assert "ada@example.org" in window.result.detail.text()
    [mail] = inbox.wait_for(before + 1)[before:]
    assert mail["To"] == "ada@example.org"
    click(qtbot, window.result.finish_button)
    assert window.current() == "attract"
    gallery = window.gallery
    assert gallery.method == "fast" and gallery.method_buttons["fast"].isChecked()  # next visitor: the default


def test_lost_network_keeps_the_portrait_and_sends_it_once_later(qtbot, tmp_path, server, cache_dir, video, shots):
    online = make_window(qtbot, tmp_path, server_url=server.url, camera=str(video))
    qtbot.waitUntil(lambda: bool(online.catalogue.styles), timeout=20000)  # online once: the gallery is cached
    online.close()
    dead_port = free_port()  # the server is gone: nothing listens there any more
    window = make_window(qtbot, tmp_path, server_url=f"http://127.0.0.1:{dead_port}", camera=str(video))
    # a fresh kiosk without server: only the cache
    qtbot.waitUntil(lambda: bool(window.catalogue.styles), timeout=10000)
    assert [s.id for s in window.catalogue.styles] == [s.id for s in online.catalogue.styles]
    assert not window.gallery.style_buttons["palette-04"].icon().isNull()  # thumbnails from the cache as well
    assert f"{RETENTION_HOURS} hours" in window.email.consent.text()  # the server's retention, remembered
    take_photo(qtbot, window)
    click(qtbot, window.review.keep_button)
    click(qtbot, window.gallery.style_buttons["palette-04"])
    type_address(qtbot, window, "bo@example.org")
    click(qtbot, window.email.consent)
    click(qtbot, window.email.send_button)
    qtbot.waitUntil(lambda: window.current() == "result", timeout=20000)
    assert "bo@example.org" in window.result.detail.text() and "busy" in window.result.detail.text()
    shot(shots, window, "8-offline")
    assert len(window.outbox.pending()) == 1
    window.close()  # the kiosk restarts while offline: the outbox is on disk

    box = Inbox(tmp_path / "late-inbox").start()
    late = ServerProcess(tmp_path / "late-server", cache_dir, box.port)
    late.port, late.url = dead_port, f"http://127.0.0.1:{dead_port}"
    late.env["PORTRAIT_PORT"] = str(dead_port)
    try:
        late.start()
        again = make_window(qtbot, tmp_path, server_url=late.url, camera=str(video))
        qtbot.waitUntil(lambda: not again.outbox.pending(), timeout=30000)
        [mail] = box.wait_for(1, timeout=60)
        assert mail["To"] == "bo@example.org"
        outbox_rounds(qtbot, again, 2)  # a second pass must not send it again
        wait_until_nothing_left_to_send(late)
        assert len(box.messages()) == 1
    finally:
        late.stop()
        box.stop()


def test_the_mailed_portrait_is_not_mirrored_only_the_preview_is(qtbot, tmp_path, server, red_blue_video):
    window = make_window(qtbot, tmp_path, server_url=server.url, camera=str(red_blue_video))
    qtbot.waitUntil(lambda: bool(window.catalogue.styles), timeout=20000)
    take_photo(qtbot, window)
    assert not red_on_the_left(pixmap_rgb(window.live.view._pixmap))  # the preview is a mirror...
    assert not red_on_the_left(pixmap_rgb(window.review.view._pixmap))  # ...and so is the review
    assert red_on_the_left(np.asarray(Image.open(io.BytesIO(window.photo_jpeg))))
    click(qtbot, window.review.keep_button)
    click(qtbot, window.gallery.style_buttons["palette-04"])
    type_address(qtbot, window, "mira@example.org")
    click(qtbot, window.email.consent)
    click(qtbot, window.email.send_button)
    qtbot.waitUntil(lambda: window.orders.job is not None, timeout=20000)
    stored = Path(server.env["PORTRAIT_DATA_DIR"]) / "jobs" / window.orders.job.id / "portrait.png"
    assert red_on_the_left(np.asarray(Image.open(stored).convert("RGB")))  # what the server paints and mails


def pixmap_rgb(pixmap) -> np.ndarray:
    image = pixmap.toImage()
    rows = range(0, image.height(), 8)
    return np.array([[image.pixelColor(x, y).getRgb()[:3] for x in range(0, image.width(), 8)] for y in rows], np.uint8)


def test_old_config_files_with_mirror_still_load(tmp_path):
    path = tmp_path / "kiosk.json"
    path.write_text(json.dumps({"mirror": False, "operator_pin": "8642"}))
    config = KioskConfig.load(path)
    assert config.mirror_preview is False and config.mirror_capture is False and config.operator_pin == "8642"
    assert path.is_file()  # loaded as it is, not set aside as broken


def test_missing_camera_is_explained_and_reconnects(qtbot, tmp_path, video, shots):
    camera_file = tmp_path / "unplugged.avi"
    window = make_window(qtbot, tmp_path, server_url=f"http://127.0.0.1:{free_port()}", camera=str(camera_file))
    click(qtbot, window.attract.start_button)
    qtbot.waitUntil(lambda: window.live.message.text() == tr("camera_missing", "en"), timeout=10000)
    assert not window.live.take_button.isEnabled()
    shot(shots, window, "9-camera-missing")
    shutil.copy(video, camera_file)  # plugged back in
    qtbot.waitUntil(lambda: window.live.take_button.isEnabled(), timeout=15000)
    assert window.live.message.text() == ""


def another_pin(pin: str) -> str:
    return "".join(str((int(d) + 1) % 10) for d in pin)


def test_operator_panel_behind_pin_persists_settings(qtbot, tmp_path, server, video, shots):
    window = make_window(qtbot, tmp_path, server_url=server.url, camera=str(video))
    qtbot.waitUntil(lambda: bool(window.catalogue.styles), timeout=20000)
    pin = window.config.operator_pin
    assert len(pin) == 6 and window.config.operator_pin_generated  # made on first start: no published default
    assert KioskConfig.load(tmp_path / "kiosk.json").operator_pin == pin
    for _ in range(5):
        click(qtbot, window.attract.hidden_corner)
    assert window.current() == "operator"
    for digit in another_pin(pin):
        click(qtbot, window.operator.pin_pad.keys[digit])  # wrong PIN: stays locked
    assert not window.operator.unlocked
    for digit in pin:
        click(qtbot, window.operator.pin_pad.keys[digit])
    panel = window.operator
    assert panel.unlocked
    assert panel.pin_warning.isVisible() and "Change the PIN" in panel.pin_warning.text()
    assert panel.api_key.text() == API_KEY and panel.api_key.echoMode() == QLineEdit.EchoMode.Password
    click(qtbot, panel.show_key)
    assert panel.api_key.echoMode() == QLineEdit.EchoMode.Normal
    click(qtbot, panel.show_key)
    assert panel.api_key.echoMode() == QLineEdit.EchoMode.Password
    panel.idle.setValue(45)
    panel.language.setCurrentText("Deutsch")  # names, not codes
    first = panel.style_list.item(0)
    first.setCheckState(Qt.CheckState.Unchecked)
    panel.style_list.setCurrentRow(2)
    moved = panel.style_list.item(2).data(Qt.ItemDataRole.UserRole)
    click(qtbot, panel.up_button)  # touch-friendly reordering
    assert panel.style_list.item(1).data(Qt.ItemDataRole.UserRole) == moved
    shot(shots, window, "10-operator")
    panel.new_pin.setText("4321")  # the PIN older versions published
    click(qtbot, panel.buttons["save"])
    assert panel.status.text().startswith("Not saved") and panel.pin_warning.isVisible()
    panel.new_pin.setText("802468")
    click(qtbot, panel.buttons["save"])
    assert panel.status.text() == "Saved." and not panel.pin_warning.isVisible()
    saved = KioskConfig.load(tmp_path / "kiosk.json")
    assert saved.idle_timeout_s == 45 and saved.language == "de"
    assert saved.operator_pin == "802468" and not saved.operator_pin_generated
    assert saved.styles and first.data(Qt.ItemDataRole.UserRole) not in saved.styles
    assert saved.styles[0] == moved
    click(qtbot, panel.buttons["test_camera"])
    qtbot.waitUntil(lambda: "works" in panel.status.text(), timeout=10000)
    click(qtbot, panel.buttons["close"])
    assert window.current() == "attract"
    assert window.attract.start_button.text() == tr("touch_to_start", "de")  # the screens speak German now
    assert f"{RETENTION_HOURS} Stunden" in window.email.consent.text()
    for _ in range(5):
        click(qtbot, window.attract.hidden_corner)
    assert not panel.unlocked and panel.api_key.text() == ""  # locked again, nothing secret on screen


def test_idle_kiosk_returns_to_the_attract_screen_and_locks_the_panel(qtbot, tmp_path, video):
    window = make_window(
        qtbot, tmp_path, server_url=f"http://127.0.0.1:{free_port()}", camera=str(video), idle_timeout_s=5
    )
    click(qtbot, window.attract.start_button)
    assert window.current() == "live"
    qtbot.waitUntil(lambda: window.current() == "attract", timeout=8000)
    unlock_panel(qtbot, window)
    click(qtbot, window.operator.show_key)
    assert window.operator.api_key.echoMode() == QLineEdit.EchoMode.Normal
    qtbot.waitUntil(lambda: window.current() == "attract", timeout=8000)  # the operator walked away
    assert not window.operator.unlocked and window.operator.api_key.text() == ""
    assert window.operator.api_key.echoMode() == QLineEdit.EchoMode.Password


def test_wrong_pins_make_the_pad_wait_longer_each_time(qtbot, tmp_path, video):
    window = make_window(qtbot, tmp_path, server_url=f"http://127.0.0.1:{free_port()}", camera=str(video))
    panel = window.operator
    wrong = another_pin(window.config.operator_pin)
    for _ in range(5):
        click(qtbot, window.attract.hidden_corner)
    for _ in range(2):
        for digit in wrong:
            click(qtbot, panel.pin_pad.keys[digit])
    assert panel.pin_pad.isEnabled() and panel.pin_wait.text() == tr("pin_wrong", "en")  # two are allowed
    for digit in wrong:
        click(qtbot, panel.pin_pad.keys[digit])
    started = time.monotonic()
    assert not panel.pin_pad.isEnabled() and panel.pin_wait.text() == tr("pin_wait", "en", s=5)
    window.reset()  # leaving and coming back does not skip the wait
    for _ in range(5):
        click(qtbot, window.attract.hidden_corner)
    assert not panel.pin_pad.isEnabled()
    qtbot.waitUntil(lambda: panel.pin_pad.isEnabled(), timeout=10000)
    waited = time.monotonic() - started
    assert 4 <= waited <= 8, waited
    assert panel.pin_wait.text() == ""
    for digit in wrong:
        click(qtbot, panel.pin_pad.keys[digit])
    assert not panel.pin_pad.isEnabled() and panel.pin_wait.text() == tr("pin_wait", "en", s=10)  # it grows
    print(f"PIN waits: 5 s after 3 wrong PINs (measured {waited:.1f} s), 10 s after the 4th")


def age(entry_folder: Path, hours: float) -> None:
    meta = json.loads((entry_folder / "request.json").read_text())
    meta["created"] = time.time() - hours * 3600
    (entry_folder / "request.json").write_text(json.dumps(meta))


def test_outbox_is_erased_after_the_servers_retention_and_refusals_are_shown(qtbot, tmp_path, server, video):
    first = make_window(qtbot, tmp_path, server_url=server.url, camera=str(video))
    qtbot.waitUntil(lambda: bool(first.catalogue.styles), timeout=20000)
    assert first.catalogue.retention_hours == RETENTION_HOURS  # learnt from the server, kept for offline starts
    first.close()
    outbox = RequestOutbox(tmp_path / "outbox")
    ok = JobRequest(style="palette-04", method="fast", email="old@example.org", consent=True)
    old = outbox.add(DEMO_PHOTO, ok, "old-key")
    age(old.folder, RETENTION_HOURS + 1)
    refused = JobRequest(style="no-such-style", method="fast", email="ref@example.org", consent=True)
    outbox.add(DEMO_PHOTO, refused, "refused-key")
    old_refusal = outbox.add(DEMO_PHOTO, refused, "old-refusal-key")
    outbox.set_aside(old_refusal, "refused long ago")
    age(outbox.rejected_folder / old_refusal.folder.name, RETENTION_HOURS + 1)
    jobs = Path(server.env["PORTRAIT_DATA_DIR"]) / "jobs"
    before = sorted(jobs.iterdir())

    window = make_window(qtbot, tmp_path, server_url=server.url, camera=str(video))
    qtbot.waitUntil(lambda: not window.outbox.pending() and len(window.outbox.rejected()) == 1, timeout=20000)
    [entry] = window.outbox.rejected()
    assert entry.idempotency_key == "refused-key" and "no-such-style" in entry.reason
    assert not old.folder.exists() and not (outbox.rejected_folder / old_refusal.folder.name).exists()
    assert sorted(jobs.iterdir()) == before  # the expired request was erased, never sent
    unlock_panel(qtbot, window)
    qtbot.waitUntil(lambda: window.operator.rejected_list.count() == 1, timeout=10000)
    assert "no-such-style" in window.operator.rejected_list.item(0).text()


def test_a_silent_progress_stream_is_dropped_and_followed_again(qtbot, tmp_path, server, video):
    window = make_window(qtbot, tmp_path, server_url=server.url, camera=str(video), events_read_timeout_s=1.0)
    qtbot.waitUntil(lambda: bool(window.catalogue.styles), timeout=20000)
    job = post_demo_job(server)
    server.proc.send_signal(signal.SIGSTOP)  # the server goes silent without closing anything: a half-open line
    try:
        follow(window, job)
        started = time.monotonic()
        qtbot.waitUntil(lambda: window.orders.event_reconnects >= 2, timeout=20000)
        noticed = time.monotonic() - started
        assert window.current() == "progress"
        assert window.progress.detail.text() == tr("arrives_anyway", "en")  # calm words, no error box
    finally:
        server.proc.send_signal(signal.SIGCONT)
    qtbot.waitUntil(lambda: window.current() == "result", timeout=30000)  # followed again, to the end
    print(f"silent stream dropped and reopened twice in {noticed:.1f} s (read timeout 1 s)")


def test_background_errors_are_logged_never_dropped(qtbot, caplog):
    bridge = UiBridge()

    def broken() -> None:
        raise RuntimeError("the disk is full")

    with caplog.at_level(logging.WARNING, logger="booth_client.tasks"):
        bridge.run(broken, lambda _: None, what="following job 42").join(5)  # no error handler given
        bridge.run(lambda: 1, lambda _: 1 / 0, what="showing an answer")  # the UI side fails
        qtbot.waitUntil(lambda: bridge.errors == 2, timeout=5000)
    [worker] = [r for r in caplog.records if "following job 42 failed" in r.getMessage()]
    assert "the disk is full" in worker.getMessage() and worker.exc_info  # with its traceback
    [ui] = [r for r in caplog.records if "showing a background answer" in r.getMessage()]
    assert ui.exc_info[0] is ZeroDivisionError


def test_the_operator_panel_is_drawn_from_kiosk_config_with_names_not_codes(qtbot, tmp_path, server, video):
    from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLabel, QSpinBox

    from booth_client.config import GROUPS

    window = make_window(qtbot, tmp_path, server_url=server.url, camera=str(video))
    qtbot.waitUntil(lambda: bool(window.catalogue.styles), timeout=20000)
    unlock_panel(qtbot, window)
    panel = window.operator
    hints = {n: f.json_schema_extra["panel"] for n, f in KioskConfig.model_fields.items() if f.json_schema_extra}
    assert list(panel.fields) == [n for g in GROUPS for n, h in hints.items() if h["group"] == g]  # in model order
    kinds = {bool: QCheckBox, int: QSpinBox, float: QDoubleSpinBox, str: QLineEdit}
    for name, widget in panel.fields.items():
        field = KioskConfig.model_fields[name]
        assert isinstance(widget, kinds.get(field.annotation, QComboBox)), name
        labels = [w.text() for w in widget.parentWidget().findChildren(QLabel)]
        assert field.description in labels, name  # the description is the label
    assert [panel.language.itemText(i) for i in range(panel.language.count())] == ["English", "Deutsch"]
    assert [panel.method.itemText(i) for i in range(panel.method.count())] == ["Instant", "Masterpiece"]
    names = [panel.style_list.item(i).text() for i in range(panel.style_list.count())]
    assert "The Starry Night" in names and "starry-night" not in names  # style names, not ids
    panel.fields["show_qr"].setChecked(True)  # settings no one wrote panel code for
    panel.fields["countdown_s"].setValue(5)
    panel.fields["mirror_capture"].setChecked(True)
    panel.fields["catalogue_refresh_s"].setValue(120)
    panel.method.setCurrentText("Masterpiece")
    click(qtbot, panel.buttons["save"])
    assert panel.status.text() == "Saved."
    saved = KioskConfig.load(tmp_path / "kiosk.json")
    assert (saved.show_qr, saved.countdown_s, saved.mirror_capture) == (True, 5, True)
    assert saved.catalogue_refresh_s == 120 and saved.default_method == "gatys"  # the file keeps the codes
    for edit in panel.findChildren(QLineEdit):  # 32 px text with 12 px padding: descenders are not clipped
        assert edit.height() >= edit.fontMetrics().height() + 24, (edit.objectName(), edit.height())


def test_the_panels_text_fields_have_an_on_screen_keyboard(qtbot, tmp_path, video):
    window = make_window(qtbot, tmp_path, server_url=f"http://127.0.0.1:{free_port()}", camera=str(video))
    unlock_panel(qtbot, window)
    panel, keyboard = window.operator, window.operator.keyboard
    click(qtbot, panel.server_url)
    panel.server_url.clear()
    for key in "http://localhost:8000":
        click(qtbot, keyboard.keys[key])
    assert panel.server_url.text() == "http://localhost:8000"
    click(qtbot, panel.api_key)
    panel.api_key.clear()
    for key in ("⇧", "k", "e", "y", "_", "⇧", "a", "1", "="):
        click(qtbot, keyboard.keys[key])
    click(qtbot, keyboard.keys["⌫"])
    assert panel.api_key.text() == "Key_A1"  # Shift for one letter; backspace
    click(qtbot, panel.buttons["save"])
    assert panel.status.text() == "Saved."
    saved = KioskConfig.load(tmp_path / "kiosk.json")
    assert saved.server_url == "http://localhost:8000" and saved.api_key == "Key_A1"


def test_the_panels_status_line_is_not_overwritten_by_the_outbox(qtbot, tmp_path, video):
    window = make_window(qtbot, tmp_path, server_url=f"http://127.0.0.1:{free_port()}", camera=str(video))
    unlock_panel(qtbot, window)
    panel = window.operator
    click(qtbot, panel.buttons["test_email"])  # no styles loaded: the status says so
    said = panel.status.text()
    assert said.startswith("No styles loaded")
    outbox_rounds(qtbot, window, 3)
    assert panel.outbox_status.text().startswith("Outbox: 0 waiting") and panel.status.text() == said
