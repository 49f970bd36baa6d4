"""Printing in the kiosk: the visitor's Print on the result screen and the operator panel's printer part.
Everything that talks to CUPS or the disk runs on a worker thread (``UiBridge``): a
slow or absent print server never holds up the visitor."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from .config import KioskConfig
from .paper import PAPERS
from .print_page import PrintSpool, compose_page, page_pdf
from .printing import Cups, PrintError, PrinterState, PrintJob
from .tasks import UiBridge

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


class PrintDesk(QObject):
    """The work behind the visitor's Print and the panel's printer part; given the kiosk's config and the worker
    bridge. For the result screen: ``offered`` (copies left), ``withdrawn``, ``sending`` (copies left),
    ``failed``. For the panel: ``report`` (CUPS's printers and the chosen one's failed jobs) and ``unreachable``
    (why CUPS did not answer); it asks again every few seconds while the panel is open (``watch``)."""

    offered = Signal(int)
    withdrawn = Signal()
    sending = Signal(int)
    failed = Signal()
    report = Signal(list, list)
    unreachable = Signal(str)

    def __init__(
        self, config: Callable[[], KioskConfig], bridge: UiBridge, asked: Callable[[], tuple[str, str]]
    ) -> None:
        """``asked``: the CUPS server and printer the panel holds now, saved or not."""
        super().__init__()
        self.config, self.bridge, self.asked = config, bridge, asked
        bridge.expected = (*bridge.expected, PrintError)  # CUPS said no: one line in the log
        self.spool = PrintSpool(config().data_dir / "prints")
        self.spool.purge(0)  # pages a crash left behind: nothing is being printed yet
        self.jobs: list[str] = []  # CUPS job ids sent since the start (for the log and tests)
        self.painting: bytes | None = None  # what the visitor may print now
        self._copies_left = 0
        self._visit = 0  # a late answer about an earlier visitor's print shows nothing
        self._polling = False
        self.timer = QTimer(self, interval=PRINTER_POLL_MS, timeout=self.poll)

    # -- the visitor ----------------------------------------------------------------------------------

    def offer(self, painting: bytes | None) -> None:
        """The result screen shows the painting: Print is offered when the operator turned printing on."""
        config = self.config()
        if not (painting and config.print_enabled and config.print_printer):
            self.withdraw()
            return
        self.painting, self._copies_left = painting, config.print_copies_max
        self.offered.emit(self._copies_left)

    def withdraw(self) -> None:
        self._visit += 1
        self.painting, self._copies_left = None, 0
        self.withdrawn.emit()

    def print_portrait(self) -> None:
        """The visitor tapped Print: one copy, sent in the background; the result screen stays usable."""
        if self.painting is None or self._copies_left <= 0:
            return
        self._copies_left -= 1
        self.sending.emit(self._copies_left)
        painting, config, spool, visit = self.painting, self.config(), self.spool, self._visit

        def failed(exc: Exception) -> None:
            if visit == self._visit:
                self.failed.emit()

        self.bridge.run(
            lambda: print_painting(painting, config, spool), self._sent, failed, what="printing the portrait"
        )

    def _sent(self, job_id: str) -> None:
        self.jobs.append(job_id)
        log.info("print job %s sent to %s", job_id, self.config().print_printer)

    # -- the operator ---------------------------------------------------------------------------------

    def watch(self, panel_shown: bool) -> None:
        """While the panel shows, CUPS is asked now and every few seconds."""
        if panel_shown:
            self.timer.start()
            self.poll()
        else:
            self.timer.stop()

    def poll(self) -> None:
        if self._polling:  # one question to CUPS at a time, however slow it is
            return
        server, printer = self.asked()
        self._polling = True

        def answered(report: tuple[list[PrinterState], list[PrintJob]]) -> None:
            self._polling = False
            self.report.emit(*report)

        def failed(exc: Exception) -> None:
            self._polling = False
            self.unreachable.emit(str(exc))

        self.bridge.run(lambda: printer_report(server, printer), answered, failed, what="asking CUPS")

    def stop(self) -> None:
        self.timer.stop()
