"""The Instant lane takes its next batch, and reads its photos, while a batch paints, so the queue's cost overlaps
the painting. A job taken ahead is painted next, is let go when it is cancelled before its pass, is not lost when
its worker dies, and goes back to the queue when its worker stops."""

from __future__ import annotations

from pathlib import Path

import pytest

from style_server.config import Settings
from style_server.service.lanes import SERVER_LANES
from tests.harness import (
    ServerProcess,
    job_status,
    nats_booth,
    wait_for_state,
    wait_until,
)
from tests.test_scaleout import assert_done_once, box, post  # noqa: F401 (box: the fixture)
from tests.test_server_hardening import wait_for_log

pytestmark = pytest.mark.slow  # end to end: started first when the tests run in parallel


def held_then_taken_ahead(client, painter, hold: Path, address: str) -> tuple[dict, dict]:
    """A job held in its batch at the test hold point of ``painter`` (a server or a worker process), and one sent
    after it, taken ahead meanwhile."""
    hold.touch()
    held = post(client, address)
    wait_for_log(painter, f"test hold: fast batch {held['id']} waits")
    ahead = post(client, f"ahead-{address}")
    wait_until(lambda: job_status(client, ahead)["state"] == "running", lambda: job_status(client, ahead), 60)
    assert job_status(client, held)["state"] == "running"  # still held: the second was taken while it paints
    return held, ahead


def test_prefetch_is_on_with_nats_and_off_with_sqlite_unless_set():
    """One host: taking a job costs a millisecond, so nothing is taken ahead and a job queued behind a batch keeps
    its place and its wait (``test_eta`` sees both)."""
    prefetch = SERVER_LANES["fast"].prefetch
    assert not prefetch(Settings()) and prefetch(Settings(backend="nats"))
    assert prefetch(Settings(fast_prefetch=True)) and not prefetch(Settings(backend="nats", fast_prefetch=False))
    assert not any(SERVER_LANES["gatys"].prefetch(s) for s in (Settings(), Settings(backend="nats")))


def test_on_sqlite_when_set_the_next_batch_is_taken_while_one_paints(tmp_path, cache_dir, box):  # noqa: F811
    hold = tmp_path / "hold"
    server = ServerProcess(tmp_path / "data", cache_dir, box.port, test_hold_batch_file=hold, fast_prefetch=True)
    server.start()
    try:
        with server.client() as client:
            held, ahead = held_then_taken_ahead(client, server, hold, "held@example.org")
            hold.unlink()
            for job in (held, ahead):
                assert wait_for_state(client, job, {"done", "failed"})["state"] == "done"
    finally:
        hold.unlink(missing_ok=True)
        server.stop()


def test_a_job_taken_ahead_on_nats_cancelled_killed_or_stopped(tmp_path, cache_dir, box):  # noqa: F811
    """One booth, three workers in turn, each holding a batch with the next job taken ahead:
    - cancelled before its pass, that job is never painted and its work message is acked (a held one would count
      in the queue's depth, and so against the queue's limit, for as long as the worker lives);
    - its worker killed (where the ``in_fast_batch`` fault point kills it), the leases run out and the next
      worker paints both jobs;
    - its worker stopped (SIGTERM), the job goes back at once, not when its lease runs out.
    Every job is painted and mailed once."""
    hold = tmp_path / "hold"
    booth = nats_booth(tmp_path, cache_dir, box.port, workers=0)
    try:
        with booth.api_nodes[0].client() as client:
            worker = booth.add_worker(test_hold_batch_file=hold)
            held, cancelled = held_then_taken_ahead(client, worker, hold, "first@example.org")
            token = {"X-Job-Token": cancelled["token"]}
            assert client.delete(f"/v1/jobs/{cancelled['id']}", headers=token).status_code == 204
            hold.unlink()
            assert_done_once(booth, client, box, [held])  # and nothing left in NATS: the cancelled job let go
            log = worker.log.read_text(errors="replace")
            assert f"job {cancelled['id']} was cancelled before its pass" in log
            assert f"job {cancelled['id']} done" not in log

            held, ahead = held_then_taken_ahead(client, worker, hold, "second@example.org")
            worker.kill9()
            worker = booth.add_worker(test_hold_batch_file=hold)
            hold.unlink()
            assert_done_once(booth, client, box, [held, ahead], previous=1)

            held, ahead = held_then_taken_ahead(client, worker, hold, "third@example.org")
            worker.stop()
            assert worker.proc.returncode == 0
            assert job_status(client, ahead)["state"] == "queued"
            hold.unlink()
            booth.add_worker()
            assert_done_once(booth, client, box, [held, ahead], previous=3)
    finally:
        hold.unlink(missing_ok=True)
        booth.stop()
