"""Printing in the kiosk: the visitor's Print on the result screen and the operator panel's printer part,
mixed into ``BoothWindow``. Everything that talks to CUPS or the disk runs on a worker thread (``UiBridge``): a
slow or absent print server never holds up the visitor."""

from __future__ import annotations

import logging

from PySide6.QtCore import QTimer

from .config import KioskConfig
from .paper import PAPERS
from .print_page import PrintSpool, compose_page, page_pdf
from .printing import Cups, PrintError, PrinterState, PrintJob

PRINTER_POLL_MS = 3000  # the panel's printer state, while the panel is open
PRINT_TITLE = "Portrait Booth"
log = logging.getLogger(__name__)


def print_painting(painting: bytes, config: KioskConfig, spool: PrintSpool) -> str:
    """Worker thread: the page, a moment in the print folder, handed to CUPS; returns the job id. The page is
    erased as soon as ``lp`` returns (CUPS has its own copy), whatever it answered."""
    paper = PAPERS[config.print_paper]
    page, _box = compose_page(painting, paper, config.print_layout, config.print_frame, config.print_margin_mm)
    path = spool.write(page_pdf(page))
    try:
        return Cups(config.print_server).submit(config.print_printer, path, paper.media, 1, PRINT_TITLE)
    finally:
        path.unlink(missing_ok=True)


def printer_report(server: str, printer: str) -> tuple[list[PrinterState], list[PrintJob]]:
    """Worker thread: the printers CUPS knows and the chosen one's failed jobs."""
    cups = Cups(server)
    printers = cups.printers()
    known = printer and any(p.name == printer for p in printers)
    return printers, cups.failed_jobs(printer) if known else []


class Printing:
    """Mixed into ``BoothWindow``: the work behind the Print button and the panel's printer part."""

    def _init_printing(self) -> None:
        self.bridge.expected = (*self.bridge.expected, PrintError)  # CUPS said no: one line in the log
        self.print_spool = PrintSpool(self.config.data_dir / "prints")
        self.print_spool.purge(0)  # pages a crash left behind: nothing is being printed yet
        self.print_jobs: list[str] = []  # CUPS job ids sent since the start (for the log and tests)
        self._painting_to_print: bytes | None = None
        self._prints_left = 0
        self._print_visit = 0  # a late answer about an earlier visitor's print shows nothing
        self._polling_printer = False
        self.printer_timer = QTimer(self, interval=PRINTER_POLL_MS, timeout=self._poll_printer)

    def _wire_printing(self) -> None:
        """The panel's part (built once) and the result screen's Print (built again with the language)."""
        panel = self.operator.print_panel
        panel.visible.connect(self._printer_watch)
        panel.chosen_changed.connect(lambda _name: self._poll_printer())

    def _wire_print_offer(self) -> None:
        self.result.print_tapped.connect(self.print_portrait)

    # -- the visitor ----------------------------------------------------------------------------------

    def _offer_print(self, painting: bytes | None) -> None:
        """The result screen shows the painting: Print is offered when the operator turned printing on."""
        config = self.config
        if not (painting and config.print_enabled and config.print_printer):
            self._withdraw_print()
            return
        self._painting_to_print, self._prints_left = painting, config.print_copies_max
        self.result.offer_print(self._prints_left)

    def _withdraw_print(self) -> None:
        self._print_visit += 1
        self._painting_to_print, self._prints_left = None, 0
        self.result.withdraw_print()

    def print_portrait(self) -> None:
        """The visitor tapped Print: one copy, sent in the background; the result screen stays usable."""
        if self._painting_to_print is None or self._prints_left <= 0:
            return
        self._prints_left -= 1
        result, visit = self.result, self._print_visit
        result.print_sending(self._prints_left)
        painting, config, spool = self._painting_to_print, self.config, self.print_spool

        def failed(exc: Exception) -> None:
            if visit == self._print_visit:
                result.print_failed()

        self.bridge.run(
            lambda: print_painting(painting, config, spool),
            self._print_sent,
            failed,
            what="printing the portrait",
        )

    def _print_sent(self, job_id: str) -> None:
        self.print_jobs.append(job_id)
        log.info("print job %s sent to %s", job_id, self.config.print_printer)

    # -- the operator ---------------------------------------------------------------------------------

    def _printer_watch(self, panel_shown: bool) -> None:
        if panel_shown:
            self.printer_timer.start()
            self._poll_printer()
        else:
            self.printer_timer.stop()

    def _poll_printer(self) -> None:
        if self._polling_printer:  # one question to CUPS at a time, however slow it is
            return
        panel = self.operator.print_panel
        server = self.operator.field_value("print_server")  # as typed, before it is saved
        printer = panel.chosen()
        self._polling_printer = True

        def answered(report: tuple[list[PrinterState], list[PrintJob]]) -> None:
            self._polling_printer = False
            panel.show_report(*report)

        def failed(exc: Exception) -> None:
            self._polling_printer = False
            panel.show_error(str(exc))

        self.bridge.run(lambda: printer_report(server, printer), answered, failed, what="asking CUPS")
