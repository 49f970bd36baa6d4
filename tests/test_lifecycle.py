"""The job lifecycle table (``jobtypes.TRANSITIONS``), and both stores refusing a transition it does not have."""

from __future__ import annotations

import pytest

from portrait_booth.scaleout import NatsServer
from shared.protocol import JobState
from style_server.service.jobtypes import EXPIRE, TERMINAL, TRANSITIONS, IllegalTransition, check
from tests.harness import STORE_CREATE

PAIRS = {(source, step.target) for step in TRANSITIONS for source in step.sources}


def test_every_state_is_reachable_from_queued():
    reached, frontier = {JobState.queued}, [JobState.queued]
    while frontier:
        state = frontier.pop()
        for target in {target for source, target in PAIRS if source == state} - reached:
            reached.add(target)
            frontier.append(target)
    assert reached == set(JobState)


def test_only_retention_leads_out_of_an_ended_job_and_nothing_out_of_an_expired_one():
    assert set(TERMINAL) == {JobState.done, JobState.failed, JobState.cancelled, JobState.expired}
    assert {source for source, _ in PAIRS if source in TERMINAL} == set(TERMINAL) - {JobState.expired}
    assert all(step is EXPIRE for step in TRANSITIONS for source in step.sources if source in TERMINAL)
    assert not any(JobState.expired in step.sources for step in TRANSITIONS)


def test_every_transition_says_what_it_does_to_previews_mail_and_personal_data():
    for step in TRANSITIONS:
        assert step.sources and step.previews and step.mail and step.personal_data, step.name


def test_a_transition_the_table_lacks_raises_and_every_one_it_has_passes():
    for source in JobState:
        for target in JobState:
            if (source, target) in PAIRS:
                assert check(source, target) == (source,)
            else:
                with pytest.raises(IllegalTransition, match=f"from {source.value} to {target.value}"):
                    check(source, target)
    with pytest.raises(IllegalTransition):  # one bad source among good ones is enough
        check((JobState.running, JobState.done), JobState.failed)


@pytest.fixture(params=["sqlite", "nats"])
def store(request, tmp_path):
    if request.param == "sqlite":
        from style_server.service.store import Store

        backend = Store(tmp_path / "data")
        yield backend
        backend.close()
        return
    from style_server.config import Settings
    from style_server.service.nats_store import NatsStore

    server = NatsServer(tmp_path / "nats").start()
    try:
        backend = NatsStore(Settings(backend="nats", nats_url=server.url, data_dir=tmp_path / "data"), "test")
        yield backend
        backend.close()
    finally:
        server.stop()


def test_a_store_refuses_an_illegal_transition_and_leaves_a_lost_race_alone(store):
    job, _ = store.create(idem_key=None, **STORE_CREATE)
    assert not store.move(job.id, JobState.running, JobState.done)  # legal, but the job is queued: it moved on
    assert store.get(job.id).state == JobState.queued
    [taken] = store.take("fast", 1, 0.0)
    assert taken.id == job.id and store.get(job.id).state == JobState.running
    assert store.move(job.id, JobState.running, JobState.failed, error="painter stopped")
    assert store.get(job.id).state == JobState.failed
    with pytest.raises(IllegalTransition, match="from failed to running"):
        store.move(job.id, JobState.failed, JobState.running)
    with pytest.raises(IllegalTransition, match="from done to queued"):
        store.move(job.id, JobState.done, JobState.queued)
    after = store.get(job.id)
    assert after.state == JobState.failed and after.error == "painter stopped"  # nothing was written
