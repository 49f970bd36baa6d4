"""Printing on screen: the visitor's Print button on the result screen, and the operator panel's printer part
(the printers CUPS knows, the chosen one's state, its failed jobs)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QListWidget, QVBoxLayout, QWidget

from .i18n import tr
from .printing import PrinterState, PrintJob
from .widgets import button, say


class PrintOffer(QWidget):
    """The Print button under the painting, and what became of the last print. Hidden unless offered."""

    tapped = Signal()

    def __init__(self, language: str) -> None:
        super().__init__()
        self.setObjectName("printOffer")
        self.language = language
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.button = button(tr("print", language), secondary=True)
        self.button.setObjectName("printButton")
        self.button.clicked.connect(self.tapped.emit)
        self.note = QLabel("")
        self.note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.note.setWordWrap(True)
        layout.addWidget(self.button)
        layout.addWidget(self.note)
        self.withdraw()

    def offer(self, copies_left: int) -> None:
        self.note.clear()
        self._copies(copies_left)
        self.show()

    def sending(self, copies_left: int) -> None:
        self.note.setText(tr("printing", self.language))
        self._copies(copies_left)

    def failed(self) -> None:
        self.note.setText(tr("print_failed", self.language))

    def withdraw(self) -> None:
        self.hide()
        self.note.clear()

    def _copies(self, left: int) -> None:
        self.button.setEnabled(left > 0)
        self.button.setText(tr("print", self.language) if left > 0 else tr("printed", self.language))


class PrintPanel(QWidget):
    """The operator's printer: chosen from the printers CUPS knows (the list is refreshed while the panel is
    open), its state as CUPS reports it, and the jobs that failed."""

    visible = Signal(bool)  # shown (the panel unlocked) or hidden: the kiosk polls CUPS only meanwhile
    chosen_changed = Signal(str)

    def __init__(self, language: str = "en") -> None:
        super().__init__()
        self.setObjectName("printPanel")
        self.language = language
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.printer = QComboBox()
        self.printer.setObjectName("print_printer")
        self.printer.setMinimumHeight(64)
        self.printer.currentIndexChanged.connect(lambda _i: self.chosen_changed.emit(self.chosen()))
        self.state = QLabel("")
        self.state.setProperty("note", True)
        self.state.setWordWrap(True)
        self.failed_title = QLabel("")
        self.failed_list = QListWidget()
        self.failed_list.setMaximumHeight(120)
        label = QLabel()
        say(label, language, "panel.printer")
        label.setMinimumWidth(360)  # lined up with the settings' labels around it
        form.addRow(label, self.printer)
        form.addRow("", self.state)
        form.addRow(self.failed_title)
        form.addRow(self.failed_list)
        self.printers: list[PrinterState] = []
        self.load("", language)

    def _tr(self, text_id: str, **values: object) -> str:
        return tr(text_id, self.language, **values)

    def load(self, printer: str, language: str) -> None:
        """The saved choice (kept in the list even while CUPS does not know it), in ``language``."""
        self.language = language
        self.printer.clear()  # built anew in this language
        self._fill([p.name for p in self.printers], printer)
        self.show_state()

    def chosen(self) -> str:
        return self.printer.currentData() or ""

    def _fill(self, names: list[str], keep: str) -> None:
        items = [self.printer.itemData(i) for i in range(self.printer.count())]
        if items == ["", *names] or (items == ["", *names, keep] and keep not in names):
            return  # the same list: left alone, so an open drop-down stays open
        self.printer.blockSignals(True)
        self.printer.clear()
        self.printer.addItem(self._tr("panel.no_printer"), "")
        for name in names:
            self.printer.addItem(name, name)
        if keep and keep not in names:
            self.printer.addItem(self._tr("panel.printer_missing", name=keep), keep)
        self.printer.setCurrentIndex(max(0, self.printer.findData(keep)))
        self.printer.blockSignals(False)

    def show_report(self, printers: list[PrinterState], failed: list[PrintJob]) -> None:
        """What CUPS said: its printers (the choice stays), the chosen one's state and failed jobs."""
        self.printers = printers
        self._fill([p.name for p in printers], self.chosen())
        self.show_state()
        self.failed_title.setText(self._tr("panel.failed_prints", n=len(failed)))
        self.failed_list.clear()
        for job in failed:
            status = job.status or ", ".join(job.reasons)
            waiting = "" if job.finished else f" ({self._tr('panel.job_waiting')})"
            self.failed_list.addItem(f"{job.id}  {job.when}: {status}{waiting}")

    def show_state(self) -> None:
        state = next((p for p in self.printers if p.name == self.chosen()), None)
        if not self.chosen():
            self.state.setText("")
        elif state is None:
            self.state.setText(self._tr("panel.printer_unknown"))
        else:
            detail = f" ({state.message})" if state.message else ""
            self.state.setText(f"{state.name}: {self._tr(f'printer.{state.condition}')}{detail}")

    def show_error(self, error: str) -> None:
        self.state.setText(self._tr("panel.cups_down", error=error))

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.visible.emit(True)

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self.visible.emit(False)
