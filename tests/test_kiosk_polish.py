"""The kiosk at its best, one numbered test per point (more of it in test_kiosk_flow, test_kiosk_walk and
test_launcher): real kiosk windows (offscreen Qt), the demo video as the camera, and no server unless one is
needed: the kiosk's own style cache gives the gallery its styles, as after a day when the server was up."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QAbstractButton, QComboBox, QLabel, QLineEdit, QWidget

from booth_client.app import BoothWindow
from booth_client.camera import Camera
from booth_client.catalogue import StyleCache
from booth_client.config import KioskConfig
from booth_client.i18n import CATALOGUES, tr
from booth_client.widgets import THEME, TOUCH
from shared.protocol import JobCreated, JobRequest, JobStatus, StyleInfo, StyleList
from tests.harness import API_KEY, DEMO_PHOTO, free_port
from tests.test_kiosk import click, unlock_panel
from tests.test_kiosk_flow import StreamCamera

STYLE_IDS = [f"palette-{i:02d}" for i in range(1, 7)]


def cached_catalogue(data_dir: Path) -> None:
    """What a kiosk keeps of its server's catalogue (six styles, the demo portrait as each thumbnail)."""
    styles = [
        StyleInfo(
            id=style_id,
            name=f"Style {i}",
            names={"de": f"Stil {i}"},
            artist="a painter",
            licence="CC0",
            kind="multistyle",
            methods=["fast", "gatys"],
            thumbnail_url=f"/v1/styles/{style_id}/thumbnail",
            attribution="",
        )
        for i, style_id in enumerate(STYLE_IDS)
    ]
    StyleCache(data_dir / "styles-cache").save(
        StyleList(styles=styles, retention_hours=6), dict.fromkeys(STYLE_IDS, DEMO_PHOTO)
    )


def kiosk(folder: Path, camera: str, **overrides) -> BoothWindow:
    """A kiosk without a server (nothing listens on its port) and with a cached catalogue, at 1280x800."""
    cached_catalogue(folder)
    config = KioskConfig(
        api_key=API_KEY,
        outbox_dir=folder / "outbox",
        fullscreen=False,
        idle_timeout_s=300,
        server_url=f"http://127.0.0.1:{free_port()}",
        camera=camera,
        **overrides,
    )
    window = BoothWindow(config, folder / "kiosk.json", outbox_every_s=3600)
    window.resize(1280, 800)
    window.show()
    return window


@pytest.fixture(scope="module")
def en(qapp, tmp_path_factory, video):
    window = kiosk(tmp_path_factory.mktemp("en"), str(video), address_shown_s=1, show_qr=True)
    yield window
    window.close()


@pytest.fixture(scope="module")
def de(qapp, tmp_path_factory, video):
    window = kiosk(tmp_path_factory.mktemp("de"), str(video), language="de")
    yield window
    window.close()


@pytest.fixture
def window_en(qtbot, en):
    """The English kiosk, back on its attract screen at 1280x800, with its styles."""
    qtbot.waitUntil(lambda: bool(en.catalogue.styles), timeout=10000)
    en.resize(1280, 800)
    en.reset()
    return en


@pytest.fixture
def window_de(qtbot, de):
    qtbot.waitUntil(lambda: bool(de.catalogue.styles), timeout=10000)
    de.resize(1280, 800)
    de.reset()
    return de


def a_job(style: str = STYLE_IDS[0], method: str = "gatys") -> JobCreated:
    now = datetime.now(UTC)
    status = JobStatus(id="j1", state="queued", method=method, style=style, eta_seconds=600, created_at=now)
    return JobCreated(id="j1", token="t", status=status)


