"""The painter never waits for the store. An Instant batch is published (its JPEG encoded, the store's writes
made) on a thread of its own while the lane paints its next batch: at most one batch waits to be published, a job
whose publishing fails goes back to the queue, and a stop publishes what was painted: nothing is lost. A
masterpiece's progress and previews are told on a thread of their own while it paints (``ProgressNews``).

The lanes run for real (the SQLite store, the real engine on small photos, the runner's own loop); the store's
publishing and progress writes are held at gates (a store that is slow to answer) so that what overlaps them can be
seen."""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from shared.protocol import JobOptions, JobState, JobStatus
from style_server.config import Settings
from style_server.service.backend import open_backend
from style_server.service.events import JobEvents
from style_server.service.jobtypes import BackendUnavailable
from style_server.service.metrics import Metrics
from style_server.service.runner import Runner
from tests.harness import STORE_CREATE, wait_until

DEMO = Path(__file__).parents[1] / "booth_client" / "assets" / "demo_portrait.jpg"
NOW = datetime.now(UTC)


class SlowToPublish:
    """The real store, whose ``publish_result`` waits at a gate (the jobs in ``later``: at a second one), or fails
    once, when told to; its ``set_progress`` waits at a gate of its own (open unless a test closes it)."""

    def __init__(self, store) -> None:
        self.store = store
        self.gate, self.second_gate, self.progress_gate = threading.Event(), threading.Event(), threading.Event()
        self.progress_gate.set()
        self.later: set[str] = set()
        self.publishing: list[str] = []  # jobs whose publishing has begun, in order
        self.progress: list[float] = []  # progress writes begun, in order
        self.fail_next = False

    def set_progress(self, job_id: str, progress: float) -> None:
        self.progress.append(progress)
        assert self.progress_gate.wait(60), "the test never opened the progress gate"
        self.store.set_progress(job_id, progress)

    def publish_result(self, job_id: str, *args, **kwargs) -> bool:
        self.publishing.append(job_id)
        gate = self.second_gate if job_id in self.later else self.gate
        assert gate.wait(60), "the test never opened the gate"
        if self.fail_next:
            self.fail_next = False
            raise BackendUnavailable("the store went away while publishing")
        return self.store.publish_result(job_id, *args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.store, name)


@contextlib.contextmanager
def running_lane(settings: Settings, engine, method: str, style: str = "palette-01", events: JobEvents | None = None):
    """A running lane of ``method`` on a slow-to-publish store, its jobs in ``style``; yields (runner, store, post)."""
    store = SlowToPublish(open_backend(settings, "test"))
    runner = Runner(settings, engine, store, Metrics(), events)  # type: ignore[arg-type]  # the store, with gates
    photo = io.BytesIO()
    Image.open(DEMO).convert("RGB").resize((96, 128)).save(photo, "PNG")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    task = asyncio.run_coroutine_threadsafe(_started(runner.lane(method)), loop).result(10)

    def post(key: str) -> str:
        create = {**STORE_CREATE, "method": method, "style": style, "portrait_png": photo.getvalue()}
        create["options"] = JobOptions(size=96)
        job, _ = store.create(**create, idem_key=key)
        loop.call_soon_threadsafe(runner.notify, method)
        return job.id

    try:
        yield runner, store, post
    finally:
        store.gate.set()
        store.second_gate.set()
        store.progress_gate.set()
        runner.stop()
        asyncio.run_coroutine_threadsafe(_ended(task), loop).result(30)  # the lane has ended, its gauges' read too
        runner.published()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        store.close()


@pytest.fixture
def lane(tmp_path, engine):
    """A running fast lane on a slow-to-publish store; yields (runner, store, post)."""
    with running_lane(Settings(data_dir=tmp_path / "data"), engine, "fast") as running:
        yield running


async def _started(coro) -> asyncio.Task:
    return asyncio.get_running_loop().create_task(coro)


async def _ended(task: asyncio.Task) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_default_executor()  # the lane's blocking takes


def state(store, job_id: str) -> JobState:
    return store.get(job_id).state


def test_the_next_batch_paints_while_one_is_published(lane):
    runner, store, post = lane
    first = post("first")
    wait_until(lambda: store.publishing == [first], lambda: store.publishing, 60)
    second = post("second")
    # painted while the first is still being published (the lane counts a batch once its painting ends)
    wait_until(lambda: runner.measured["fast"] == 2, lambda: runner.measured, 60)
    assert state(store, first) == state(store, second) == JobState.running
    assert store.publishing == [first]  # one batch at the publisher at most: the second waits for it
    store.gate.set()
    wait_until(lambda: state(store, first) == state(store, second) == JobState.done, lambda: store.publishing, 60)
    assert store.publishing == [first, second]


def test_a_batch_whose_publishing_fails_goes_back_to_the_queue_and_is_painted_again(lane):
    runner, store, post = lane
    store.fail_next = True
    job = post("once")
    wait_until(lambda: store.publishing == [job], lambda: store.publishing, 60)
    store.gate.set()
    wait_until(lambda: state(store, job) == JobState.done, lambda: store.get(job), 60)
    assert store.publishing == [job, job]  # released, taken again, painted again, published
    assert runner.measured["fast"] == 2


def test_a_stop_publishes_what_was_painted(lane):
    runner, store, post = lane
    job = post("painted")
    wait_until(lambda: store.publishing == [job], lambda: store.publishing, 60)
    runner.stop()
    stopping = threading.Thread(target=runner.published)
    stopping.start()
    stopping.join(0.5)
    assert stopping.is_alive()  # the stop waits for the batch at the publisher
    store.gate.set()
    stopping.join(60)
    assert not stopping.is_alive() and state(store, job) == JobState.done


