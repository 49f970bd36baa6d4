"""Touch-sized building blocks: big buttons, an on-screen keyboard, a PIN pad, image views."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QPoint, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QCheckBox,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QScroller,
    QScrollerProperties,
    QSizePolicy,
    QStyle,
    QWidget,
)

from .i18n import tr

ASSETS = Path(__file__).parent / "assets"
TOUCH = 48  # px: the smallest touch target (WCAG 2.5.5, Material), every control of the kiosk and the panel
# The theme: every colour of the kiosk, named once. Text pairs stay at 4.5:1 or more (WCAG AA; a test checks).
THEME = {
    "ground": "#1d1b19",  # the screens' background
    "text": "#f4efe6",
    "accent": "#b24a34",  # the main button: white on it is 5.4:1
    "accent_text": "#ffffff",
    "quiet": "#3b3632",  # secondary buttons, keys
    "off": "#4a403b",  # a disabled button
    "off_text": "#d9d0c4",
    "note": "#f2c14e",  # messages to the visitor
    "field": "#f4efe6",  # text fields: dark on light
    "field_text": "#1d1b19",
    "hint": "#5c554e",  # a field's placeholder
    "muted": "#cfc6b8",  # a style's artist
    "warning": "#8a2d1d",
}
STYLE_SHEET = """
QWidget {{ background: {ground}; color: {text}; font-size: 24px; }}
QPushButton {{ background: {accent}; color: {accent_text}; border-radius: 14px; padding: 18px 28px;
    min-height: {touch}px; min-width: {touch}px; }}
QPushButton:disabled {{ background: {off}; color: {off_text}; }}
QPushButton[secondary="true"] {{ background: {quiet}; color: {text}; }}
QPushButton[key="true"] {{ background: {quiet}; color: {text}; padding: 6px; min-width: 52px; min-height: {touch}px;
    font-size: 26px; }}
QPushButton[key="true"]:disabled {{ background: {off}; color: {off_text}; }}
QLabel[title="true"] {{ font-size: 40px; font-weight: bold; }}
QLabel[note="true"] {{ color: {note}; }}
QLineEdit {{ background: {field}; color: {field_text}; font-size: 32px; padding: 12px; border-radius: 10px;
    min-height: {touch}px; }}
QCheckBox {{ font-size: 22px; min-height: {touch}px; spacing: 16px; }}
QCheckBox::indicator, QListWidget::indicator {{ width: {touch}px; height: {touch}px; border: 3px solid {text};
    border-radius: 8px; background: {ground}; }}
QCheckBox::indicator:checked, QListWidget::indicator:checked {{ background: {accent}; border-color: {accent};
    image: url({check}); }}
QComboBox {{ background: {quiet}; color: {text}; min-height: {touch}px; padding: 4px 16px; border-radius: 10px; }}
QComboBox::drop-down {{ width: {touch}px; }}
QComboBox QAbstractItemView::item {{ min-height: {touch}px; }}
QAbstractSpinBox {{ background: {field}; color: {field_text}; padding: 0px 64px;
    border-radius: 10px; }}
QAbstractSpinBox::up-button {{ subcontrol-origin: border; subcontrol-position: center right; width: 56px;
    height: {touch}px; background: {quiet}; border-radius: 10px; }}
QAbstractSpinBox::down-button {{ subcontrol-origin: border; subcontrol-position: center left; width: 56px;
    height: {touch}px; background: {quiet}; border-radius: 10px; }}
QAbstractSpinBox::up-arrow {{ width: 0; height: 0; border-left: 10px solid {quiet}; border-right: 10px solid {quiet};
    border-bottom: 14px solid {text}; }}
QAbstractSpinBox::down-arrow {{ width: 0; height: 0; border-left: 10px solid {quiet};
    border-right: 10px solid {quiet}; border-top: 14px solid {text}; }}
