"""The operator's panel behind a PIN: connection, styles, camera, language, outbox, test e-mail."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from .config import KioskConfig
from .i18n import tr
from .widgets import PinPad, button, title


class OperatorScreen(QWidget):
    name = "operator"
    saved = Signal(object)  # KioskConfig
    closed = Signal()
    test_camera = Signal(str)
    test_email = Signal(str)
    retry_outbox = Signal()
    quit_kiosk = Signal()

    def __init__(self, config: KioskConfig) -> None:
        super().__init__()
        self.setObjectName(self.name)
        self.config = config
        self.all_ids: list[str] = []
        self.pages = QStackedWidget()
        QVBoxLayout(self).addWidget(self.pages)
        self.pages.addWidget(self._pin_page())
        self.pages.addWidget(self._panel_page())

    # -- PIN ------------------------------------------------------------------------------------------

    def _pin_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(title(tr("pin", self.config.language)))
        self.pin_display = QLabel("")
        self.pin_display.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pin_display.setStyleSheet("font-size: 48px; letter-spacing: 12px;")
        layout.addWidget(self.pin_display)
        self.pin_pad = PinPad()
        self.pin_pad.digit.connect(self._digit)
        self.pin_pad.clear.connect(lambda: self._set_pin(""))
        layout.addWidget(self.pin_pad)
        cancel = button(tr("back", self.config.language), secondary=True)
        cancel.clicked.connect(self.closed.emit)
        layout.addWidget(cancel)
        self._pin = ""
        return page

    def ask_pin(self) -> None:
        self._set_pin("")
        self.pages.setCurrentIndex(0)

    def _set_pin(self, value: str) -> None:
        self._pin = value
        self.pin_display.setText("•" * len(value))

    def _digit(self, digit: str) -> None:
        self._set_pin(self._pin + digit)
        if self._pin == self.config.operator_pin:
            self._load(self.config)
            self.pages.setCurrentIndex(1)
        elif len(self._pin) >= len(self.config.operator_pin):
            self._set_pin("")

    # -- panel ----------------------------------------------------------------------------------------

    def _panel_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(title("Operator"))
        form = QFormLayout()
        self.server_url, self.api_key, self.camera = QLineEdit(), QLineEdit(), QLineEdit()
        self.method, self.language = QComboBox(), QComboBox()
        self.method.addItems(["fast", "gatys"])
        self.language.addItems(["en", "de"])
        self.idle = QSpinBox()
        self.idle.setRange(5, 3600)
        self.test_address = QLineEdit()
        form.addRow("Server URL", self.server_url)
        form.addRow("API key", self.api_key)
        form.addRow("Camera", self.camera)
        form.addRow("Default method", self.method)
        form.addRow("Language", self.language)
        form.addRow("Idle timeout (s)", self.idle)
        form.addRow("Test e-mail to", self.test_address)
        layout.addLayout(form)
        layout.addWidget(QLabel("Styles (tick to show; select one and move it up or down)"))
        styles_row = QHBoxLayout()
        self.style_list = QListWidget()
        self.style_list.setDragDropMode(QListWidget.DragDropMode.InternalMove)
        styles_row.addWidget(self.style_list, 1)
        arrows = QVBoxLayout()
        self.up_button, self.down_button = button("▲", secondary=True), button("▼", secondary=True)
        self.up_button.clicked.connect(lambda: self._move(-1))
        self.down_button.clicked.connect(lambda: self._move(1))
        arrows.addWidget(self.up_button)
        arrows.addWidget(self.down_button)
        styles_row.addLayout(arrows)
        layout.addLayout(styles_row, 1)
        self.status = QLabel("")
        self.status.setProperty("note", True)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        row = QHBoxLayout()
        actions = (
            ("Test camera", lambda: self.test_camera.emit(self.camera.text().strip())),
            ("Send test e-mail", lambda: self.test_email.emit(self.test_address.text().strip())),
            ("Retry outbox", self.retry_outbox.emit),
            ("Save", self._save),
            ("Close", self.closed.emit),
            ("Leave kiosk", self.quit_kiosk.emit),
        )
        self.buttons = {}
        for label, slot in actions:
            b = button(label, secondary=label not in ("Save",))
            b.clicked.connect(slot)
            row.addWidget(b)
            self.buttons[label] = b
        layout.addLayout(row)
        return page

    def _load(self, config: KioskConfig) -> None:
        self.server_url.setText(config.server_url)
        self.api_key.setText(config.api_key)
        self.camera.setText(config.camera)
        self.method.setCurrentText(config.default_method)
        self.language.setCurrentText(config.language)
        self.idle.setValue(config.idle_timeout_s)

    def set_styles(self, all_ids: list[str], enabled: list[str]) -> None:
        self.all_ids = list(all_ids)
        self.style_list.clear()
        ordered = [s for s in enabled if s in all_ids] + [s for s in all_ids if s not in enabled]
        for style_id in ordered:
            item = QListWidgetItem(style_id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if not enabled or style_id in enabled else Qt.CheckState.Unchecked)
            self.style_list.addItem(item)

    def _move(self, step: int) -> None:
        row = self.style_list.currentRow()
        target = row + step
        if row < 0 or not 0 <= target < self.style_list.count():
            return
        item = self.style_list.takeItem(row)
        self.style_list.insertItem(target, item)
        self.style_list.setCurrentRow(target)

    def _save(self) -> None:
        items = [self.style_list.item(i) for i in range(self.style_list.count())]
        checked = [i.text() for i in items if i.checkState() == Qt.CheckState.Checked]
        reordered = [i.text() for i in items] != self.all_ids
        styles = checked if reordered or len(checked) != len(items) else []  # []: all, in the server's order
        updated = self.config.model_copy(
            update={
                "server_url": self.server_url.text().strip(),
                "api_key": self.api_key.text().strip(),
                "camera": self.camera.text().strip() or "0",
                "default_method": self.method.currentText(),
                "language": self.language.currentText(),
                "idle_timeout_s": self.idle.value(),
                "styles": styles,
            }
        )
        self.config = KioskConfig.model_validate(updated.model_dump())
        self.saved.emit(self.config)
        self.status.setText("Saved.")

    def show_status(self, text: str) -> None:
        self.status.setText(text)