def test_a_batch_painted_as_the_stop_comes_is_published_before_the_stop_ends(lane):
    """The stop cancels the lane, but its painter's thread runs on: the batch it painted is published before the
    store closes, not beside it."""
    runner, store, post = lane
    first = post("at-the-publisher")
    wait_until(lambda: store.publishing == [first], lambda: store.publishing, 60)
    second = post("painted-meanwhile")
    store.later.add(second)  # its publish will wait at the second gate
    wait_until(lambda: runner.measured["fast"] == 2, lambda: runner.measured, 60)  # waits for the first's publish
    runner.stop()
    stopping = threading.Thread(target=runner.published)
    stopping.start()
    store.gate.set()
    wait_until(lambda: state(store, first) == JobState.done, lambda: store.get(first), 60)
    wait_until(lambda: store.publishing == [first, second], lambda: store.publishing, 60)
    stopping.join(0.5)
    assert stopping.is_alive()  # the second is being published in its painter's thread: the stop waits for it
    store.second_gate.set()
    stopping.join(60)
    assert not stopping.is_alive() and state(store, second) == JobState.done


class NoticedPainting:
    """The real engine, whose masterpiece optimiser counts the paintings that have come back (``painted``)."""

    def __init__(self, engine) -> None:
        self.engine, self.painted = engine, 0

    def gatys(self):
        optimizer, spy = self.engine.gatys(), self

        class Noticed:
            def run(self, *args, **kwargs):
                result = optimizer.run(*args, **kwargs)
                spy.painted += 1
                return result

        return Noticed()

    def __getattr__(self, name: str):
        return getattr(self.engine, name)


def test_a_masterpiece_paints_on_while_its_progress_is_held_at_the_store(tmp_path, engine):
    """Before, the painter wrote its progress itself: a store slow to answer held the painting (the GPU) at every
    step. Now the painting ends while its first progress write is still held; only the newest news are told after
    it, and none after the job's end."""
    spy = NoticedPainting(engine)
    settings = Settings(data_dir=tmp_path / "data", engine={"preview_every": 2})
    with running_lane(settings, spy, "gatys", style="starry-night") as (runner, store, post):
        store.gate.set()
        store.progress_gate.clear()
        job = post("held-progress")
        ended = (JobState.done, JobState.failed, JobState.cancelled)
        wait_until(lambda: spy.painted or state(store, job) in ended, lambda: store.progress, 120)
        assert spy.painted, f"the painting waited for the store (progress writes: {store.progress})"
        wait_until(lambda: store.progress, lambda: "no progress was told", 30)  # its thread may start late
        assert len(store.progress) == 1  # the first write, still held at the store
        assert state(store, job) == JobState.running  # its end waits for its news to be told
        store.progress_gate.set()
        wait_until(lambda: state(store, job) == JobState.done, lambda: store.get(job), 60)
        assert len(store.progress) <= 2, store.progress  # the steps painted meanwhile: only the newest is told
        assert store.progress == sorted(store.progress) and store.get(job).progress == 1.0
        assert not runner.events.previews  # its last preview (a face) went with its end


def test_the_next_masterpiece_paints_while_one_is_published(tmp_path, engine):
    spy = NoticedPainting(engine)
    with running_lane(Settings(data_dir=tmp_path / "data"), spy, "gatys", style="starry-night") as (_, store, post):
        first = post("first")
        wait_until(lambda: store.publishing == [first], lambda: store.publishing, 120)
        second = post("second")
        wait_until(lambda: spy.painted == 2, lambda: (spy.painted, store.get(second)), 120)  # beside the publish
        assert store.publishing == [first] and state(store, second) == JobState.running
        store.gate.set()
        wait_until(lambda: state(store, first) == state(store, second) == JobState.done, lambda: store.publishing, 60)
        assert store.publishing == [first, second]


def test_a_masterpiece_given_back_at_its_publish_is_told_to_every_node(tmp_path, engine):
    """The store went away as the painting was published: the job goes back to the queue, and the other nodes hear
    it (their kiosks' streams showed the painting's last progress, their copies of its preview a face) before it
    is painted again."""
    relayed: list[dict] = []

    def describe(job_id: str) -> JobStatus:
        job = store.get(job_id)
        return JobStatus(
            id=job.id, state=job.state, method=job.method, style=job.style, progress=job.progress, created_at=NOW
        )

    events = JobEvents(describe, relay=relayed.append)
    settings = Settings(data_dir=tmp_path / "data", engine={"preview_every": 2})
    with running_lane(settings, engine, "gatys", "starry-night", events) as (_, store, post):
        store.fail_next = True
        job = post("given-back")
        wait_until(lambda: store.publishing == [job], lambda: store.publishing, 120)
        told = len(relayed)  # the painting's news, all told before its publish
        assert any(event["kind"] == "preview" for event in relayed), relayed
        store.gate.set()
        wait_until(lambda: state(store, job) == JobState.done, lambda: store.get(job), 120)
    [given_back] = [event for event in relayed[told:] if event["kind"] == "given_back"]
    assert given_back["id"] == job
    # waiting again, or already taken again from the start: never the painting before with its progress
    status = given_back["status"]
    assert status["state"] == "queued" or (status["state"] == "running" and status["progress"] == 0), status
