"""The job lifecycle table (``jobtypes.TRANSITIONS``); both stores refusing a transition it lacks is part of
``test_backend_contract.py``."""

from __future__ import annotations

import pytest

from shared.protocol import JobState
from style_server.service.jobtypes import EXPIRE, TERMINAL, TRANSITIONS, IllegalTransition, check

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


def test_no_mail_is_queued_before_a_job_ends():
    """A job's status reads its mail only once the job has ended (``Service.status``): no transition into a
    waiting or painting state may queue one."""
    assert all(step.mail == "none" for step in TRANSITIONS if step.target not in TERMINAL)


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
