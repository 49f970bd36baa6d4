"""Running blocking work (HTTP, disk) off the UI thread and getting the answer back onto it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


class UiBridge(QObject):
    """Queued hop back to the UI thread: worker threads emit callables, the UI thread runs them.

    No error is ever dropped: every exception of background work (or of a UI callback) is logged with its
    traceback, and handed to ``on_error`` when there is one, so the screen can say what happened.
    """

    call = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.closed = False
        self.errors = 0  # background errors seen (logged): for the operator's status and for tests
        self.expected: tuple[type[Exception], ...] = ()  # logged in one line; anything else with its traceback
        self.call.connect(self._run)

    def _run(self, fn: Callable[[], None]) -> None:
        if self.closed:  # answers that arrive after the window closed have nobody to tell
            return
        try:
            fn()
        except Exception:
            self.errors += 1
            log.exception("error while showing a background answer")

    def close(self) -> None:
        self.closed = True

    def run(
        self,
        work: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[Exception], None] | None = None,
        what: str = "",
    ) -> threading.Thread:
        label = what or getattr(work, "__qualname__", "background work")

        def target() -> None:
            try:
                result = work()
            except Exception as exc:
                self.errors += 1
                log.warning("%s failed: %s", label, exc, exc_info=not isinstance(exc, self.expected))
                if on_error is not None and not self.closed:
                    self.call.emit(lambda e=exc: on_error(e))
                return
            if not self.closed:
                self.call.emit(lambda r=result: on_done(r))

        thread = threading.Thread(target=target, name=label[:40], daemon=True)
        thread.start()
        return thread
