"""The Instant lane takes its next batch, and reads its photos, while a batch paints, so the queue's cost overlaps
the painting. A job taken ahead is painted next, goes back to the queue when its worker stops, is not lost
when its worker dies, and is let go when it is cancelled before its pass."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from portrait_booth.scaleout import BoothProcess, ScaledBooth
from tests.harness import (
    ServerProcess,
    always_during,
    job_status,
    nats_booth,
    wait_for_state,
    wait_until,
    wait_until_nats_holds_no_work,
)
from tests.test_scaleout import assert_done_once, box, post  # noqa: F401 (box: the fixture)
from tests.test_server_hardening import wait_for_log

pytestmark = pytest.mark.slow  # end to end: started first when the tests run in parallel


def held_then_taken_ahead(client, log, hold, address: str = "held@example.org") -> tuple[dict, dict]:
    """A job held in its batch at the test hold point, and one sent after it, taken ahead meanwhile."""
    hold.touch()
    held = post(client, address)
    holding = f"test hold: fast batch {held['id']} waits"
    wait_until(lambda: holding in log.read_text(errors="replace"), lambda: log.read_text(errors="replace")[-2000:])
    ahead = post(client, f"ahead-{address}")
    wait_until(lambda: job_status(client, ahead)["state"] == "running", lambda: job_status(client, ahead), 60)
    assert job_status(client, held)["state"] == "running"  # still held: the second was taken while it paints
    return held, ahead


def test_the_next_batch_is_taken_while_one_paints_and_painted_next(tmp_path, cache_dir, box):  # noqa: F811
    hold = tmp_path / "hold"
    server = ServerProcess(tmp_path / "data", cache_dir, box.port, test_hold_batch_file=hold, fast_prefetch=True)
    server.start()
    try:
        with server.client() as client:
            held, ahead = held_then_taken_ahead(client, server.log, hold)
            hold.unlink()
            for job in (held, ahead):
                assert wait_for_state(client, job, {"done", "failed"})["state"] == "done"
    finally:
        hold.unlink(missing_ok=True)
        server.stop()


def test_on_sqlite_by_default_the_next_job_stays_queued(tmp_path, cache_dir, box):  # noqa: F811
    """One host: taking a job costs a millisecond, so nothing is taken ahead, and a job queued behind a batch
    says so (its place, its wait)."""
    hold = tmp_path / "hold"
    server = ServerProcess(tmp_path / "data", cache_dir, box.port, test_hold_batch_file=hold).start()
    try:
        with server.client() as client:
            hold.touch()
            held = post(client, "held@example.org")
            wait_for_log(server, f"test hold: fast batch {held['id']} waits")
            queued = post(client, "queued@example.org")

            def place() -> tuple[str, int | None]:
                status = job_status(client, queued)
                return status["state"], status["position"]

            always_during(lambda: place() == ("queued", 0), 1.0, "taken ahead on SQLite by default")
            hold.unlink()
            assert wait_for_state(client, queued, {"done", "failed"})["state"] == "done"
    finally:
        hold.unlink(missing_ok=True)
        server.stop()


@dataclass
class HeldBooth:
    """A scaled-out booth whose one worker holds a batch at the test hold point, with the next job taken ahead."""

    booth: ScaledBooth
    worker: BoothProcess
    client: httpx.Client
    hold: Path
    held: dict
    ahead: dict


@pytest.fixture
def held_booth(tmp_path, cache_dir, box) -> Iterator[HeldBooth]:  # noqa: F811
    hold = tmp_path / "hold"
    booth = nats_booth(tmp_path, cache_dir, box.port, workers=0)
    try:
        worker = booth.add_worker(test_hold_batch_file=hold)
        with booth.api_nodes[0].client() as client:
            held, ahead = held_then_taken_ahead(client, worker.log, hold)
            yield HeldBooth(booth, worker, client, hold, held, ahead)
    finally:
        hold.unlink(missing_ok=True)
        booth.stop()


@pytest.mark.parametrize("end", ["SIGTERM", "SIGKILL"])
def test_a_job_taken_ahead_outlives_its_worker(held_booth: HeldBooth, box, end):  # noqa: F811
    """Stopped, the worker gives it back at once (not when its lease runs out); killed holding its batch (where
    the ``in_fast_batch`` fault point kills it) and the job taken ahead, the leases run out and the next worker
    paints both. Either way both jobs are painted and mailed once."""
    b = held_booth
    if end == "SIGTERM":
        b.worker.stop()
        assert b.worker.proc.returncode == 0
        assert job_status(b.client, b.ahead)["state"] == "queued"
    else:
        b.worker.kill9()
    b.hold.unlink()
    b.booth.add_worker()
    assert_done_once(b.booth, b.client, box, [b.held, b.ahead])


def test_a_job_cancelled_after_it_was_taken_ahead_is_let_go(held_booth: HeldBooth):
    """Dropped before its pass, never painted, and its work message acked: no job stays in NATS (it would count in
    the queue's depth, and so against the queue's limit, for as long as the worker lives)."""
    b = held_booth
    assert b.client.delete(f"/v1/jobs/{b.ahead['id']}", headers={"X-Job-Token": b.ahead["token"]}).status_code == 204
    b.hold.unlink()
    assert wait_for_state(b.client, b.held, {"done", "failed"})["state"] == "done"
    wait_until_nats_holds_no_work(b.booth.nats.url)
    log = b.worker.log.read_text(errors="replace")
    assert f"job {b.ahead['id']} was cancelled before its pass" in log and f"job {b.ahead['id']} done" not in log