QListWidget {{ background: {ground}; color: {text}; }}
QListWidget::item {{ min-height: {touch}px; padding: 4px; }}
QListWidget::item:selected {{ background: {quiet}; color: {text}; }}
QScrollBar:vertical {{ width: {touch}px; background: {ground}; }}
QScrollBar[indicator="true"]:vertical {{ width: 12px; }}
QScrollBar::handle:vertical {{ background: {quiet}; border-radius: 6px; min-height: 48px; }}
QScrollBar::add-line, QScrollBar::sub-line {{ height: 0; }}
QProgressBar {{ height: 36px; border-radius: 10px; background: {quiet}; color: {text}; text-align: center; }}
QProgressBar::chunk {{ background: {accent}; border-radius: 10px; }}
""".format(**THEME, touch=TOUCH, check=(ASSETS / "check.svg").as_posix())


def button(text: str, secondary: bool = False) -> QPushButton:
    b = QPushButton(text)
    b.setProperty("secondary", secondary)
    b.setCursor(Qt.CursorShape.PointingHandCursor)
    return b


def title(text: str) -> QLabel:
    label = QLabel(text)
    label.setProperty("title", True)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    return label


def rgb_to_pixmap(rgb: np.ndarray, mirror: bool = False) -> QPixmap:
    """An RGB frame as a pixmap; ``mirror`` flips it left to right (in Qt: several times cheaper than numpy's
    reversed view, which has to be copied before Qt can read it)."""
    h, w, _ = rgb.shape
    image = QImage(np.ascontiguousarray(rgb).data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.flipped(Qt.Orientation.Horizontal) if mirror else image.copy())


def bytes_to_pixmap(data: bytes) -> QPixmap:
    pixmap = QPixmap()
    pixmap.loadFromData(data)
    return pixmap


class ImageView(QLabel):
    """Shows a picture scaled to fit, optionally with the face-framing guide on top.

    ``upscale=False`` (results): a picture is shown 1:1 or smaller, never blown up beyond its own pixels.
    Without a picture the view shows ``placeholder`` (e.g. "no camera picture"), never an old frame.
    """

    def __init__(self, guide: bool = False, upscale: bool = True, minimum: tuple[int, int] = (240, 180)) -> None:
        super().__init__()
        self.guide, self.upscale = guide, upscale
        self._pixmap: QPixmap | None = None
        self.placeholder = ""
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(*minimum)

    def sizeHint(self) -> QSize:  # the picture's size must not push the screen beyond the display
        return self.minimumSize()

    def minimumSizeHint(self) -> QSize:
        return self.minimumSize()

    def heightForWidth(self, width: int) -> int:
        return -1

    def hasHeightForWidth(self) -> bool:
        return False

    def show_pixmap(self, pixmap: QPixmap) -> None:
        self._pixmap = pixmap
        self._render()

    def clear_picture(self, placeholder: str | None = None) -> None:
        """Show nothing but the placeholder (a stopped camera's last frame, or the last visitor's face, must not
        linger)."""
        self._pixmap = None
        if placeholder is not None:
            self.placeholder = placeholder
        self.clear()
        self.setText(self.placeholder)

    @property
    def has_picture(self) -> bool:
        return self._pixmap is not None and not self._pixmap.isNull()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._render()

    def _render(self) -> None:
        if self._pixmap is None or self._pixmap.isNull():
            return
        ratio = self.devicePixelRatioF()
        target = self.size() * ratio  # in device pixels: 1:1 means one picture pixel on one screen pixel
        if not self.upscale:
            target = target.boundedTo(self._pixmap.size())
        scaled = self._pixmap.scaled(
            target, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        scaled.setDevicePixelRatio(ratio)
        if self.guide:
            painter = QPainter(scaled)
            painter.setPen(QPen(QColor(255, 255, 255, 170), 6, Qt.PenStyle.DashLine))
            w, h = scaled.width() / ratio, scaled.height() / ratio
            painter.drawEllipse(QRectF(w * 0.34, h * 0.12, w * 0.32, h * 0.62))
            painter.end()
        self.setPixmap(scaled)


class Keyboard(QWidget):
    """An on-screen keyboard for e-mail addresses."""

    typed = Signal(str)
    backspace = Signal()
    ROWS = ("1234567890", "qwertyuiop", "asdfghjkl@", "zxcvbnm.-_")

    def __init__(self) -> None:
        super().__init__()
        grid = QGridLayout(self)
        self.keys: dict[str, QPushButton] = {}
        for r, row in enumerate(self.ROWS):
            for c, char in enumerate(row):
                self._key(grid, char, char, r, c)
        self._key(grid, ".com", ".com", 4, 0, span=3)
        self._key(grid, ".de", ".de", 4, 3, span=2)
        self._key(grid, "⌫", None, 4, 5, span=5)

    def _key(self, grid: QGridLayout, label: str, text: str | None, row: int, col: int, span: int = 1) -> None:
        key = QPushButton(label)
        key.setProperty("key", True)
        key.clicked.connect((lambda _=False, t=text: self.typed.emit(t)) if text else self.backspace.emit)
        grid.addWidget(key, row, col, 1, span)
        self.keys[label] = key


class PinPad(QWidget):
    digit = Signal(str)
    clear = Signal()

    def __init__(self) -> None:
        super().__init__()
        grid = QGridLayout(self)
        self.keys: dict[str, QPushButton] = {}
        for i, label in enumerate("123456789C0"):
            key = QPushButton(label)
            key.setProperty("key", True)
            key.clicked.connect(self.clear.emit if label == "C" else (lambda _=False, d=label: self.digit.emit(d)))
            grid.addWidget(key, i // 3, i % 3)
            self.keys[label] = key


class WrapCheckBox(QCheckBox):
    """A check box whose text wraps to the width it gets (QCheckBox's own text never wraps: a long consent
    text would push the screen wider than the display, or be cut off). The whole box, text included, is the
    touch target."""

    def __init__(self, text: str = "") -> None:
        super().__init__()
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        self.label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        layout = QHBoxLayout(self)
        indicator = self.style().pixelMetric(QStyle.PixelMetric.PM_IndicatorWidth, None, self)
        layout.setContentsMargins(max(indicator, TOUCH) + 24, 8, 8, 8)  # the indicator: TOUCH px (style sheet)
        layout.addWidget(self.label)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)

    def text(self) -> str:
        return self.label.text()

    def setText(self, text: str) -> None:
        self.label.setText(text)
        self.updateGeometry()

    def sizeHint(self) -> QSize:
        return self.layout().sizeHint()

    def minimumSizeHint(self) -> QSize:
        return self.layout().minimumSize()

    def hitButton(self, pos: QPoint) -> bool:
        return self.rect().contains(pos)


def kinetic(area: QAbstractScrollArea) -> QScroller:
    """Flick-scrolling with a finger (or a held left mouse button) anywhere in ``area``, buttons included:
    a drag scrolls, a tap without a drag still taps."""
    QScroller.grabGesture(area.viewport(), QScroller.ScrollerGestureType.LeftMouseButtonGesture)
    for bar in (area.verticalScrollBar(), area.horizontalScrollBar()):  # a thin indicator; the finger drags the page
        bar.setProperty("indicator", True)
        bar.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
    scroller = QScroller.scroller(area.viewport())
    properties = scroller.scrollerProperties()
    policy = QScrollerProperties.OvershootPolicy.OvershootAlwaysOff
    properties.setScrollMetric(QScrollerProperties.ScrollMetric.HorizontalOvershootPolicy, policy)
    properties.setScrollMetric(QScrollerProperties.ScrollMetric.VerticalOvershootPolicy, policy)
    # a tap reaches the button at once (a drag that follows cancels it): no 0.25 s held-back press
    properties.setScrollMetric(QScrollerProperties.ScrollMetric.MousePressEventDelay, 0)
    scroller.setScrollerProperties(properties)
    return scroller


def scrolling(page: QWidget) -> QScrollArea:
    """``page`` in a vertical, finger-scrollable area: a long page fits any screen height."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(page)
    kinetic(area)
    return area


