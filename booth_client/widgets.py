"""Touch-sized building blocks: big buttons, an on-screen keyboard, a PIN pad, image views."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QSizePolicy, QWidget

STYLE_SHEET = """
QWidget { background: #1d1b19; color: #f4efe6; font-size: 24px; }
QPushButton { background: #c8553d; color: white; border-radius: 14px; padding: 18px 28px; min-height: 48px; }
QPushButton:disabled { background: #5a4a44; color: #aaa; }
QPushButton[secondary="true"] { background: #3b3632; }
QPushButton[key="true"] { background: #3b3632; padding: 10px; min-width: 52px; font-size: 26px; }
QLabel[title="true"] { font-size: 40px; font-weight: bold; }
QLabel[note="true"] { color: #f2c14e; }
QLineEdit { background: #f4efe6; color: #1d1b19; font-size: 32px; padding: 12px; border-radius: 10px; }
QCheckBox { font-size: 22px; } QCheckBox::indicator { width: 40px; height: 40px; }
QProgressBar { height: 36px; border-radius: 10px; background: #3b3632; text-align: center; }
QProgressBar::chunk { background: #c8553d; border-radius: 10px; }
"""


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


def rgb_to_pixmap(rgb: np.ndarray) -> QPixmap:
    h, w, _ = rgb.shape
    image = QImage(np.ascontiguousarray(rgb).data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())


def bytes_to_pixmap(data: bytes) -> QPixmap:
    pixmap = QPixmap()
    pixmap.loadFromData(data)
    return pixmap


class ImageView(QLabel):
    """Shows a picture scaled to fit, optionally with the face-framing guide on top."""

    def __init__(self, guide: bool = False) -> None:
        super().__init__()
        self.guide = guide
        self._pixmap: QPixmap | None = None
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 240)

    def show_pixmap(self, pixmap: QPixmap) -> None:
        self._pixmap = pixmap
        self._render()

    def clear_picture(self) -> None:
        """Show nothing (a stopped camera's last frame, or the last visitor's face, must not linger)."""
        self._pixmap = None
        self.clear()

    @property
    def has_picture(self) -> bool:
        return self._pixmap is not None and not self._pixmap.isNull()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._render()

    def _render(self) -> None:
        if self._pixmap is None or self._pixmap.isNull():
            return
        scaled = self._pixmap.scaled(
            self.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        if self.guide:
            painter = QPainter(scaled)
            painter.setPen(QPen(QColor(255, 255, 255, 170), 6, Qt.PenStyle.DashLine))
            w, h = scaled.width(), scaled.height()
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
