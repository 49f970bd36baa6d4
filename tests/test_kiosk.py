"""The kiosk as a visitor and an operator use it: real Qt widgets (offscreen), a video file as the
camera through OpenCV, a real style server on 127.0.0.1 and a real SMTP inbox."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from booth_client.app import BoothWindow
from booth_client.config import KioskConfig
from booth_client.demo import make_demo_video
from booth_client.i18n import tr
from tests.conftest import ROOT
from tests.harness import API_KEY, Inbox, ServerProcess, free_port

SHOTS = ROOT / "docs" / "screenshots"


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return make_demo_video(tmp_path_factory.mktemp("camera") / "webcam.avi")


def make_window(qtbot, tmp_path, **overrides) -> BoothWindow:
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


def shot(window: BoothWindow, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert window.grab().save(str(SHOTS / f"{name}.png"))


def click(qtbot, widget) -> None:
    assert widget.isEnabled(), widget.objectName() or widget.text()
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def take_photo(qtbot, window: BoothWindow, screenshots: bool = False) -> None:
    click(qtbot, window.attract.start_button)
    assert window.current() == "live"
    qtbot.waitUntil(lambda: window.camera.is_available, timeout=15000)
    before = window.preview_frames
    qtbot.wait(1000)
    assert window.preview_frames - before >= 15, "the live preview runs at 15 fps or more"
    if screenshots:
        shot(window, "2-live")
    click(qtbot, window.live.take_button)
    qtbot.waitUntil(lambda: window.current() == "review", timeout=5000)
    assert window.photo_jpeg and window.photo_jpeg[:2] == b"\xff\xd8"


def type_address(qtbot, window: BoothWindow, address: str) -> None:
    for char in address:
        click(qtbot, window.email.keyboard.keys[char])
    assert window.email.address.text() == address


def test_whole_visitor_flow_ends_with_one_mail(qtbot, tmp_path, server, inbox, video):
    window = make_window(qtbot, tmp_path, server_url=server.url, camera=str(video))
    qtbot.waitUntil(lambda: bool(window.styles), timeout=20000)
    shot(window, "1-attract")
    take_photo(qtbot, window, screenshots=True)
    shot(window, "3-review")
    click(qtbot, window.review.retake_button)  # a way back: the visitor tries again
    assert window.current() == "live"
    click(qtbot, window.live.take_button)
    qtbot.waitUntil(lambda: window.current() == "review", timeout=5000)
    click(qtbot, window.review.keep_button)
    assert window.current() == "gallery" and "starry-night" in window.gallery.style_buttons
    click(qtbot, window.gallery.masterpiece)
    assert not window.gallery.style_buttons["palette-01"].isEnabled()  # fast-only styles grey out
    shot(window, "4-gallery")
    click(qtbot, window.gallery.style_buttons["starry-night"])
    assert window.current() == "email"
    type_address(qtbot, window, "ada@example.org")
    click(qtbot, window.email.send_button)
    assert window.email.message.text() == tr("need_consent", "en")  # consent is required
    click(qtbot, window.email.consent)
    shot(window, "5-email")
    before = len(inbox.messages())
    click(qtbot, window.email.send_button)
    qtbot.waitUntil(lambda: window.current() in ("progress", "result"), timeout=20000)
    if window.current() == "progress":
        shot(window, "6-progress")
    qtbot.waitUntil(lambda: window.current() == "result", timeout=60000)
    shot(window, "7-result")
    assert "ada@example.org" in window.result.detail.text()
    [mail] = inbox.wait_for(before + 1)[before:]
    assert mail["To"] == "ada@example.org"
    click(qtbot, window.result.finish_button)
    assert window.current() == "attract"


def test_lost_network_keeps_the_portrait_and_sends_it_once_later(qtbot, tmp_path, server, cache_dir, video):
    window = make_window(qtbot, tmp_path, server_url=server.url, camera=str(video))
    qtbot.waitUntil(lambda: bool(window.styles), timeout=20000)  # online once: the gallery is cached
    dead_port = free_port()
    window.apply_config(window.config.model_copy(update={"server_url": f"http://127.0.0.1:{dead_port}"}))
    qtbot.waitUntil(lambda: bool(window.styles), timeout=5000)
    take_photo(qtbot, window)
    click(qtbot, window.review.keep_button)
    click(qtbot, window.gallery.style_buttons["palette-04"])
    type_address(qtbot, window, "bo@example.org")
    click(qtbot, window.email.consent)
    click(qtbot, window.email.send_button)
    qtbot.waitUntil(lambda: window.current() == "result", timeout=20000)
    assert "bo@example.org" in window.result.detail.text() and "busy" in window.result.detail.text()
    shot(window, "8-offline")
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
        again.flush_outbox()  # a second pass must not send it again
        qtbot.wait(2000)
        assert len(box.messages()) == 1
    finally:
        late.stop()
        box.stop()


def test_missing_camera_is_explained_and_reconnects(qtbot, tmp_path, video):
    camera_file = tmp_path / "unplugged.avi"
    window = make_window(qtbot, tmp_path, server_url=f"http://127.0.0.1:{free_port()}", camera=str(camera_file))
    click(qtbot, window.attract.start_button)
    qtbot.wait(500)
    assert window.live.message.text() == tr("camera_missing", "en")
    assert not window.live.take_button.isEnabled()
    shot(window, "9-camera-missing")
    shutil.copy(video, camera_file)  # plugged back in
    qtbot.waitUntil(lambda: window.live.take_button.isEnabled(), timeout=15000)
    assert window.live.message.text() == ""


def test_operator_panel_behind_pin_persists_settings(qtbot, tmp_path, server, video):
    window = make_window(qtbot, tmp_path, server_url=server.url, camera=str(video))
    qtbot.waitUntil(lambda: bool(window.styles), timeout=20000)
    for _ in range(5):
        click(qtbot, window.attract.hidden_corner)
    assert window.current() == "operator"
    for digit in "1111":
        click(qtbot, window.operator.pin_pad.keys[digit])  # wrong PIN: stays locked
    assert window.operator.pages.currentIndex() == 0
    for digit in "4321":
        click(qtbot, window.operator.pin_pad.keys[digit])
    assert window.operator.pages.currentIndex() == 1
    window.operator.idle.setValue(45)
    window.operator.language.setCurrentText("de")
    first = window.operator.style_list.item(0)
    first.setCheckState(Qt.CheckState.Unchecked)
    window.operator.style_list.setCurrentRow(2)
    moved = window.operator.style_list.item(2).text()
    click(qtbot, window.operator.up_button)  # touch-friendly reordering
    assert window.operator.style_list.item(1).text() == moved
    shot(window, "10-operator")
    click(qtbot, window.operator.buttons["Save"])
    saved = KioskConfig.load(tmp_path / "kiosk.json")
    assert saved.idle_timeout_s == 45 and saved.language == "de"
    assert saved.styles and first.text() not in saved.styles
    assert saved.styles[0] == moved
    click(qtbot, window.operator.buttons["Test camera"])
    qtbot.waitUntil(lambda: "works" in window.operator.status.text(), timeout=10000)
    click(qtbot, window.operator.buttons["Close"])
    assert window.current() == "attract"
    assert window.attract.start_button.text() == tr("touch_to_start", "de")  # the screens speak German now


def test_idle_kiosk_returns_to_the_attract_screen(qtbot, tmp_path, video):
    window = make_window(
        qtbot, tmp_path, server_url=f"http://127.0.0.1:{free_port()}", camera=str(video), idle_timeout_s=5
    )
    click(qtbot, window.attract.start_button)
    assert window.current() == "live"
    qtbot.waitUntil(lambda: window.current() == "attract", timeout=8000)
