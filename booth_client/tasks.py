"""Running blocking work (HTTP, disk) off the UI thread and getting the answer back onto it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal


class UiBridge(QObject):
    """Queued hop back to the UI thread: worker threads emit callables, the UI thread runs them."""

    call = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.closed = False
        self.call.connect(self._run)

    def _run(self, fn: Callable[[], None]) -> None:
        if not self.closed:  # answers that arrive after the window closed have nobody to tell
            fn()

    def close(self) -> None:
        self.closed = True

    def run(
        self,
        work: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[Exception], None] | None = None,
    ) -> threading.Thread:
        def target() -> None:
            try:
                result = work()
            except Exception as exc:  # handed to the UI, which decides what the visitor sees
                if on_error is not None and not self.closed:
                    self.call.emit(lambda e=exc: on_error(e))
                return
            if not self.closed:
                self.call.emit(lambda r=result: on_done(r))

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        return thread
