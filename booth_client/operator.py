"""The operator's panel behind a PIN: connection, styles, camera, language, outbox, test e-mail.

The plain settings are drawn from ``KioskConfig`` (``settings_form``): adding a kiosk setting with
``json_schema_extra=panel(group)`` is all it takes to see it here. The special parts (PIN pad, key, pinned
certificate, style order, outbox and refusals, camera test, test e-mail) are built by hand below.

The panel locks itself: on the idle timeout (the kiosk goes back to the attract screen), and wrong PINs are
slowed down (after three, a growing wait shown on screen with the keys disabled).
"""

from __future__ import annotations

import math
import re
import time
from datetime import datetime
from typing import Any, Literal, get_args, get_origin

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from shared.tls import normalise_fingerprint

from .config import GROUPS, PUBLISHED_PINS, KioskConfig, panel_hints
from .frame_widgets import FramePanel
from .i18n import tr
from .outbox import OutboxEntry
from .print_widgets import PrintPanel
from .trust import url_problem
from .widgets import TEXT_ID_ROLE, PinPad, button, hint, say, scrolling, title, translate_texts

PIN_TRIES = 3  # wrong PINs before the pad waits
PIN_WAIT_S = 5  # first wait; doubles with every further wrong PIN
PIN_WAIT_MAX_S = 300
LEAVE_CONFIRM_S = 5  # "Leave kiosk" needs a second tap within this many seconds


