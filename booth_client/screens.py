"""The visitor's screens, in the order they meet them. Screens show things and emit what was touched;
the controller (app.py) decides where to go next."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from shared.protocol import StyleInfo

from .i18n import tr
from .widgets import ImageView, Keyboard, button, bytes_to_pixmap, title


class Screen(QWidget):
    name = "screen"

    def __init__(self, language: str = "en") -> None:
        super().__init__()
        self.language = language
        self.setObjectName(self.name)

    def t(self, key: str, **values) -> str:
        return tr(key, self.language, **values)


class AttractScreen(Screen):
    name = "attract"
    start = Signal()
    corner = Signal()

    def __init__(self, language: str) -> None:
        super().__init__(language)
        layout = QVBoxLayout(self)
        self.hidden_corner = QToolButton(self)  # operators tap here five times
        self.hidden_corner.setObjectName("operatorCorner")
        self.hidden_corner.setStyleSheet("background: transparent; border: none;")
        self.hidden_corner.setFixedSize(90, 90)
        self.hidden_corner.clicked.connect(self.corner.emit)
        layout.addWidget(title("Portrait Booth"))
        self.samples = QHBoxLayout()
        layout.addLayout(self.samples, 1)
        self.start_button = button(self.t("touch_to_start"))
        self.start_button.setMinimumHeight(120)
        self.start_button.clicked.connect(self.start.emit)
        layout.addWidget(self.start_button)
        self.note = QLabel("")
        self.note.setProperty("note", True)
        self.note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.note)
        self.unavailable = QLabel("")
        self.unavailable.setProperty("note", True)
        self.unavailable.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.unavailable.setWordWrap(True)
        layout.addWidget(self.unavailable)
        self.hidden_corner.raise_()

    def set_unavailable(self, unavailable: bool) -> None:
        """No camera or no styles: say so before the visitor starts."""
        self.unavailable.setText(self.t("unavailable") if unavailable else "")

    def set_samples(self, thumbnails: list[bytes]) -> None:
        while self.samples.count():
            self.samples.takeAt(0).widget().deleteLater()
        for data in thumbnails[:4]:
            view = ImageView()
            view.show_pixmap(bytes_to_pixmap(data))
            self.samples.addWidget(view)


class LiveScreen(Screen):
    name = "live"
    capture = Signal()
    back = Signal()

    def __init__(self, language: str) -> None:
        super().__init__(language)
        layout = QVBoxLayout(self)
        layout.addWidget(title(self.t("pose")))
        self.view = ImageView(guide=True)
        layout.addWidget(self.view, 1)
        self.message = QLabel("")
        self.message.setProperty("note", True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        self.countdown = QLabel("", self.view)
        self.countdown.setStyleSheet("font-size: 160px; font-weight: bold; background: transparent;")
        self.countdown.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.flash = QLabel("", self)
        self.flash.setStyleSheet("background: white;")
        self.flash.hide()
        row = QHBoxLayout()
        self.back_button = button(self.t("back"), secondary=True)
        self.back_button.clicked.connect(self.back.emit)
        self.take_button = button(self.t("take_photo"))
        self.take_button.clicked.connect(self.capture.emit)
        row.addWidget(self.back_button)
        row.addWidget(self.take_button, 2)
        layout.addLayout(row)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.countdown.setGeometry(self.view.rect())
        self.flash.setGeometry(self.rect())

    def set_camera_available(self, available: bool) -> None:
        self.message.setText("" if available else self.t("camera_missing"))
        self.take_button.setEnabled(available)

    def show_count(self, value: int | None) -> None:
        self.countdown.setText(str(value) if value else "")
        self.take_button.setEnabled(value is None)

    def do_flash(self) -> None:
        self.flash.setGeometry(self.rect())
        self.flash.show()
        self.flash.raise_()
        QTimer.singleShot(180, self.flash.hide)


class ReviewScreen(Screen):
    name = "review"
    retake = Signal()
    keep = Signal()

    def __init__(self, language: str) -> None:
        super().__init__(language)
        layout = QVBoxLayout(self)
        self.view = ImageView()
        layout.addWidget(self.view, 1)
        row = QHBoxLayout()
        self.retake_button = button(self.t("retake"), secondary=True)
        self.retake_button.clicked.connect(self.retake.emit)
        self.keep_button = button(self.t("keep"))
        self.keep_button.clicked.connect(self.keep.emit)
        row.addWidget(self.retake_button)
        row.addWidget(self.keep_button, 2)
        layout.addLayout(row)


class GalleryScreen(Screen):
    name = "gallery"
    chosen = Signal(str, str)  # style id, method
    back = Signal()

    def __init__(self, language: str) -> None:
        super().__init__(language)
        layout = QVBoxLayout(self)
        layout.addWidget(title(self.t("choose_style")))
        methods = QHBoxLayout()
        self.instant = button("", secondary=False)
        self.instant.setCheckable(True)
        self.instant.setChecked(True)
        self.masterpiece = button("", secondary=True)
        self.masterpiece.setCheckable(True)
        self.instant.clicked.connect(lambda: self.set_method("fast"))
        self.masterpiece.clicked.connect(lambda: self.set_method("gatys"))
        methods.addWidget(self.instant)
        methods.addWidget(self.masterpiece)
        layout.addLayout(methods)
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.grid_host)
        layout.addWidget(scroll, 1)
        self.message = QLabel("")
        self.message.setProperty("note", True)
        layout.addWidget(self.message)
        self.back_button = button(self.t("back"), secondary=True)
        self.back_button.clicked.connect(self.back.emit)
        layout.addWidget(self.back_button)
        self.method = "fast"
        self.styles: list[StyleInfo] = []
        self.style_buttons: dict[str, QPushButton] = {}
        self.set_eta({})

    def set_eta(self, eta: dict[str, float]) -> None:
        self.instant.setText(self.t("instant", s=max(1.0, eta.get("fast", 2.0))))
        self.masterpiece.setText(self.t("masterpiece", m=max(1.0, eta.get("gatys", 120.0) / 60)))

    def set_method(self, method: str) -> None:
        self.method = method
        for choice, chosen in ((self.instant, method == "fast"), (self.masterpiece, method == "gatys")):
            choice.setChecked(chosen)
            choice.setProperty("secondary", not chosen)  # the chosen method is the highlighted one
            choice.style().unpolish(choice)
            choice.style().polish(choice)
        for style in self.styles:
            self.style_buttons[style.id].setEnabled(method in style.methods)

    def set_styles(self, styles: list[StyleInfo], thumbnails: dict[str, bytes]) -> None:
        while self.grid.count():
            self.grid.takeAt(0).widget().deleteLater()
        self.styles, self.style_buttons = styles, {}
        for i, style in enumerate(styles):
            tile = QToolButton()
            tile.setObjectName(f"style-{style.id}")
            tile.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            tile.setText(f"{style.name}\n{style.artist}")
            if style.id in thumbnails:
                tile.setIcon(bytes_to_pixmap(thumbnails[style.id]))
                tile.setIconSize(QSize(180, 180))
            tile.setMinimumSize(200, 250)
            tile.clicked.connect(lambda _=False, s=style.id: self.chosen.emit(s, self.method))
            self.grid.addWidget(tile, i // 4, i % 4)
            self.style_buttons[style.id] = tile
        self.set_method(self.method)


class EmailScreen(Screen):
    name = "email"
    submit = Signal(str)
    back = Signal()

    def __init__(self, language: str, retention_hours: float = 24) -> None:
        super().__init__(language)
        layout = QVBoxLayout(self)
        layout.addWidget(title(self.t("email_title")))
        self.address = QLineEdit()
        self.address.setPlaceholderText("name@example.org")
        layout.addWidget(self.address)
        self.keyboard = Keyboard()
        self.keyboard.typed.connect(lambda text: self.address.insert(text))
        self.keyboard.backspace.connect(self.address.backspace)
        layout.addWidget(self.keyboard)
        self.consent = QCheckBox(self.t("consent", h=retention_hours))
        self.consent.setStyleSheet("QCheckBox { padding: 8px; }")
        self.consent.toggled.connect(lambda _checked: self.message.clear())
        layout.addWidget(self.consent)
        self.message = QLabel("")
        self.message.setProperty("note", True)
        layout.addWidget(self.message)
        row = QHBoxLayout()
        self.back_button = button(self.t("back"), secondary=True)
        self.back_button.clicked.connect(self.back.emit)
        self.send_button = button(self.t("send"))
        self.send_button.clicked.connect(lambda: self.submit.emit(self.address.text().strip()))
        row.addWidget(self.back_button)
        row.addWidget(self.send_button, 2)
        layout.addLayout(row)

    def set_retention(self, hours: float) -> None:
        """The server's promise, as the server states it (never a number written here)."""
        self.consent.setText(self.t("consent", h=round(hours, 2)))

    def reset(self) -> None:
        self.address.clear()
        self.consent.setChecked(False)
        self.message.clear()