def rgb(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    data = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return data[:, : image.width() * 3].reshape(image.height(), image.width(), 3).astype(float)


def luminance(colour: np.ndarray) -> np.ndarray:
    c = colour / 255
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return c @ np.array([0.2126, 0.7152, 0.0722])


# -- 1 -------------------------------------------------------------------------------------------------------


def test_1_a_visitor_waiting_for_the_painting_never_idles_out(qtbot, window_en):
    window = window_en
    window.flow.start("progress", a_job())  # a masterpiece: ten minutes, longer than any idle timeout
    assert window.current() == "progress"
    assert not window.flow.idle_timer.isActive()  # no return to attract after idle_timeout_s
    window.flow.touched()  # a touch does not start it either
    assert not window.flow.idle_timer.isActive()
    assert window.progress.finish_button.isEnabled()  # the visitor's own way out stays
    click(qtbot, window.progress.finish_button)
    assert window.flow.state == "attract"


# -- 2 -------------------------------------------------------------------------------------------------------


def indicator(window: BoothWindow, checked: bool) -> np.ndarray:
    consent = window.email.consent
    consent.setChecked(checked)
    margin = consent.layout().contentsMargins().left()
    return rgb(consent.grab().toImage())[:, :margin]


def test_2_the_consent_box_is_drawn_and_its_tick_is_obvious(qtbot, window_en):
    window = window_en
    window.photo_jpeg = DEMO_PHOTO
    window.flow.start("email", STYLE_IDS[0], "fast")
    qtbot.waitUntil(lambda: window.email.consent.isVisible())
    ground = np.array(QColor(THEME["ground"]).getRgb()[:3], float)
    empty = indicator(window, False)
    drawn = np.abs(empty - ground).sum(axis=2) > 60
    ys, xs = np.nonzero(drawn)
    assert drawn.any(), "the unticked box is not drawn at all"
    assert xs.max() - xs.min() + 1 >= TOUCH and ys.max() - ys.min() + 1 >= TOUCH, (xs.ptp(), ys.ptp())
    edge = luminance(empty[drawn]).max()
    assert (edge + 0.05) / (luminance(ground) + 0.05) >= 3, "its outline stands out (WCAG 1.4.11: 3:1)"
    ticked = indicator(window, True)
    changed = np.abs(ticked - empty).sum(axis=2) > 90
    assert changed.sum() >= 0.5 * TOUCH * TOUCH, "ticked looks clearly different from not ticked"
    window.email.consent.setChecked(False)


# -- 3 -------------------------------------------------------------------------------------------------------


def test_3_the_qr_code_leaves_with_the_address(qtbot, window_en):
    window = window_en
    window.photo_jpeg = DEMO_PHOTO
    window.last_request = (JobRequest(style=STYLE_IDS[0], email="ada@example.org", consent=True), "key")
    url = "https://booth.example.org/v1/download/" + "x" * 32
    window.flow.start("result", a_job(), DEMO_PHOTO, "", url)
    assert window.result.qr.isVisible() and "ada@example.org" in window.result.detail.text()
    qtbot.waitUntil(lambda: "ada@example.org" not in window.result.detail.text(), timeout=5000)
    assert window.result.qr_url is None and not window.result.qr.isVisible()  # it leaves with the address
    window._download_job = None  # no server here to end the link with (test_kiosk_flow does it with one)


# -- 4 -------------------------------------------------------------------------------------------------------


def test_4_the_attract_screen_says_the_server_is_offline_before_anyone_poses(qtbot, window_en):
    window = window_en
    qtbot.waitUntil(lambda: window.photographer.camera.is_available and window.catalogue.attempt >= 1, timeout=15000)
    assert not window.catalogue.server_reached
    assert window.attract.unavailable.text() == tr("server_offline", "en")  # said, not left blank
    assert window.attract.start_button.isEnabled()  # the outbox takes the portrait meanwhile
    try:
        window.config = window.config.model_copy(update={"offline_outbox": False})
        window._show_availability()
        assert window.attract.unavailable.text() == tr("unavailable", "en")
        assert not window.attract.start_button.isEnabled()  # no outbox: nobody poses for nothing
    finally:
        window.config = window.config.model_copy(update={"offline_outbox": True})
        window._show_availability()


# -- 5 -------------------------------------------------------------------------------------------------------


def test_5_a_failed_painting_is_said_calmly_with_retry_and_start_over(qtbot, window_de):
    window = window_de
    window.photo_jpeg = DEMO_PHOTO
    request = JobRequest(style=STYLE_IDS[1], method="gatys", email="ada@example.org", consent=True, language="de")
    window.last_request = (request, "first-key")
    reason = "the optimiser diverged (NaN loss)"
    window.flow.start("result", a_job(STYLE_IDS[1]), None, reason)
    shown = window.result.findChildren(QLabel) + window.result.findChildren(QAbstractButton)
    texts = [w.text() for w in shown if w.isVisible()]
    assert window.result.heading.text() == tr("job_failed", "de")
    assert not [t for t in texts if "optimiser" in t], texts  # the server's English reason is for the log
    assert window.result.retry_button.isVisible() and window.result.retry_button.text() == tr("try_again", "de")
    assert window.result.finish_button.text() == tr("start_over", "de")
    click(qtbot, window.result.retry_button)  # nothing listens: the outbox keeps the same photo and style
    qtbot.waitUntil(lambda: window.flow.state == "offline", timeout=10000)
    [entry] = window.outbox.pending()
    assert entry.portrait == DEMO_PHOTO and (entry.request.style, entry.request.method) == (STYLE_IDS[1], "gatys")
    assert entry.idempotency_key != "first-key"  # a new request: the failed one would be answered as failed
    window.outbox.remove(entry)
    click(qtbot, window.result.finish_button)
    assert window.flow.state == "attract" and not window.result.retry_button.isVisible()


# -- 7 -------------------------------------------------------------------------------------------------------


def test_7_gallery_tiles_attract_samples_and_the_preview_grow_with_the_window(qtbot, window_en):
    window = window_en
    window.photo_jpeg = DEMO_PHOTO
    for width, height, share in ((1280, 800, 0.18), (1366, 768, 0.17), (1080, 1920, 0.26)):
        window.resize(width, height)
        window.flow.start("gallery")
        tile = window.gallery.style_buttons[STYLE_IDS[0]]
        qtbot.waitUntil(lambda t=tile, w=width, s=share: t.picture.height() >= s * w, timeout=3000)
        assert tile.picture.pixmap().width() >= 0.9 * tile.picture.height()  # the picture fills it, sharp
        assert tile.height() <= window.gallery.scroll_area.viewport().height()  # a whole tile stays in view
    window.flow.start("attract")
    qtbot.waitUntil(lambda: window.attract.sample_views[0].width() >= 0.4 * 1080, timeout=3000)  # 2 x 2
    window.photo_jpeg = DEMO_PHOTO  # the attract screen forgot the last one
    window.flow.start("progress", a_job())
    preview = window.progress.preview
    fills = lambda: max(preview.pixmap().width() / preview.width(), preview.pixmap().height() / preview.height())  # noqa: E731
    qtbot.waitUntil(lambda: fills() >= 0.95, timeout=3000)  # scaled to fill, not left at the photo's own pixels
    window.flow.fire("finish")


# -- 9 -------------------------------------------------------------------------------------------------------


def test_9_the_panel_keyboard_types_where_the_cursor_is(qtbot, window_en):
    window = window_en
    unlock_panel(qtbot, window)
    panel = window.operator
    panel.pages.currentWidget().ensureWidgetVisible(panel.server_url)
    click(qtbot, panel.server_url)
    url = panel.server_url.text()
    spin = panel.idle
    panel.pages.currentWidget().ensureWidgetVisible(spin)
    qtbot.mouseClick(spin, Qt.MouseButton.LeftButton, pos=QPoint(spin.width() - 20, spin.height() // 2))  # an arrow
    click(qtbot, panel.keyboard.keys["⌫"])
    assert panel.server_url.text() == url  # not the field touched before
    assert panel.keyboard.target is spin  # the box with the cursor takes the keys
    click(qtbot, panel.buttons["close"])


# -- 10 ------------------------------------------------------------------------------------------------------


def test_10_leave_kiosk_asks_before_it_quits(qtbot, tmp_path, video):
    window = kiosk(tmp_path, str(video))
    qtbot.addWidget(window)
    unlock_panel(qtbot, window)
    leave = window.operator.buttons["leave"]
    click(qtbot, leave)
    assert window.isVisible()  # not at the first tap
    assert leave.text() == "Tap again to leave" and "again" in window.operator.status.text()
    click(qtbot, leave)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=3000)


# -- 11 ------------------------------------------------------------------------------------------------------


def test_11_close_without_save_forgets_the_edits(qtbot, window_en):
    window = window_en
    unlock_panel(qtbot, window)
    panel = window.operator
    first = panel.style_list.item(0)
    assert first.checkState() == Qt.CheckState.Checked
    first.setCheckState(Qt.CheckState.Unchecked)
    panel.style_list.setCurrentRow(1)
    click(qtbot, panel.up_button)  # the second style moved to the top
    panel.idle.setValue(999)
    panel.test_address.setText("someone@example.org")
    click(qtbot, panel.buttons["close"])
    unlock_panel(qtbot, window)
    items = [panel.style_list.item(i) for i in range(panel.style_list.count())]
    assert [i.data(Qt.ItemDataRole.UserRole) for i in items] == STYLE_IDS  # the order as saved
    assert all(i.checkState() == Qt.CheckState.Checked for i in items)  # the unsaved untick is gone
    assert panel.idle.value() == window.config.idle_timeout_s and panel.test_address.text() == ""
    click(qtbot, panel.buttons["close"])


# -- 12 ------------------------------------------------------------------------------------------------------


def test_12_the_pin_pad_shows_the_digits_as_dots_and_says_wrong(qtbot, window_de):
    window = window_de
    for _ in range(5):
        click(qtbot, window.attract.hidden_corner)
    panel = window.operator
    pin = window.config.operator_pin
    wrong = "".join("1" if d != "1" else "2" for d in pin)
    assert panel.pin_display.text() == "○" * len(pin)  # how many digits to enter
    for digit in wrong[:2]:
        click(qtbot, panel.pin_pad.keys[digit])
    assert panel.pin_display.text() == "●●" + "○" * (len(pin) - 2)
    for digit in wrong[2:]:
        click(qtbot, panel.pin_pad.keys[digit])
    assert panel.pin_wait.text() == tr("pin_wrong", "de")  # said at once, not only from the third
    assert panel.pin_display.text() == "○" * len(pin)
    click(qtbot, panel.pin_pad.keys[pin[0]])
    assert panel.pin_wait.text() == ""  # said until the next try starts
    window.reset()


# -- 13 ------------------------------------------------------------------------------------------------------


def english_patterns() -> list[re.Pattern]:
    """The panel's English texts (those German changes), a template's values matching anything."""
    english = [text for text_id, text in CATALOGUES["en"].items() if text != CATALOGUES["de"][text_id]]
    return [re.compile(re.sub(r"\\\{[^}]*\\\}", ".*", re.escape(text)) + "$", re.S) for text in english]


def panel_texts(panel: QWidget) -> list[str]:
    texts = []
    for widget in panel.findChildren(QWidget):
        if isinstance(widget, QLabel | QAbstractButton) and widget.text():
            texts.append(widget.text())
        if isinstance(widget, QLineEdit) and widget.placeholderText():
            texts.append(widget.placeholderText())
        if isinstance(widget, QComboBox):
            texts += [widget.itemText(i) for i in range(widget.count())]
    return texts


def test_13_the_german_panel_speaks_german_only(qtbot, window_de):
    window = window_de
    unlock_panel(qtbot, window)
    panel = window.operator
    window.orders.flush()
    qtbot.waitUntil(lambda: panel.outbox_status.text() != "", timeout=5000)
    patterns = english_patterns()
    english = [t for t in panel_texts(panel) if any(p.match(t) for p in patterns)]
    assert not english, f"English in the German panel: {english}"
    assert [panel.method.itemText(i) for i in range(panel.method.count())] == ["Sofort", "Meisterwerk"]
    assert panel.outbox_status.text().startswith("Ausgang: 0")
    assert panel.style_list.item(0).text() == "Stil 0"  # the styles' German names
    panel.pages.currentWidget().ensureWidgetVisible(panel.test_address)
    click(qtbot, panel.test_address)
    click(qtbot, panel.keyboard.keys["space"])  # labelled "Leertaste": it types a space, not the label
    assert panel.keyboard.keys["space"].text() == "Leertaste" and panel.test_address.text() == " "
    click(qtbot, panel.buttons["close"])


# -- 15 ------------------------------------------------------------------------------------------------------


def test_15_an_unplugged_camera_is_in_the_log(qtbot, caplog):
    stream = StreamCamera()
    camera = Camera(stream.url, 320, 240)
    try:
        with caplog.at_level(logging.INFO, logger="booth_client.camera"):
            camera.start()
            qtbot.waitUntil(lambda: camera.is_available, timeout=15000)
            stream.unplug()
            qtbot.waitUntil(lambda: not camera.is_available, timeout=15000)
            qtbot.waitUntil(lambda: any(r.levelno == logging.WARNING for r in caplog.records), timeout=5000)
    finally:
        camera.stop()
        if not stream.unplugged.is_set():
            stream.unplug()
    [lost] = [r for r in caplog.records if "no picture" in r.getMessage()]
    assert lost.levelno == logging.WARNING and stream.url in lost.getMessage()
    assert any("picture back" in r.getMessage() for r in caplog.records)  # and when it came
