"""Deterministic fault injection for crash tests (``PORTRAIT_FAULT_POINT``). Testing only.

A crash point makes the process SIGKILL itself exactly there, like a power cut would: no cleanup, no
flush. A ``<stage>:<style id>`` point makes one stage of the fast lane fail for every job of that style, like a
fault that only one visitor's job triggers: ``prepare`` (reading its photo and options), ``paint`` (the shared
forward pass) or ``keep`` (keeping its painting). Unset (the default) every call here does nothing.
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


FAIL_STAGES = ("prepare", "paint", "keep")


def fail_stage(fault_point: str | None, stage: str, styles: list[str | None]) -> None:
    """Raise at ``stage`` of the fast lane when the configured ``<stage>:<style>`` is among ``styles``."""
    prefix = f"{stage}:"
    if fault_point and fault_point.startswith(prefix) and fault_point[len(prefix) :] in styles:
        raise RuntimeError(f"fault injection: {stage} fails for style {fault_point[len(prefix) :]!r}")
