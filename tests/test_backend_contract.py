"""The contract of ``backend.JobBackend``: one set of tests, run against the SQLite store and the NATS store (a real
``nats-server``), both opened through ``open_backend`` as the service opens them. A new backend passes it
unchanged.

Each backend is used as the service uses it: the calls of the event loop (``AsyncJobBackend``) are awaited through
its ``aio``, on a loop whose shared thread pool refuses work (the face must never borrow it); the painters' calls
are the blocking ones. The last test holds the two faces to the same answers."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from portrait_booth.scaleout import NatsServer
from shared.protocol import JobState
from style_server.config import Settings
from style_server.service.backend import AsyncJobBackend, JobBackend, open_backend
from style_server.service.jobtypes import IllegalTransition, Job
from tests.harness import STORE_CREATE, wait_until

ADDRESS = "visitor@example.org"
PORTRAIT, STYLE, PAINTING = b"portrait-png", b"style-png", b"painting-jpeg"


LOOP_CALLS = {name for name, call in vars(AsyncJobBackend).items() if inspect.iscoroutinefunction(call)}


class NoSharedThreads(ThreadPoolExecutor):
    def submit(self, *args, **kwargs):
        raise AssertionError("an event loop's call of the backend took a thread of the loop's shared pool")


class AsService:
    """A backend used as the service uses it (see the module's description)."""

    def __init__(self, backend: JobBackend) -> None:
        self.backend = backend
        self.loop = asyncio.new_event_loop()
        self.loop.set_default_executor(NoSharedThreads(1))

    def __getattr__(self, name: str):
        if name not in LOOP_CALLS:
            return getattr(self.backend, name)
        call = getattr(self.backend.aio, name)
        return lambda *args, **kwargs: self.loop.run_until_complete(call(*args, **kwargs))

    def close(self) -> None:
        self.backend.close()
        self.loop.close()


@dataclass
class Backends:
    """Opens the backend under test the way a process does, and stands in for a process that dies."""

    kind: str
    settings: Settings
    opened: list[AsService]

    def open(self) -> JobBackend:
        backend = AsService(open_backend(self.settings, f"contract-{len(self.opened)}"))
        self.opened.append(backend)
        return backend  # type: ignore[return-value]  # it answers every call of one

    def restart(self, backend: JobBackend) -> JobBackend:
        """The process holding ``backend`` is gone without a goodbye; a new one starts as the service does."""
        backend.close()
        fresh = self.open()
        fresh.requeue_running()  # the service's start-up
        return fresh


@pytest.fixture(params=["sqlite", "nats"])
def backends(request, tmp_path: Path) -> Iterator[Backends]:
    # leases short enough that a dead worker's jobs and mails come back within the test
    quick = {"data_dir": tmp_path / "data", "nats_ack_wait_seconds": 1.0}
    server = NatsServer(tmp_path / "nats").start() if request.param == "nats" else None
    settings = Settings(backend=request.param, **quick, **({"nats_url": server.url} if server else {}))
    made = Backends(request.param, settings, [])
    try:
        yield made
    finally:
        for backend in made.opened:
            backend.close()
        if server is not None:
            server.stop()


@pytest.fixture
def store(backends: Backends) -> JobBackend:
    return backends.open()


def create(store: JobBackend, key: str | None = None, **fields) -> tuple[Job, bool]:
    values = STORE_CREATE | {"portrait_png": PORTRAIT} | fields
    return store.create(idem_key=key, **values)


def paint(store: JobBackend, job_id: str, engine_seconds: float = 0.5, mail: bool = True) -> bool:
    tmp = store.result_tmp(job_id)
    tmp.write_bytes(PAINTING)
    published = store.publish_result(job_id, tmp, engine_seconds, mail)
    assert not tmp.exists()  # gone either way
    return published


def take_one(store: JobBackend, method: str = "fast") -> Job:
    """The next job of a lane, waiting for a redelivery where the backend delivers again after a lease."""
    [job] = wait_until(lambda: store.take(method, 1, 0.0), lambda: f"no {method} job was delivered", timeout=30)
    return job


def drained(store: JobBackend) -> None:
    """The lane holds nothing more (a NATS ack is taken by the server a moment after it is sent)."""
    wait_until(lambda: store.depth()["fast"] == 0, lambda: f"the lane still holds {store.depth()}", timeout=30)


def due(store: JobBackend, job_id: str):
    """The job's mail, once it is due (a NATS mail comes back when its lease or its delay runs out)."""

    def find():
        return next((task for task in store.due_mail(time.time()) if task.job_id == job_id), None)

    return wait_until(find, lambda: f"the mail of {job_id} never came due", timeout=30)


def test_create_queues_the_job_with_its_images(store):
    job, created = create(store, style_png=STYLE, email=ADDRESS, wall=True)
    assert created and job.state == JobState.queued
    stored = store.get(job.id)
    assert (stored.kiosk, stored.method, stored.email, stored.wall, stored.has_style_image) == (
        "kiosk-a",
        "fast",
        ADDRESS,
        True,
        True,
    )
    assert store.by_download_code(stored.download_code).id == job.id
    assert store.position(stored) == 0 and store.depth()["fast"] == 1
    assert store.result(job.id) is None and store.mail_status(job.id) == "none"
    taken = take_one(store)
    assert taken.id == job.id and store.inputs(taken) == (PORTRAIT, STYLE)


def test_an_idempotency_key_hands_back_its_holder_per_kiosk(store):
    first, created = create(store, key="k1")
    again, created_again = create(store, key="k1")
    assert created and not created_again and again.id == first.id
    assert store.by_idempotency_key("kiosk-a", "k1").id == first.id
    other, created_other = create(store, key="k1", kiosk="kiosk-b")  # the same key from another kiosk
    assert created_other and other.id != first.id
    assert store.by_idempotency_key("kiosk-a", "nope") is None
    assert store.depth()["fast"] == 2


def test_take_claims_each_job_once_oldest_first_per_lane(store):
    ids = [create(store)[0].id for _ in range(3)]
    masterpiece, _ = create(store, method="gatys", style="starry-night")
    assert store.position(store.get(ids[2])) == 2
    first = take_one(store)
    second = take_one(store)
    assert [first.id, second.id] == ids[:2]
    assert all(store.get(j).state == JobState.running and store.get(j).started for j in ids[:2])
    assert [j.id for j in store.take("fast", 5, 0.0)] == ids[2:]
    assert store.take("fast", 5, 0.0) == []
    assert [j.id for j in store.take("gatys", 5, 0.0)] == [masterpiece.id]


def test_progress_is_written_only_while_the_job_runs(store):
    job, _ = create(store)
    store.set_progress(job.id, 0.5)
    assert store.get(job.id).progress == 0
    take_one(store)
    store.set_progress(job.id, 0.5)
    assert store.get(job.id).progress == 0.5


def test_a_published_painting_ends_the_job_and_queues_its_mail_once(store):
    job, _ = create(store, email=ADDRESS)
    take_one(store)
    assert paint(store, job.id, engine_seconds=1.5)
    done = store.get(job.id)
    assert (done.state, done.progress, done.engine_seconds, done.error) == (JobState.done, 1.0, 1.5, None)
    assert store.result(job.id) == PAINTING and store.mail_status(job.id) == "pending"
    task = due(store, job.id)
    assert (task.kind, task.attempts) == ("portrait", 0)
    store.mail_sent(job.id)
    assert store.mail_status(job.id) == "sent"
    assert all(t.job_id != job.id for t in store.due_mail(time.time()))
    drained(store)


def test_a_painting_published_without_mail_queues_none(store):
    """Whether a painting is mailed is the caller's word (the runner: the job has an address); an apology's is
    the store's (below)."""
    job, _ = create(store, email=ADDRESS)
    take_one(store)
    assert paint(store, job.id, mail=False)
    assert store.mail_status(job.id) == "none" and store.result(job.id) == PAINTING


def test_a_failed_job_gets_one_apology_and_only_with_an_address(store):
    mailed, _ = create(store, email=ADDRESS)
    silent, _ = create(store)
    for _ in range(2):
        take_one(store)
    for job in (mailed, silent):
        store.fail(job.id, "the painter ran out of memory")
        failed = store.get(job.id)
        assert (failed.state, failed.error) == (JobState.failed, "the painter ran out of memory")
    store.fail(mailed.id, "a second report of the same failure")  # no longer running: left alone
    assert store.get(mailed.id).error == "the painter ran out of memory"
    assert store.mail_status(silent.id) == "none"
    assert due(store, mailed.id).kind == "failed"


def test_a_requeued_job_is_painted_again(store):
    job, _ = create(store)
    take_one(store)
    store.requeue(job.id)  # a graceful shutdown mid-painting
    assert store.get(job.id).state == JobState.queued
    again = take_one(store)
    assert again.id == job.id and store.get(job.id).state == JobState.running
    assert paint(store, job.id)


def test_a_job_held_by_a_process_that_died_is_painted_by_the_next(backends, store):
    job, _ = create(store, email=ADDRESS)
    take_one(store)
    fresh = backends.restart(store)
    again = take_one(fresh)  # SQLite: requeued at start-up; NATS: its lease ran out
    assert again.id == job.id and fresh.get(job.id).state == JobState.running
    assert paint(fresh, job.id)
    assert fresh.result(job.id) == PAINTING and due(fresh, job.id).kind == "portrait"


def test_a_job_whose_painter_dies_each_time_is_given_up_with_an_apology(backends, store):
    """The dead letter: after ``max_deliveries`` paintings that never finished (NATS: at the next delivery;
    SQLite: at the next start) the job fails, its visitor is mailed, and its photos go at once."""
    job, _ = create(store, email=ADDRESS)
    fresh = store
    for _ in range(backends.settings.storage.max_deliveries):  # each painter dies holding it
        assert take_one(fresh).id == job.id
        fresh = backends.restart(fresh)
    given_up = lambda: fresh.take("fast", 1, 0.0) == [] and fresh.get(job.id).state == JobState.failed  # noqa: E731
    wait_until(given_up, lambda: fresh.get(job.id), timeout=30)
    assert "given up" in fresh.get(job.id).error
    assert due(fresh, job.id).kind == "failed"
    with pytest.raises(FileNotFoundError):
        fresh.inputs(fresh.get(job.id))


def test_a_job_its_painter_gives_back_is_never_given_up_for_it(backends, store):
    """A painter that gives a job back (the store unreachable mid-pass, a stop) did not die of it: however often
    that happens, the job is painted. (On NATS a cluster's election once bounced a job three times in four
    seconds, and the dead letter took it for a painting that kills its painter.)"""
    job, _ = create(store, email=ADDRESS)
    for _ in range(backends.settings.storage.max_deliveries + 1):
        assert take_one(store).id == job.id
        store.requeue(job.id)
        assert store.get(job.id).state == JobState.queued
    assert take_one(store).id == job.id and store.get(job.id).state == JobState.running
    assert paint(store, job.id)


def test_cancel_and_erase_leaves_nothing_personal_and_nothing_to_paint(store):
    job, _ = create(store, email=ADDRESS, style_png=STYLE, wall=True)
    code = store.get(job.id).download_code
    store.cancel_and_erase(job.id)
    gone = store.get(job.id)
    assert gone.state == JobState.cancelled
    assert (gone.email, gone.download_code, gone.request_hash, gone.wall) == (None, None, None, False)
    assert store.by_download_code(code) is None
    assert store.take("fast", 1, 0.0) == []
    drained(store)


def test_a_painting_finished_after_its_cancel_is_not_kept(store):
    job, _ = create(store, email=ADDRESS)
    take_one(store)
    store.cancel_and_erase(job.id)  # the visitor cancels while the job is painted
    assert not paint(store, job.id)
    assert store.get(job.id).state == JobState.cancelled
    assert store.result(job.id) is None and store.mail_status(job.id) == "none"
    with pytest.raises(IllegalTransition, match="from cancelled to running"):
        store.move(job.id, JobState.cancelled, JobState.running)


def test_retention_erases_every_job_it_covers_and_keeps_what_was_sent_marked_sent(store):
    painted, _ = create(store, email=ADDRESS, wall=True)
    waiting, _ = create(store, email=ADDRESS)
    take_one(store)
    assert paint(store, painted.id)
    due(store, painted.id)
    store.mail_sent(painted.id)
    assert [j.id for j in store.wall_jobs(10, 0)] == [painted.id]
    assert sorted(store.expire(time.time() + 1)) == sorted([painted.id, waiting.id])
    for job_id in (painted.id, waiting.id):
        expired = store.get(job_id)
        assert expired.state == JobState.expired and expired.email is None and store.result(job_id) is None
    assert store.mail_status(painted.id) == "sent"  # a statistic, not an address
    assert store.wall_jobs(10, 0) == [] and store.take("fast", 1, 0.0) == []
    assert store.expire(time.time() + 1) == []  # nothing leads out of expired


def test_a_mail_that_failed_is_due_again_and_a_given_up_one_is_never(store):
    job, _ = create(store, email=ADDRESS)
    take_one(store)
    assert paint(store, job.id)
    due(store, job.id)
    store.mail_failed(job.id, "421 try later", next_attempt=time.time(), give_up=False)
    assert store.mail_status(job.id) == "pending"
    retry = due(store, job.id)
    assert retry.attempts == 1 and retry.uncertain == 0
    store.mail_failed(job.id, "timeout after DATA", next_attempt=time.time(), give_up=True, uncertain=True)
    assert store.mail_status(job.id) == "uncertain"
    assert all(t.job_id != job.id for t in store.due_mail(time.time()))


def test_a_mail_handed_back_unsent_is_due_again(store):
    job, _ = create(store, email=ADDRESS)
    take_one(store)
    assert paint(store, job.id)
    due(store, job.id)
    store.mail_released([job.id])  # the store went away mid-pass
    assert due(store, job.id).attempts == 0 and store.mail_status(job.id) == "pending"  # not an attempt


def test_the_rate_limit_counts_places_and_gives_them_back(store):
    now = time.time()
    assert store.reserve_place("kiosk-a", 2, now) == 0
    assert store.reserve_place("kiosk-a", 2, now) == 0
    assert store.reserve_place("kiosk-a", 2, now) > 0
    assert store.reserve_place("kiosk-b", 2, now) == 0  # another kiosk's count
    store.release_place("kiosk-a", now)
    assert store.reserve_place("kiosk-a", 2, now) == 0


def test_a_store_refuses_an_illegal_transition_and_leaves_a_lost_race_alone(store):
    job, _ = create(store)
    assert not store.move(job.id, JobState.running, JobState.done)  # legal, but the job is queued: it moved on
    assert store.get(job.id).state == JobState.queued
    take_one(store)
    assert store.move(job.id, JobState.running, JobState.failed, error="painter stopped")
    with pytest.raises(IllegalTransition, match="from failed to running"):
        store.move(job.id, JobState.failed, JobState.running)
    with pytest.raises(IllegalTransition, match="from done to queued"):
        store.move(job.id, JobState.done, JobState.queued)
    after = store.get(job.id)
    assert after.state == JobState.failed and after.error == "painter stopped"  # nothing was written


def test_the_blocking_face_answers_as_the_event_loops(store):
    """The painters' threads (the events' publishers among them) read a job as the routes do."""
    blocking = store.backend
    queued, _ = create(store, "one", email=ADDRESS)
    running, _ = create(store, "two")
    next_up, _ = create(store, "three")
    later, _ = create(store, "four")
    assert take_one(store).id == queued.id
    assert paint(store, queued.id)
    assert take_one(store).id == running.id
    for job_id in (queued.id, running.id, next_up.id, later.id):
        job = store.get(job_id)
        assert blocking.get(job_id) == job
        assert blocking.mail_status(job_id) == store.mail_status(job_id)
    assert blocking.position(store.get(next_up.id)) == store.position(store.get(next_up.id)) == 0
    assert blocking.position(store.get(later.id)) == store.position(store.get(later.id)) == 1
    assert blocking.mail_status(queued.id) == "pending"
    assert blocking.result(queued.id) == store.result(queued.id) == PAINTING
    assert blocking.depth() == store.depth()
    assert blocking.by_idempotency_key("kiosk-a", "two") == store.by_idempotency_key("kiosk-a", "two")
    assert blocking.readiness() is None and store.readiness() is None


def test_a_burst_of_one_kiosks_requests_is_counted_not_refused(backends, store):
    """A kiosk's outbox may send everything it kept while offline at once: every request is counted, none is
    refused because the others changed the count under it."""
    now = time.time()

    async def burst() -> list[float]:
        return await asyncio.gather(*(store.backend.aio.reserve_place("kiosk-a", 1000, now) for _ in range(150)))

    assert store.loop.run_until_complete(burst()) == [0] * 150
    assert store.reserve_place("kiosk-a", 151, now) == 0
    assert store.reserve_place("kiosk-a", 151, now) > 0  # the 152nd: all 151 before it were counted
    if backends.kind == "nats":
        assert store.backend.shared._key_locks == {}  # a kiosk's lock is kept only while it is used
