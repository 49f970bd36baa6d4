"""What both job stores and everything above them share: the job and mail records, and the job lifecycle.

The lifecycle is one table (``TRANSITIONS``): each way a job's state may change, from which states, and what it
does to the job's previews, its mail and its personal data. The SQLite store, the NATS store and the runner ask
it; a new state or transition is added here and nowhere else. A state change is a compare-and-set: a job that is
no longer in a transition's source states has moved on (a cancel won the race) and is left alone, while a change
the table does not have at all (``done`` back to ``running``) is a bug and raises ``IllegalTransition``.

This module imports nothing of the service: the stores import it, and ``backend`` (the factory) imports both.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any, NotRequired, TypedDict

from shared import lanes
from shared.protocol import JobOptions, JobState


class BackendUnavailable(RuntimeError):
    """The shared backend cannot be reached right now (a cluster electing a new leader, a network cut). Nothing
    was decided: the caller leaves the job as it is (its lease runs out and it is delivered again) or retries."""


class IllegalTransition(ValueError):
    """A state change the lifecycle table does not have (a bug in the caller, never a lost race)."""


LANES = tuple(lanes.LANES)  # the lanes' names, from their table


@dataclass(frozen=True)
class Transition:
    """One way a job's state changes, and what that does beyond the state."""

    name: str
    sources: tuple[JobState, ...]
    target: JobState
    previews: str
    mail: str
    personal_data: str


CLAIM = Transition(
    "claim",
    (JobState.queued,),
    JobState.running,
    previews="the painter starts sending them",
    mail="none",
    personal_data="the painter reads the photos",
)
RECLAIM = Transition(
    "reclaim",
    (JobState.running,),
    JobState.running,
    previews="the new painter sends its own",
    mail="none",
    personal_data="kept (NATS: a lease ran out, another worker paints it again)",
)
REQUEUE = Transition(
    "requeue",
    (JobState.running,),
    JobState.queued,
    previews="the painter that gives it back drops its last one; every node drops its copy as it hears so",
    mail="none",
    personal_data="kept",
)
FINISH = Transition(
    "finish",
    (JobState.running,),
    JobState.done,
    previews="dropped",
    mail="the painting is queued (if the visitor gave an address)",
    personal_data="the painting is kept until retention",
)
FAIL = Transition(
    "fail",
    (JobState.running,),
    JobState.failed,
    previews="dropped",
    mail="an apology is queued (if the visitor gave an address, and unless the photo was blank)",
    personal_data="kept until retention",
)
GIVE_UP = Transition(
    "give up",
    (JobState.queued, JobState.running),
    JobState.failed,
    previews="dropped",
    mail="an apology is queued (if the visitor gave an address)",
    personal_data="the photos are deleted now (NATS: delivered too often, the dead letter)",
)
CANCEL = Transition(
    "cancel",
    (JobState.queued, JobState.running),
    JobState.cancelled,
    previews="dropped",
    mail="an unsent mail is dropped",
    personal_data="erased now",
)
EXPIRE = Transition(
    "expire",
    (JobState.queued, JobState.running, JobState.done, JobState.failed, JobState.cancelled),
    JobState.expired,
    previews="dropped",
    mail="an unsent mail is dropped",
    personal_data="erased now (retention)",
)

TRANSITIONS = (CLAIM, RECLAIM, REQUEUE, FINISH, FAIL, GIVE_UP, CANCEL, EXPIRE)

# ended: nothing but retention's expiry leads out of these
TERMINAL = tuple(
    state for state in JobState if not any(state in step.sources for step in TRANSITIONS if step is not EXPIRE)
)


def check(sources: JobState | Collection[JobState], target: JobState) -> tuple[JobState, ...]:
    """``sources`` as a tuple, if the table lets each of them move to ``target``; else ``IllegalTransition``.
    A state may be given as its plain string (as a NATS job record holds it)."""
    sources = tuple(JobState(source) for source in ((sources,) if isinstance(sources, str) else sources))
    target = JobState(target)
    for source in sources:
        if not any(source in step.sources and step.target == target for step in TRANSITIONS):
            raise IllegalTransition(f"a job cannot go from {source.value} to {target.value}")
    return sources


@dataclass
class Job:
    id: str
    token: str
    kiosk: str
    idem_key: str | None
    state: JobState
    method: str
    style: str | None
    has_style_image: bool
    options: JobOptions
    email: str | None
    language: str
    progress: float
    error: str | None
    created: float
    started: float | None
    finished: float | None
    engine_seconds: float | None
    request_hash: str | None = None  # what an idempotent replay must match (form fields + uploaded bytes)
    download_code: str | None = None  # the secret of the result's download link (QR code); erased with the job
    wall: bool = False  # the visitor agreed to be shown on the gallery wall; cleared when the job is erased
    seq: int | None = None  # NATS: the job's message in its lane's stream, its place in the queue (SQLite: None)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        data = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        data["state"] = JobState(data["state"])
        data["has_style_image"] = bool(data["has_style_image"])
        data["wall"] = bool(data.get("wall"))
        options = data["options"]
        data["options"] = JobOptions.model_validate_json(options) if isinstance(options, str) else JobOptions(**options)
        return cls(**data)

    def to_json(self, **extra: Any) -> bytes:
        return json.dumps({**asdict(self), "options": self.options.model_dump(), **extra}).encode()


class NewJob(TypedDict):
    """A job as the API hands it to a store's ``create`` (either face): its fields, declared once."""

    kiosk: str
    idem_key: str | None
    method: str
    style: str | None
    options: JobOptions
    email: str | None
    language: str
    portrait_png: bytes
    style_png: bytes | None
    request_hash: NotRequired[str | None]
    wall: NotRequired[bool]


def place_in_lane(seq: int, head: int) -> int:
    """Jobs queued before the job whose message is ``seq`` in its lane's stream, once the lane's messages up to
    ``head`` have been handed to painters (NATS)."""
    return max(seq - head - 1, 0)


@dataclass(frozen=True)
class MailTask:
    """One mail to deliver: the painting (``portrait``), or the news that it could not be painted (``failed``)."""

    job_id: str
    attempts: int  # failed attempts so far
    kind: str = "portrait"
    uncertain: int = 0  # attempts the SMTP server may have delivered (it timed out answering the message itself)


@dataclass(frozen=True)
class LaneCapacity:
    """What the workers of a lane measured: seconds per job (moving average), and how many take its jobs."""

    seconds_per_job: float
    workers: int