def qr_pixmap(text: str, side: int = 240) -> QPixmap:
    """``text`` (a URL) as a QR code, black on white with its quiet zone, about ``side`` px wide."""
    import segno

    code = segno.make(text, error="m", micro=False)
    rows = [list(row) for row in code.matrix_iter(scale=1, border=4)]
    modules = len(rows)
    scale = max(2, side // modules)
    image = QImage(modules * scale, modules * scale, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if dark:
                painter.fillRect(x * scale, y * scale, scale, scale, QColor("black"))
    painter.end()
    return QPixmap.fromImage(image)


TEXT_ID_ROLE = Qt.ItemDataRole.UserRole + 1  # a choice's text id (i18n), kept beside the value


def say(widget: QLabel | QAbstractButton, language: str, text_id: str | None, **values: Any) -> None:
    """``widget`` shows the text ``text_id`` (i18n; None: nothing) in ``language``, and keeps the id and values so
    that ``translate_texts`` can say it again in another language."""
    widget.said = (text_id, values) if text_id else None
    widget.setText(tr(text_id, language, **values) if text_id else "")


def hint(edit: QLineEdit, language: str, text_id: str) -> None:
    """The hint an empty ``edit`` shows: the text ``text_id`` in ``language`` (kept for ``translate_texts``)."""
    edit.hint_id = text_id
    edit.setPlaceholderText(tr(text_id, language))


def translate_texts(root: QWidget, language: str) -> None:
    """Every text under ``root`` that was given by id (``say``, ``hint``, a choice's ``TEXT_ID_ROLE``) in
    ``language``: the panel can change language back and forth. Texts given without an id (names, numbers) stay."""
    for edit in root.findChildren(QLineEdit):
        if text_id := getattr(edit, "hint_id", None):
            edit.setPlaceholderText(tr(text_id, language))
    for combo in root.findChildren(QComboBox):
        for i in range(combo.count()):
            if text_id := combo.itemData(i, TEXT_ID_ROLE):
                combo.setItemText(i, tr(text_id, language))
    for widget in root.findChildren(QLabel) + root.findChildren(QAbstractButton):
        if said := getattr(widget, "said", None):
            widget.setText(tr(said[0], language, **said[1]))
