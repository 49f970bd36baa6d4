"""The lanes a job can take, declared once for both sides.

A lane is a queue with its own painters: ``fast`` (Instant: a fast network, jobs batched) and ``gatys``
(Masterpiece: the Gatys optimiser, one job per painter). ``Method`` is a lane's name on the wire; this table holds
what both sides know of each lane. How the server paints it (batching, sizes, first guesses) is in
``style_server/service/lanes.py``; the words visitors read are ``docs/glossary.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from .protocol import Method


@dataclass(frozen=True)
class Lane:
    method: Method
    name: str  # the operator's and the visitor's word (English; the kiosk's texts translate it)
    button_text: str  # the kiosk's i18n id for its button; the text takes the wait as {s} (seconds) or {m} (min)
    wait_unit: Literal["s", "min"]
    expected_seconds: float  # the wait the kiosk shows until the server tells it (the catalogue's eta_seconds)
    needs_painting: bool  # only a style with a painting's image can take it (the optimiser learns from the image)


FAST = Lane("fast", "Instant", "instant", "s", 2.0, needs_painting=False)
MASTERPIECE = Lane("gatys", "Masterpiece", "masterpiece", "min", 120.0, needs_painting=True)
LANES: dict[str, Lane] = {lane.method: lane for lane in (FAST, MASTERPIECE)}  # in the kiosk's order
assert tuple(LANES) == get_args(Method), "a lane is declared here and in protocol.Method, in the same order"


def methods_for(has_painting: bool) -> list[str]:
    """The lanes a style can take: all of them with a painting's image, else those that need none."""
    return [method for method, lane in LANES.items() if has_painting or not lane.needs_painting]
