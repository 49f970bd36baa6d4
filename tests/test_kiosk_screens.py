"""What the visitor sees, screen by screen (offscreen Qt, a real style server on 127.0.0.1): every screen fits
the kiosk displays in both languages with no text cut off, the gallery scrolls under a finger, results are
never blown up, the progress screen tells the time left and the result screen can show a QR code that a
real QR reader (OpenCV) reads back."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QColor, QImage, QPixmap
from PySide6.QtWidgets import QAbstractButton, QAbstractScrollArea, QApplication, QLabel, QScroller, QWidget

from booth_client.i18n import tr
from booth_client.screens import ResultScreen
from booth_client.widgets import ImageView, WrapCheckBox, qr_pixmap
from tests.harness import free_port
from tests.test_kiosk import click, make_window, unlock_panel

DISPLAYS = [(1280, 800), (1366, 768), (1920, 1080), (1080, 1920)]  # the last: a portrait touchscreen
SCREENSHOTS_ENV = "PORTRAIT_SCREENSHOTS"
LONG_ADDRESS = "maximiliane.mustermann-lüdenscheid@beispiel-verein.example.org"


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path_factory.mktemp("screenshots"))


def in_scroll_area(widget: QWidget, top: QWidget) -> bool:
    parent = widget.parentWidget()
    while parent is not None and parent is not top:
        if isinstance(parent, QAbstractScrollArea):
            return True
        parent = parent.parentWidget()
    return False


def cut_off(screen: QWidget, window: QWidget) -> list[str]:
    """Every text on ``screen`` that does not fit its widget, and every widget that runs off the window."""
    problems = []
    whole = window.rect()
    for widget in screen.findChildren(QWidget):
        if not widget.isVisible() or widget.width() == 0:
            continue
        box = QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())
        if not in_scroll_area(widget, screen) and not whole.contains(box):
            problems.append(f"{type(widget).__name__} {widget.objectName()!r} at {box.getRect()} is off the window")
        if isinstance(widget, QLabel) and widget.text() and not isinstance(widget, ImageView):
            text = widget.text()[:40]
            if widget.wordWrap():
                if widget.heightForWidth(widget.width()) > widget.height():
                    problems.append(
                        f"label {text!r}: needs {widget.heightForWidth(widget.width())} px, has {widget.height()}"
                    )
                if widget.minimumSizeHint().width() > widget.width():
                    problems.append(f"label {text!r}: a word is wider than the label ({widget.width()} px)")
            elif widget.sizeHint().width() > widget.width() or widget.sizeHint().height() > widget.height():
                problems.append(f"label {text!r}: {widget.sizeHint().toTuple()} in {widget.size().toTuple()}")
        if isinstance(widget, QAbstractButton) and not isinstance(widget, WrapCheckBox) and widget.text():
            needed = widget.fontMetrics().horizontalAdvance(widget.text())
            if needed > widget.contentsRect().width() or widget.sizeHint().height() > widget.height() + 1:
                problems.append(f"button {widget.text()!r}: text {needed} px in {widget.size().toTuple()}")
    return problems


def fill_every_screen(window, language: str) -> None:
    """Put the longest texts each screen can show on it: the worst case for fitting."""
    window.email.address.setText(LONG_ADDRESS)
    window.email.message.setText(tr("need_consent", language))
    window.live.set_camera_available(False)
    window.live.message.setText(tr("camera_missing", language))
    window.progress.update_status(0.4, 3, 1234.0)
    window.progress.detail.setText(tr("arrives_anyway", language))
    window.result.detail.setText(tr("offline", language, email=LONG_ADDRESS))
    window.result.show_qr("https://booth.example.org/d/" + "x" * 43)
    painting = QPixmap(256, 256)
    painting.fill(QColor("steelblue"))
    window.result.view.show_pixmap(painting)
    window.gallery.message.setText(tr("unavailable", language))


@pytest.mark.parametrize("language", ["en", "de"])
def test_every_screen_fits_every_display_with_nothing_cut_off(qtbot, tmp_path, server, shots, language):
    window = make_window(
        qtbot, tmp_path, server_url=server.url, camera=str(tmp_path / "no-camera.avi"), language=language
    )
    qtbot.waitUntil(lambda: bool(window.catalogue.styles), timeout=30000)
    fill_every_screen(window, language)
    unlock_panel(qtbot, window)
    window.operator.pin_warning.show()
    window.show_screen("attract")
    screens = ["attract", "live", "review", "gallery", "email", "progress", "result", "operator"]
    for width, height in DISPLAYS:
        window.resize(width, height)
        for name in screens:
            window.show_screen(name)
            QApplication.processEvents()  # the layout requests the resize and the new screen posted
            minimum = window.minimumSizeHint()
            assert minimum.width() <= width and minimum.height() <= height, (name, minimum.toTuple())
            assert window.size().toTuple() == (width, height), (name, window.size().toTuple())
            problems = cut_off(window.stack.currentWidget(), window)
            assert not problems, f"{name} at {width}x{height} ({language}): " + "; ".join(problems)
            if (width, height) == (1280, 800):
                assert window.grab().save(str(shots / f"fit-{language}-{name}.png"))
    for name in ("gallery", "operator"):  # scrolling pages: their content is no wider than the display
        window.resize(1080, 1920)
        window.show_screen(name)
        QApplication.processEvents()
        for area in window.stack.currentWidget().findChildren(QAbstractScrollArea):
            content = getattr(area, "widget", lambda: None)()
            if content is not None and area.isVisible():
                assert content.minimumSizeHint().width() <= area.viewport().width(), name


def test_style_names_in_the_kiosks_language(qtbot, tmp_path, server):
    window = make_window(qtbot, tmp_path, server_url=server.url, camera=str(tmp_path / "none.avi"), language="de")
    qtbot.waitUntil(lambda: bool(window.catalogue.styles), timeout=30000)
    starry = next(s for s in window.catalogue.styles if s.id == "starry-night")
    assert starry.names.get("de"), "the card carries a German name"
    tile = window.gallery.style_buttons["starry-night"]
    assert tile.name_label.text() == starry.names["de"] != starry.name
    palette = next(s for s in window.catalogue.styles if s.kind == "multistyle")
    shown = window.gallery.style_buttons[palette.id]
    assert shown.name_label.text() == (palette.names.get("de") or palette.name)
    assert "learned style" not in shown.artist_label.text()


def test_the_demo_note_speaks_the_kiosks_language(qtbot, tmp_path):
    note = tr("demo_note", "en")
    window = make_window(
        qtbot, tmp_path, server_url=f"http://127.0.0.1:{free_port()}", camera="none.avi", language="de", demo_note=note
    )
    assert window.attract.note.text() == tr("demo_note", "de") != note
    window.attract.set_note("Heute bis 18 Uhr")  # an operator's own note stays as written
    assert window.attract.note.text() == "Heute bis 18 Uhr"


def test_a_finger_drag_scrolls_the_gallery_to_its_last_style(qtbot, tmp_path, server):
    window = make_window(qtbot, tmp_path, server_url=server.url, camera=str(tmp_path / "none.avi"))
    qtbot.waitUntil(lambda: bool(window.catalogue.styles), timeout=30000)
    window.show_screen("gallery")
    area = window.gallery.scroll_area
    bar = area.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=5000)
    last = window.gallery.style_buttons[window.catalogue.styles[-1].id]
    viewport = area.viewport()
    chosen = []
    window.gallery.chosen.connect(lambda *a: chosen.append(a))
    for _ in range(30):  # drag upwards from the bottom, as a finger does, until the last style is in view
        if last.visibleRegion().boundingRect().height() == last.height():
            break
        start = QPoint(viewport.width() // 2, viewport.height() - 20)
        before = bar.value()
        qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
        for step in range(1, 11):
            qtbot.mouseMove(viewport, QPoint(start.x(), start.y() - step * 40))
            qtbot.wait(16)  # a finger's pace: the scroller reads its speed from the moves' times
        qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=QPoint(start.x(), start.y() - 400))
        qtbot.waitUntil(lambda b=before: bar.value() > b, timeout=10000)  # a busy machine delays the scroller
        qtbot.waitUntil(lambda: QScroller.scroller(viewport).state() == QScroller.State.Inactive, timeout=10000)
    assert last.visibleRegion().boundingRect().height() == last.height(), "the last style is reachable"
    assert bar.value() > 0 and not chosen, "a drag scrolls, it does not choose a style"
    print(
        f"gallery: {len(window.catalogue.styles)} styles, scrolled to {bar.value()} of {bar.maximum()} px by dragging"
    )


def on_screen(qtbot, screen: QWidget) -> QWidget:
    """A lone screen, shown at 1280x800."""
    qtbot.addWidget(screen)
    screen.resize(1280, 800)
    screen.show()
    return screen


def solid(width: int, height: int, colour: str) -> QPixmap:
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor(colour))
    return QPixmap.fromImage(image)


def test_results_are_shown_at_most_one_to_one(qtbot):
    screen = on_screen(qtbot, ResultScreen("en"))
    screen.view.show_pixmap(solid(200, 150, "red"))
    QApplication.processEvents()
    assert screen.view.pixmap().size().toTuple() == (200, 150), "never blown up"
    screen.view.show_pixmap(solid(4000, 3000, "blue"))
    QApplication.processEvents()
    shown = screen.view.pixmap().size()
    assert shown.width() <= screen.view.width() and shown.height() <= screen.view.height()
    assert shown.width() / shown.height() == pytest.approx(4 / 3, rel=0.02)


def test_progress_shows_the_time_left(qtbot):
    from booth_client.screens import ProgressScreen

    for language in ("en", "de"):
        screen = ProgressScreen(language)
        qtbot.addWidget(screen)
        screen.update_status(0.25, None, 42.0)
        assert screen.remaining.text() == tr("remaining_s", language, s=42)
        screen.update_status(0.5, 2, 300.0)
        assert screen.remaining.text() == tr("remaining_min", language, m=5)
        assert screen.heading.text() == tr("queued", language, n=3)
        screen.update_status(0.5, None, None)
        assert screen.remaining.text() == ""


def decode_qr(pixmap: QPixmap) -> str:
    image = pixmap.toImage().convertToFormat(QImage.Format.Format_RGB888)
    rgb = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    rgb = rgb[:, : image.width() * 3].reshape(image.height(), image.width(), 3)
    text, _points, _ = cv2.QRCodeDetector().detectAndDecode(np.ascontiguousarray(rgb))
    return text


def test_the_qr_code_on_the_result_screen_reads_back_as_the_download_link(qtbot):
    url = "https://booth.example.org/v1/downloads/Zq3xv8Jb0l2mX1s5VbRkQwYz7uTn4aPe"
    assert decode_qr(qr_pixmap(url)) == url
    screen = on_screen(qtbot, ResultScreen("de"))
    assert not screen.qr.isVisible()  # no link, no code
    screen.show_qr(url)
    QApplication.processEvents()
    assert screen.qr.isVisible() and screen.qr_note.text() == tr("scan_qr", "de")
    assert decode_qr(screen.grab()) == url  # read from the whole screen, as a phone would
    screen.show_qr(None)
    assert not screen.qr.isVisible() and screen.qr.pixmap().isNull()


def test_a_lost_camera_shows_a_placeholder_never_the_last_frame(qtbot, tmp_path):
    from booth_client.screens import LiveScreen

    screen = on_screen(qtbot, LiveScreen("de"))
    screen.view.show_pixmap(solid(640, 480, "orange"))
    screen.set_camera_available(False)
    assert not screen.view.has_picture and screen.view.pixmap().isNull()
    assert screen.view.text() == tr("no_picture", "de") and not screen.take_button.isEnabled()
    grabbed = screen.grab().toImage()
    assert QColor(grabbed.pixel(640, 400)) != QColor("orange")


def test_the_operator_panel_speaks_german(qtbot, tmp_path):
    from booth_client.i18n import CATALOGUES

    window = make_window(
        qtbot, tmp_path, server_url=f"http://127.0.0.1:{free_port()}", camera="none.avi", language="de"
    )
    unlock_panel(qtbot, window)
    panel = window.operator
    shown = [w.text() for w in panel.findChildren(QWidget) if isinstance(w, QLabel | QAbstractButton) and w.text()]
    german = CATALOGUES["de"]
    english = [text for text in shown if text in {t for i, t in CATALOGUES["en"].items() if t != german[i]}]
    assert not english, f"still in English: {english}"
    assert panel.buttons["save"].text() == "Speichern" and panel.pin_warning.text().startswith("Bitte die PIN")
    assert "Sprache der Bildschirme und der E-Mail." in shown  # the settings' labels too
    assert panel.new_pin.placeholderText() == tr("panel.new_pin_hint", "de")
    click(qtbot, panel.show_key)
    assert panel.show_key.text() == "Verbergen"
    panel.language.setCurrentText("English")  # the operator switches the kiosk to English
    panel.new_pin.setText("802468")
    click(qtbot, panel.buttons["save"])
    assert panel.status.text() == "Gespeichert."  # said in the language the operator was reading
    click(qtbot, panel.buttons["close"])
    unlock_panel(qtbot, window)
    assert panel.buttons["save"].text() == "Save"  # and back in English for an English kiosk
