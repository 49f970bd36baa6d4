"""One walk through every screen of the kiosk and its operator panel (the PIN pad and the unlocked panel) at
1280x800, 1366x768 and 1080x1920, in English and German: every control a finger can reach is at least
48x48 px, no text is cut off (font metrics against its widget), every text has a contrast of 4.5:1 or more
against its background in the theme's colours (the palette the style sheet gives each widget), and a German
screen shows no text of the English catalogue. Real kiosk windows (offscreen Qt), no server: the kiosk's style
cache fills the gallery."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QScrollBar,
    QStyle,
    QStyleOptionSpinBox,
    QWidget,
)

from booth_client.widgets import TOUCH, ImageView
from tests.test_kiosk import unlock_panel
from tests.test_kiosk_polish import english_patterns, kiosk
from tests.test_kiosk_screens import cut_off, fill_every_screen

SIZES = [(1280, 800), (1366, 768), (1080, 1920)]
VISITOR_SCREENS = ["attract", "live", "review", "gallery", "email", "progress", "result"]
AA = 4.5  # WCAG 2.x AA, normal text
INDICATOR = (QStyle.PixelMetric.PM_IndicatorWidth, QStyle.PixelMetric.PM_IndicatorHeight)


@pytest.fixture(scope="module", params=["en", "de"])
def walked(request, qapp, tmp_path_factory, video):
    window = kiosk(tmp_path_factory.mktemp(request.param), str(video), language=request.param)
    yield window
    window.close()


def settle(qapp) -> None:
    for _ in range(3):
        qapp.processEvents()


def luminance(colour: QColor) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(colour.redF()) + 0.7152 * channel(colour.greenF()) + 0.0722 * channel(colour.blueF())


def contrast(a: QColor, b: QColor) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def shown_text(widget: QWidget) -> str:
    if isinstance(widget, QLabel | QAbstractButton | QLineEdit):
        return widget.text()
    if isinstance(widget, QComboBox):
        return widget.currentText()
    if isinstance(widget, QAbstractSpinBox):
        return widget.text()
    return ""


def in_spin_box(widget: QWidget) -> bool:
    return isinstance(widget.parentWidget(), QAbstractSpinBox)


def touch_problems(screen: QWidget) -> list[str]:
    """Every control a finger can reach that is smaller than TOUCH x TOUCH px."""
    problems = []
    for w in screen.findChildren(QWidget):
        if not w.isVisible() or w.testAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents):
            continue
        name = f"{type(w).__name__} {w.objectName() or shown_text(w)[:30]!r}"
        reachable = isinstance(w, QAbstractButton | QComboBox | QAbstractSpinBox | QScrollBar) or (
            isinstance(w, QLineEdit) and not in_spin_box(w)
        )
        if reachable and (w.width() < TOUCH or w.height() < TOUCH):
            problems.append(f"{name}: {w.width()}x{w.height()}")
        if isinstance(w, QCheckBox):
            side = min(w.style().pixelMetric(m, None, w) for m in INDICATOR)
            if side < TOUCH:
                problems.append(f"{name}: its box is {side} px")
        if isinstance(w, QAbstractSpinBox):
            option = QStyleOptionSpinBox()
            option.initFrom(w)
            option.rect = w.rect()
            option.subControls = QStyle.SubControl.SC_All
            for arrow, part in (("up", QStyle.SubControl.SC_SpinBoxUp), ("down", QStyle.SubControl.SC_SpinBoxDown)):
                rect = w.style().subControlRect(QStyle.ComplexControl.CC_SpinBox, option, part, w)
                if rect.width() < TOUCH or rect.height() < TOUCH:
                    problems.append(f"{name}: its {arrow} arrow is {rect.width()}x{rect.height()}")
        if isinstance(w, QListWidget) and w.count():
            rows = [w.visualItemRect(w.item(i)).height() for i in range(w.count())]
            if min(rows) < TOUCH:
                problems.append(f"{name}: rows of {min(rows)} px")
    return problems


def contrast_problems(screen: QWidget) -> list[str]:
    """Every text whose colour is closer than 4.5:1 to its background (as the widget's palette has them)."""
    problems = []
    for w in screen.findChildren(QWidget):
        text = shown_text(w)
        if not w.isVisible() or isinstance(w, ImageView) or in_spin_box(w):
            continue
        palette = w.palette()
        group = QPalette.ColorGroup.Active if w.isEnabled() else QPalette.ColorGroup.Disabled
        if text:
            fg, bg = palette.color(group, w.foregroundRole()), palette.color(group, w.backgroundRole())
            if contrast(fg, bg) < AA:
                problems.append(f"{type(w).__name__} {text[:30]!r}: {fg.name()} on {bg.name()}")
        if isinstance(w, QLineEdit) and not text and w.placeholderText():
            fg, bg = palette.color(group, QPalette.ColorRole.PlaceholderText), palette.color(group, w.backgroundRole())
            if contrast(fg, bg) < AA:
                problems.append(f"hint {w.placeholderText()[:30]!r}: {fg.name()} on {bg.name()}")
        if isinstance(w, QListWidget) and w.count():
            fg, bg = palette.color(group, QPalette.ColorRole.Text), palette.color(group, QPalette.ColorRole.Base)
            if contrast(fg, bg) < AA:
                problems.append(f"list {w.item(0).text()[:30]!r}: {fg.name()} on {bg.name()}")
    return problems


def english_on(screen: QWidget) -> list[str]:
    patterns = english_patterns()
    texts = []
    for w in screen.findChildren(QWidget):
        if not w.isVisible():
            continue
        texts.append(shown_text(w))
        if isinstance(w, QLineEdit):
            texts.append(w.placeholderText())
        if isinstance(w, QComboBox):
            texts += [w.itemText(i) for i in range(w.count())]
        if isinstance(w, QListWidget):
            texts += [w.item(i).text() for i in range(w.count())]
    return [t for t in texts if t and any(p.match(t) for p in patterns)]


def test_every_screen_and_the_panel_fit_a_finger_read_well_and_speak_the_kiosks_language(qtbot, qapp, walked):
    window = walked
    language = window.config.language
    qtbot.waitUntil(lambda: bool(window.catalogue.styles), timeout=10000)
    fill_every_screen(window, language)
    window.result.set_failed(True)  # Try again and Start over too
    for _ in range(5):
        qtbot.mouseClick(window.attract.hidden_corner, Qt.MouseButton.LeftButton)
    assert window.current() == "operator"
    problems: list[str] = []
    for width, height in SIZES:
        window.resize(width, height)
        for name in ["pin", *VISITOR_SCREENS, "panel"]:
            if name == "pin":
                window.show_screen("operator")
                window.operator.pages.setCurrentIndex(0)
            elif name == "panel":
                if not window.operator.unlocked:
                    window.reset()
                    unlock_panel(qtbot, window)
                    window.operator.pin_warning.show()
                window.show_screen("operator")
                window.operator.pages.setCurrentIndex(1)
            else:
                window.show_screen(name)
            settle(qapp)
            screen = window.stack.currentWidget()
            where = f"{name} at {width}x{height} ({language})"
            problems += [f"{where}: too small for a finger: {p}" for p in touch_problems(screen)]
            problems += [f"{where}: cut off: {p}" for p in cut_off(screen, window)]
            problems += [f"{where}: contrast: {p}" for p in contrast_problems(screen)]
            if language == "de":
                problems += [f"{where}: English: {t!r}" for t in english_on(screen)]
            if name == "panel":  # the panel was unlocked for this size: lock it for the PIN page of the next
                window.reset()
                window.flow.fire("operator")
    assert not problems, "\n".join(problems)


def test_the_walk_finds_what_it_looks_for(qtbot, qapp, walked):
    """The checks themselves catch a small button, a grey-on-grey text and a cut-off label."""
    window = walked
    probe = QWidget()
    qtbot.addWidget(probe)
    small = QCheckBox(probe)
    small.setStyleSheet("QCheckBox::indicator { width: 20px; height: 20px; }")
    grey = QLabel("grey on grey", probe)
    grey.setStyleSheet("color: #777; background: #666;")
    tight = QLabel("a label far too long for its width", probe)
    tight.setFixedWidth(40)
    probe.show()
    settle(qapp)
    assert any("box is 20 px" in p for p in touch_problems(probe))
    assert any("grey on grey" in p for p in contrast_problems(probe))
    assert any("far too long" in p for p in cut_off(probe, probe))
    assert isinstance(window.gallery.scroll_area, QAbstractScrollArea)