class OperatorScreen(QWidget):
    name = "operator"
    saved = Signal(object)  # KioskConfig
    closed = Signal()
    test_camera = Signal(str)
    test_email = Signal(str)
    retry_outbox = Signal()
    quit_kiosk = Signal()
    trust_server = Signal(str)  # the fingerprint the operator confirmed
    frame_preview_wanted = Signal()  # the operator tapped the frame's preview

    def __init__(self, config: KioskConfig) -> None:
        super().__init__()
        self.setObjectName(self.name)
        self.config = config
        self.all_ids: list[str] = []
        self.style_names: dict[str, str] = {}  # id -> name, for the refusals list
        self.offered_fingerprint = ""
        self._failures = 0
        self._wrong = False  # the last PIN entered was wrong (said until the next digit)
        self._wait_until = 0.0
        self.catalogue: list[tuple[str, str]] = []  # the server's styles as (id, name), for reloading the list
        self._wait_timer = QTimer(self, interval=250, timeout=self._show_wait)
        self.pages = QStackedWidget()
        QVBoxLayout(self).addWidget(self.pages)
        self.pages.addWidget(self._pin_page())
        self.pages.addWidget(scrolling(self._panel_page()))  # fits any screen; a finger scrolls it

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
        self.pin_wait = QLabel("")
        self.pin_wait.setProperty("note", True)
        self.pin_wait.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.pin_wait)
        cancel = button(tr("back", self.config.language), secondary=True)
        cancel.clicked.connect(self.closed.emit)
        layout.addWidget(cancel)
        self._pin = ""
        return page

    def field_value(self, name: str) -> Any:
        """What the panel's field for setting ``name`` holds now, saved or not."""
        return value_of(self.fields[name])

    def ask_pin(self) -> None:
        self.lock()

    def lock(self) -> None:
        """Back to the PIN page with nothing secret left on screen."""
        self._wrong = False
        self._set_pin("")
        self.pages.setCurrentIndex(0)
        self.api_key.clear()
        self.new_pin.clear()
        self.show_key.setChecked(False)
        self._show_wait()

    @property
    def unlocked(self) -> bool:
        return self.pages.currentIndex() == 1

    def _set_pin(self, value: str) -> None:
        """The digits entered as filled dots, the ones still to come as rings."""
        self._pin = value
        self.pin_display.setText("●" * len(value) + "○" * max(0, len(self.config.operator_pin) - len(value)))

    def _digit(self, digit: str) -> None:
        if self.seconds_to_wait():
            return
        if self._wrong:
            self._wrong = False
            self._show_wait()
        self._set_pin(self._pin + digit)
        if self._pin == self.config.operator_pin:
            self._failures = 0
            self._set_pin("")
            self._load(self.config)
            self.pages.setCurrentIndex(1)
        elif len(self._pin) >= len(self.config.operator_pin):
            self._set_pin("")
            self._failures += 1
            self._wrong = True
            if self._failures >= PIN_TRIES:
                wait = min(PIN_WAIT_MAX_S, PIN_WAIT_S * 2 ** (self._failures - PIN_TRIES))
                self._wait_until = time.monotonic() + wait
            self._show_wait()

    def seconds_to_wait(self) -> int:
        return max(0, math.ceil(self._wait_until - time.monotonic()))

    def _show_wait(self) -> None:
        seconds = self.seconds_to_wait()
        self.pin_pad.setEnabled(seconds == 0)
        language = self.config.language
        said = tr("pin_wrong", language) if self._wrong else ""
        self.pin_wait.setText(tr("pin_wait", language, s=seconds) if seconds else said)
        if seconds and not self._wait_timer.isActive():
            self._wait_timer.start()
        elif not seconds:
            self._wait_timer.stop()

    # -- panel ----------------------------------------------------------------------------------------

    def _panel_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        language = self.config.language
        layout.addWidget(self._said(title(""), "panel.operator"))
        self.pin_warning = QLabel("")
        self.pin_warning.setWordWrap(True)
        self.pin_warning.setStyleSheet("background: #8a2d1d; color: white; padding: 8px; border-radius: 8px;")
        layout.addWidget(self.pin_warning)
        self.fields: dict[str, QWidget] = {}  # the plain settings, drawn from KioskConfig (see settings_form)
        forms = {group: settings_form(group, self.fields) for group in GROUPS}
        self.server_url, self.camera = self.fields["server_url"], self.fields["camera"]
        self.method, self.language = self.fields["default_method"], self.fields["language"]
        self.idle = self.fields["idle_timeout_s"]
        # the special parts: the key (masked), the pinned certificate, a new PIN, a test address
        self.api_key = QLineEdit()
        self.api_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.show_key = self._said(button("", secondary=True), "panel.show")
        self.show_key.setCheckable(True)
        self.show_key.toggled.connect(self._toggle_key)
        key_row = QHBoxLayout()
        key_row.addWidget(self.api_key, 1)
        key_row.addWidget(self.show_key)
        self.fingerprint = QLineEdit()
        hint(self.fingerprint, language, "panel.fingerprint_hint")
        self.trust_button = self._said(button("", secondary=True), "panel.trust")
        self.trust_button.clicked.connect(lambda: self.trust_server.emit(self.offered_fingerprint))
        self.trust_button.hide()
        fingerprint_row = QHBoxLayout()
        fingerprint_row.addWidget(self.fingerprint, 1)
        fingerprint_row.addWidget(self.trust_button)
        self.connection = QLabel("")
        self.connection.setProperty("note", True)
        self.connection.setWordWrap(True)
        self.new_pin = QLineEdit()
        self.new_pin.setEchoMode(QLineEdit.EchoMode.Password)
        hint(self.new_pin, language, "panel.new_pin_hint")
        self.test_address = QLineEdit()
        for edit in (self.api_key, self.fingerprint, self.new_pin, self.test_address):
            edit.setMinimumHeight(FIELD_HEIGHT)
        server = forms["server"]
        server.insertRow(1, self._said(QLabel(), "panel.certificate"), fingerprint_row)
        server.insertRow(2, "", self.connection)
        server.insertRow(3, self._said(QLabel(), "panel.api_key"), key_row)
        server.addRow(self._said(QLabel(), "panel.new_pin"), self.new_pin)
        forms["camera"].addRow(self._said(QLabel(), "panel.test_address"), self.test_address)
        self.print_panel = PrintPanel(language)  # the printers CUPS knows, their state, failed jobs
        forms["printing"].insertRow(1, self.print_panel)
        self.frame_panel = FramePanel(language)  # the frame on the demo portrait, the server's word
        self.frame_panel.preview_tapped.connect(self.frame_preview_wanted.emit)
        forms["frame"].addRow(self.frame_panel)
        for group, form in forms.items():
            layout.addWidget(self._said(heading(), f"group.{group}"))
            layout.addLayout(form)
        layout.addWidget(self._said(heading(), "panel.styles"))
        styles_row = QHBoxLayout()
        self.style_list = QListWidget()
        self.style_list.setDragDropMode(QListWidget.DragDropMode.InternalMove)
        self.style_list.setMinimumHeight(240)
        styles_row.addWidget(self.style_list, 1)
        arrows = QVBoxLayout()
        self.up_button, self.down_button = button("▲", secondary=True), button("▼", secondary=True)
        self.up_button.clicked.connect(lambda: self._move(-1))
        self.down_button.clicked.connect(lambda: self._move(1))
        arrows.addWidget(self.up_button)
        arrows.addWidget(self.down_button)
        styles_row.addLayout(arrows)
        layout.addLayout(styles_row, 1)
        self.outbox_status = QLabel("")  # its own line: the outbox rounds never overwrite the status below
        layout.addWidget(self.outbox_status)
        self.rejected_title = QLabel("")
        self.rejected_list = QListWidget()
        self.rejected_list.setMaximumHeight(120)
        layout.addWidget(self.rejected_title)
        layout.addWidget(self.rejected_list)
        self.status = QLabel("")
        self.status.setProperty("note", True)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.keyboard = TextKeyboard()  # for every text field of the panel: the one that was touched last
        layout.addWidget(self.keyboard)
        for field in page.findChildren(QLineEdit) + page.findChildren(QAbstractSpinBox):
            if not isinstance(field.parentWidget(), QAbstractSpinBox):  # a spin box's own line edit: the box
                self.keyboard.attach(field)
        row = QGridLayout()  # three a row: six side by side are wider than a portrait screen
        actions = (  # by their text's id; ``buttons`` has them by the id's last part
            ("panel.test_camera", lambda: self.test_camera.emit(self.camera.text().strip())),
            ("panel.test_email", lambda: self.test_email.emit(self.test_address.text().strip())),
            ("panel.retry_outbox", self.retry_outbox.emit),
            ("panel.save", self._save),
            ("panel.close", self.closed.emit),
            ("panel.leave", self._leave_tapped),
        )
        self.buttons = {}
        for i, (text_id, slot) in enumerate(actions):
            b = self._said(button("", secondary=text_id != "panel.save"), text_id)
            b.clicked.connect(slot)
            row.addWidget(b, i // 3, i % 3)
            self.buttons[text_id.removeprefix("panel.")] = b
        layout.addLayout(row)
        self._leave_armed = QTimer(self, singleShot=True, interval=LEAVE_CONFIRM_S * 1000, timeout=self._disarm_leave)
        return page

    def _leave_tapped(self) -> None:
        """The first tap asks, a second one within ``LEAVE_CONFIRM_S`` leaves: a stray touch never ends the kiosk."""
        if self._leave_armed.isActive():
            self._disarm_leave()
            self.quit_kiosk.emit()
            return
        self._leave_armed.start()
        self._said(self.buttons["leave"], "panel.leave_again")
        self.show_status("panel.leave_confirm", s=LEAVE_CONFIRM_S)

    def _disarm_leave(self) -> None:
        self._leave_armed.stop()
        self._said(self.buttons["leave"], "panel.leave")

    def _toggle_key(self, shown: bool) -> None:
        self.api_key.setEchoMode(QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password)
        self._said(self.show_key, "panel.hide" if shown else "panel.show")

    def _load(self, config: KioskConfig) -> None:
        """The panel shows what is saved: edits left unsaved last time (Close, the idle timeout) are gone."""
        for name, widget in self.fields.items():
            set_value(widget, getattr(config, name))
        self.api_key.setText(config.api_key)
        self.fingerprint.setText(config.server_fingerprint)
        self.new_pin.clear()
        self.test_address.clear()
        say(self.status, config.language, None)
        self.set_styles(self.catalogue, config.styles)
        self._show_pin_warning()
        self.print_panel.load(config.print_printer, config.language)
        self.frame_panel.set_language(config.language)
        self.panel_language = config.language  # the panel speaks the kiosk's language, until it is opened again
        translate_texts(self, config.language)

    def _tr(self, text_id: str, **values: Any) -> str:
        return tr(text_id, getattr(self, "panel_language", self.config.language), **values)

    def _said(self, widget: QLabel | QPushButton, text_id: str | None, **values: Any) -> Any:
        """``widget``, saying ``text_id`` in the panel's language (and again in another one: ``widgets.say``)."""
        say(widget, getattr(self, "panel_language", self.config.language), text_id, **values)
        return widget

    def set_styles(self, catalogue: list[tuple[str, str]], enabled: list[str]) -> None:
        """Every style the server offers, as (id, name): shown by name, ticked when enabled, in order."""
        self.catalogue = list(catalogue)
        names = self.style_names = dict(catalogue)
        self.all_ids = list(names)
        self.style_list.clear()
        ordered = [s for s in enabled if s in names] + [s for s in names if s not in enabled]
        for style_id in ordered:
            item = QListWidgetItem(names[style_id])
            item.setData(Qt.ItemDataRole.UserRole, style_id)
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

    def _show_pin_warning(self) -> None:
        if not self.config.pin_needs_change:
            self.pin_warning.hide()
            return
        why = "panel.pin_generated" if self.config.operator_pin_generated else "panel.pin_published"
        self._said(self.pin_warning, why)
        self.pin_warning.show()

    def _save(self) -> None:
        items = [self.style_list.item(i) for i in range(self.style_list.count())]
        ids = [i.data(Qt.ItemDataRole.UserRole) for i in items]
        checked = [i for i, item in zip(ids, items, strict=True) if item.checkState() == Qt.CheckState.Checked]
        reordered = ids != self.all_ids
        styles = checked if reordered or len(checked) != len(items) else []  # []: all, in the server's order
        update = {name: value_of(widget) for name, widget in self.fields.items()}
        update |= {"api_key": self.api_key.text().strip(), "camera": update["camera"] or "0", "styles": styles}
        update["print_printer"] = self.print_panel.chosen()
        try:
            fingerprint = self.fingerprint.text().strip()
            update["server_fingerprint"] = normalise_fingerprint(fingerprint) if fingerprint else ""
        except ValueError as exc:
            self.show_status("panel.not_saved", why=exc)
            return
        new_pin = self.new_pin.text().strip()
        if new_pin:
            if not re.fullmatch(r"\d{4,8}", new_pin) or new_pin in PUBLISHED_PINS:
                self.show_status("panel.bad_pin")
                return
            update |= {"operator_pin": new_pin, "operator_pin_generated": False}
        problem = url_problem(update["server_url"])
        if problem:
            self.show_status("panel.not_saved", why=problem)
            return
        try:
            config = KioskConfig.model_validate(self.config.model_copy(update=update).model_dump())
        except ValidationError as exc:
            self.show_status("panel.not_saved", why=exc.errors()[0]["msg"])
            return
        self.config = config
        self.new_pin.clear()
        self._show_pin_warning()
        self.saved.emit(self.config)
        self.show_status("panel.saved")

    def show_status(self, text_id: str, **values: Any) -> None:
        """A message (``text_id``, i18n) on the status line, in the panel's language."""
        self._said(self.status, text_id, **values)

    def show_outbox(self, text_id: str, **values: Any) -> None:
        self._said(self.outbox_status, text_id, **values)

    def show_connection(self, text_id: str, offered_fingerprint: str = "", **values: Any) -> None:
        """How the kiosk stands with the server (TLS trust); a fingerprint offered to trust on first use."""
        self._said(self.connection, text_id, **values)
        self.offered_fingerprint = offered_fingerprint
        self.trust_button.setVisible(bool(offered_fingerprint))

    def show_rejected(self, entries: list[OutboxEntry]) -> None:
        """Requests the server refused for good, with its reason (erased after the retention time)."""
        self._said(self.rejected_title, "panel.refused", n=len(entries))
        self.rejected_list.clear()
        for entry in entries:
            when = datetime.fromtimestamp(entry.created).strftime("%Y-%m-%d %H:%M")
            own = entry.request.style or self._tr("panel.own_painting")
            style = self.style_names.get(entry.request.style or "", own)
            method = self._tr(f"default_method.choice.{entry.request.method}")
            self.rejected_list.addItem(f"{when}  {style} ({method}): {entry.reason or self._tr('panel.no_reason')}")


# -- the plain settings, drawn from KioskConfig -------------------------------------------------------------

FIELD_HEIGHT = 64  # text fields (32 px type, 12 px padding) and spin boxes: underscores and descenders stay whole


def settings_form(group: str, widgets: dict[str, QWidget]) -> QFormLayout:
    """A form of the ``group``'s settings, in KioskConfig's order: the field's type picks the widget, its
    description is the label, ``json_schema_extra`` (``config.panel``) gives the group, names and unit. Built in
    English; ``translate_texts`` says the labels and names in the panel's language by their ids."""
    form = QFormLayout()
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    for name, field in KioskConfig.model_fields.items():
        hints = panel_hints(field)
        if not hints or hints["group"] != group:
            continue
        widget = widgets[name] = field_widget(name, field, hints)
        widget.setObjectName(name)
        label = QLabel()
        say(label, "en", f"{name}.description")
        label.setWordWrap(True)
        label.setMinimumWidth(360)
        form.addRow(label, widget)
    return form


def field_widget(name: str, field: FieldInfo, hints: dict[str, Any]) -> QWidget:
    kind = field.annotation
    if get_origin(kind) is Literal:
        names = hints.get("choices", {})
        combo = QComboBox()
        for value in get_args(kind):
            combo.addItem(names.get(value, str(value)), value)  # the operator reads names, the file keeps codes
            if value in names and hints.get("choices_translated", True):
                combo.setItemData(combo.count() - 1, f"{name}.choice.{value}", TEXT_ID_ROLE)
        return combo
    if kind is bool:
        return QCheckBox()
    if kind in (int, float):
        box = QSpinBox() if kind is int else QDoubleSpinBox()
        low = next((m.ge for m in field.metadata if hasattr(m, "ge")), None)
        above = next((m.gt for m in field.metadata if hasattr(m, "gt")), None)
        if above is not None:  # the smallest value the box can show that is still above the bound
            low = above + (1 if kind is int else 10 ** -box.decimals())
        high = next((m.le for m in field.metadata if hasattr(m, "le")), 100_000)
        box.setRange(low if low is not None else 0, high)
        if hints.get("unit"):
            box.setSuffix(f" {hints['unit']}")
        box.setMinimumHeight(FIELD_HEIGHT)
        return box
    edit = QLineEdit()
    edit.setMinimumHeight(FIELD_HEIGHT)
    return edit


def value_of(widget: QWidget) -> Any:
    if isinstance(widget, QComboBox):
        return widget.currentData()
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    if isinstance(widget, QSpinBox | QDoubleSpinBox):
        return widget.value()
    return widget.text().strip()


def set_value(widget: QWidget, value: Any) -> None:
    if isinstance(widget, QComboBox):
        widget.setCurrentIndex(widget.findData(value))
    elif isinstance(widget, QCheckBox):
        widget.setChecked(bool(value))
    elif isinstance(widget, QSpinBox | QDoubleSpinBox):
        widget.setValue(value)
    else:
        widget.setText(str(value))


def heading() -> QLabel:
    label = QLabel()
    label.setStyleSheet("font-weight: bold; padding-top: 12px;")
    label.setWordWrap(True)
    return label


class TextKeyboard(QWidget):
    """An on-screen keyboard for the panel's text fields (URLs, keys, fingerprints, paths, numbers): it types into
    the field touched last, wherever on it the touch landed (a spin box's arrows too, which focus the box).
    Shift gives capitals."""

    ROWS = ("1234567890", "qwertyuiop", "asdfghjkl:", "zxcvbnm./-")

    def __init__(self) -> None:
        super().__init__()
        self.target: QLineEdit | QAbstractSpinBox | None = None
        self.fields: list[QWidget] = []
        grid = QGridLayout(self)
        self.keys: dict[str, QPushButton] = {}
        for r, row in enumerate(self.ROWS):
            for c, char in enumerate(row):
                self._key(grid, char, char, r, c)
        self.shift = self._key(grid, "⇧", None, 4, 0, span=2)
        self.shift.setCheckable(True)
        self.shift.toggled.connect(self._shifted)
        for c, char in ((2, "_"), (3, "@"), (4, "=")):
            self._key(grid, char, char, 4, c)
        say(self._key(grid, "space", " ", 4, 5, span=3), "en", "panel.space")
        self.keys["⌫"] = back = self._key(grid, "⌫", None, 4, 8, span=2)
        back.clicked.connect(self._backspace)

    def _key(self, grid: QGridLayout, label: str, text: str | None, row: int, col: int, span: int = 1) -> QPushButton:
        key = QPushButton(label)
        key.setProperty("key", True)
        key.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the field keeps the focus (and its cursor)
        if text is not None:  # what the key types, whatever its label says (a translated "space")
            key.clicked.connect(lambda _=False, t=text: self._type(t.upper() if self.shift.isChecked() else t))
        grid.addWidget(key, row, col, 1, span)
        self.keys[label] = key
        return key

    def _shifted(self, on: bool) -> None:
        for label, key in self.keys.items():
            if len(label) == 1 and label.isalpha():
                key.setText(label.upper() if on else label)

    def _edit(self) -> QLineEdit | None:
        target = self.target
        if isinstance(target, QAbstractSpinBox):
            return target.findChild(QLineEdit)
        return target

    def _type(self, text: str) -> None:
        edit = self._edit()
        if edit is not None:
            edit.insert(text)
        if self.shift.isChecked():
            self.shift.setChecked(False)

    def _backspace(self) -> None:
        edit = self._edit()
        if edit is not None:
            edit.backspace()

    def attach(self, field: QLineEdit | QAbstractSpinBox) -> None:
        """Type into ``field`` once it is touched or focused (a spin box wherever it is touched: on its arrows
        too, which focus it)."""
        self.fields.append(field)
        for part in (field, *field.findChildren(QLineEdit)):
            part.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.FocusIn, QEvent.Type.MouseButtonPress):
            for field in self.fields:
                if watched is field or field.isAncestorOf(watched):
                    self.target = field
                    break
        return False
