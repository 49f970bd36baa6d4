"""How the server paints each lane (``shared.lanes``), in one table: what a new lane needs is a row here, a row
there, and its painter (``Runner.painters``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shared.lanes import FAST, MASTERPIECE, Lane

from ..config import Settings


@dataclass(frozen=True)
class ServerLane:
    lane: Lane
    batch_max: Callable[[Settings], int]  # jobs one pass takes (painted in one forward pass where they can be)
    batch_window: Callable[[Settings], float]  # seconds a pass waits for its batch to fill
    concurrency: Callable[[Settings], int]  # passes one process runs at the same time
    size: Callable[[Settings], int]  # the longest side a job is painted at, unless the kiosk asked for one
    first_guess: tuple[float, float]  # seconds per job on a GPU and a CPU, until this host has measured one
    needs_loss_network: bool  # a process that paints this lane loads VGG (and times it for its first guess)
    prefetch: Callable[[Settings], bool]  # the next pass's jobs are taken, and their photos read, while one paints

    @property
    def method(self) -> str:
        return self.lane.method

    def first_seconds(self, on_gpu: bool) -> float:
        return self.first_guess[0] if on_gpu else self.first_guess[1]


SERVER_LANES: dict[str, ServerLane] = {
    row.method: row
    for row in (
        ServerLane(
            FAST,
            batch_max=lambda s: s.engine.fast_batch_max,
            batch_window=lambda s: s.engine.fast_batch_window_ms / 1000,
            concurrency=lambda s: 1,  # one batch at a time: a batch already fills the device
            size=lambda s: s.engine.fast_size,
            first_guess=(0.2, 1.0),
            needs_loss_network=False,
            prefetch=lambda s: (
                s.storage.backend == "nats" if s.engine.fast_prefetch is None else s.engine.fast_prefetch
            ),
        ),
        ServerLane(
            MASTERPIECE,
            batch_max=lambda s: 1,
            batch_window=lambda s: 0.0,
            concurrency=lambda s: s.engine.gatys_concurrency,
            size=lambda s: s.engine.gatys_size,
            first_guess=(20.0, 240.0),  # a 512 px masterpiece: ~20 s on a GPU, minutes on a CPU
            needs_loss_network=True,
            prefetch=lambda s: False,  # taken early, a visitor's job would wait minutes as "painting", held here
        ),
    )
}