class ProgressScreen(Screen):
    name = "progress"
    finish = Signal()

    def __init__(self, language: str) -> None:
        super().__init__(language)
        layout = QVBoxLayout(self)
        self.heading = title(self.t("painting"))
        layout.addWidget(self.heading)
        self.preview = ImageView()
        layout.addWidget(self.preview, 1)
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        layout.addWidget(self.bar)
        self.detail = QLabel(self.t("can_leave"))
        self.detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.detail)
        self.finish_button = button(self.t("finish"), secondary=True)
        self.finish_button.clicked.connect(self.finish.emit)
        layout.addWidget(self.finish_button)

    def update_status(self, progress: float, position: int | None) -> None:
        self.bar.setValue(round(progress * 100))
        self.heading.setText(self.t("queued", n=position + 1) if position else self.t("painting"))


class ResultScreen(Screen):
    name = "result"
    finish = Signal()

    def __init__(self, language: str) -> None:
        super().__init__(language)
        layout = QVBoxLayout(self)
        self.heading = title(self.t("done"))
        layout.addWidget(self.heading)
        self.view = ImageView()
        layout.addWidget(self.view, 1)
        self.detail = QLabel("")
        self.detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail.setWordWrap(True)
        layout.addWidget(self.detail)
        self.finish_button = button(self.t("finish"))
        self.finish_button.clicked.connect(self.finish.emit)
        layout.addWidget(self.finish_button)
