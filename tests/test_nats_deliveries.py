"""The job lanes on NATS count paintings, not the stream's deliveries. An outage cuts off fetches whose messages
the server had already sent: each such delivery counts on the stream, though no painter ever saw it. Counting
those once gave up a job after its outage (test_scaleout's outage mid-masterpiece): dead-lettered on the third
delivery while its second painting, the only other one, was being published."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from portrait_booth.scaleout import NatsServer
from style_server.config import Settings
from style_server.service.jobtypes import JobState
from style_server.service.nats_backend import NatsStore
from style_server.service.nats_backend.names import lane_stream, lane_subject

from .harness import wait_until
from .test_backend_contract import ADDRESS, create, paint


@pytest.fixture
def store(tmp_path) -> Iterator[NatsStore]:
    nats = NatsServer(tmp_path / "nats").start()
    settings = Settings(backend="nats", nats_url=nats.url, data_dir=tmp_path / "data", nats_ack_wait_seconds=1.0)
    opened = NatsStore(settings, "worker")
    try:
        yield opened
    finally:
        opened.close()
        nats.stop()


def test_deliveries_that_never_reached_a_painter_do_not_give_a_job_up(store):
    job, _ = create(store, email=ADDRESS)
    run = store.link.run
    sub = run(store.consumers.get("fast", lane_stream("fast"), lane_subject("fast")))
    lost = 0
    while lost <= store.settings.storage.max_deliveries:  # fetched and dropped, as by a fetch an outage cut off
        lost += len(run(store.consumers.fetch(sub, 1, 2.0)))  # delivered again once its lease (1 s) runs out
    [taken] = wait_until(lambda: store.take("fast", 1, 0.0), lambda: store.get(job.id), timeout=30)
    assert taken.id == job.id and store.get(job.id).state == JobState.running
    assert paint(store, job.id)


def test_a_job_delivered_again_while_its_painter_holds_it_is_painted_once(store):
    """Its lease lapsed while the painter went on (an outage): the new delivery is the one answered, the job is
    not claimed a second time (twice painted by one worker, or counted twice towards the dead letter)."""
    job, _ = create(store, email=ADDRESS)
    [taken] = wait_until(lambda: store.take("fast", 1, 0.0), lambda: "the job was never delivered", timeout=30)
    assert taken.id == job.id
    held = store.queue.held
    store.link.run(held[job.id].nak())  # the server delivers it again at once, as after a lapsed lease

    def delivered_again() -> bool:
        assert store.take("fast", 1, 0.0) == [], "the held job was claimed a second time"
        return held[job.id].metadata.num_delivered >= 2

    wait_until(delivered_again, lambda: "the job was never delivered again", timeout=30)
    record, _ = store.link.run(store.records.record(job.id))
    assert record["state"] == JobState.running and record["deliveries"] == 1  # one painting begun
    assert paint(store, job.id)
    assert job.id not in held
    wait_until(lambda: store.depth()["fast"] == 0, lambda: f"the lane still holds {store.depth()}", timeout=30)
