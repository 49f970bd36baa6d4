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
        self.call.connect(lambda fn: fn())

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
                if on_error is not None:
                    self.call.emit(lambda e=exc: on_error(e))
                return
            self.call.emit(lambda r=result: on_done(r))

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        return thread
