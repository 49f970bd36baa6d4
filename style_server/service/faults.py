"""Deterministic fault injection for crash tests (``PORTRAIT_FAULT_POINT``). Testing only.

A crash point makes the process SIGKILL itself exactly there, like a power cut would: no cleanup, no
flush. A ``paint:<style id>`` point makes every fast forward pass that holds that style fail, like a
network error that only one visitor's job triggers. Unset (the default) every call here does nothing.
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger("style_server.faults")

CRASH_POINTS = ("in_fast_batch", "after_finish", "after_smtp_accept")


def crash_at(fault_point: str | None, point: str) -> None:
    """SIGKILL this process if ``point`` is the configured fault point."""
    if fault_point == point:
        log.warning("fault injection: SIGKILL at %s", point)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def fail_painting(fault_point: str | None, styles: list[str | None]) -> None:
    """Raise inside a forward pass when the configured ``paint:<style>`` is among the batch's styles."""
    if fault_point and fault_point.startswith("paint:") and fault_point[len("paint:") :] in styles:
        raise RuntimeError(f"fault injection: the forward pass fails for style {fault_point[6:]!r}")
