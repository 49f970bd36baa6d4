"""The workers that own the GPU: one loop per lane (``lanes.SERVER_LANES``), each with its painter: Instant
jobs in batches, masterpieces each on its own.

Engine calls run in worker threads (torch releases the GIL); the event loop only schedules and records. A painting
(an Instant batch, a masterpiece) is published on a thread of its own while its lane paints the next
(``Runner._hand_over``), and a masterpiece's progress is told on another while it paints (``ProgressNews``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import itertools
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import torch
from PIL import Image

from shared.lanes import FAST, MASTERPIECE

from ..config import Settings
from ..engine.errors import Cancelled, EngineError, InvalidParameter
from ..engine.fast import FastOptions
from ..engine.imageio import fit_longest_side, save_image_atomic
from ..engine.runtime import Engine
from .backend import JobBackend
from .events import JobEvents
from .faults import crash_at, fail_stage
from .jobtypes import FAIL, BackendUnavailable, Job, LaneCapacity
from .lanes import SERVER_LANES, ServerLane
from .metrics import Metrics
from .progress_news import News, ProgressNews

log = logging.getLogger("style_server.runner")
CAPACITY_FOR = 2.0  # seconds the workers' measured throughput (a shared backend's) is used before it is read again
STOP_SECONDS = 20.0  # of a stop's 30 s grace (the compose files'): passes still painting end and are published
PROGRESS_EVERY = 0.5  # seconds between a masterpiece's progress writes (previews come as the engine makes them)
PREVIEW_SIDE = 384  # a preview's longest side, in pixels
Inputs = tuple[Image.Image, list[tuple[Image.Image, float]]]  # a job's photo, and its style pictures with weights


class Runner:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        store: JobBackend,
        metrics: Metrics,
        events: JobEvents | None = None,
    ) -> None:
        self.settings, self.engine, self.store, self.metrics = settings, engine, store, metrics
        self.cancels: dict[str, threading.Event] = {}
        self.events = events or JobEvents()  # progress, previews and ends, pushed to the SSE streams
        # first guesses until the first real job of each lane replaces them; then a moving average of measured
        # seconds per job
        on_gpu = engine.device.type == "cuda"
        self.average_seconds = {m: lane.first_seconds(on_gpu) for m, lane in SERVER_LANES.items()}
        self.measured = dict.fromkeys(SERVER_LANES, 0)  # jobs measured per lane
        self.painters: dict[str, Callable[[list[Job]], None]] = {
            FAST.method: self._run_fast,
            MASTERPIECE.method: self._run_gatys,
        }
        assert self.painters.keys() == SERVER_LANES.keys(), "every lane has its painter"
        self.running: dict[int, tuple[str, float, int]] = {}  # pass id -> (method, monotonic start, jobs in it)
        self._passes = itertools.count()
        self.wakeups = {method: asyncio.Event() for method in SERVER_LANES}
        self.stopping = False
        self._capacity: tuple[float, dict[str, LaneCapacity] | None] = (-1e9, None)  # (read at, the workers')
        self._read_ahead: dict[str, Inputs] = {}  # photos of prefetched jobs, read while the pass before painted
        self._publisher = ThreadPoolExecutor(1, thread_name_prefix="publish")  # see ``_hand_over``
        self._publishing: Future[None] | None = None
        self._publishing_lock = threading.Lock()
        self._painting = 0  # passes whose painter thread runs (it outlives its lane task when a stop cancels that)
        self._painted = threading.Condition()
        self._gauges: asyncio.Task[None] | None = None  # the queue's depth, read after a pass for the metrics
        self.news = ProgressNews(self._tell_news)  # a masterpiece's progress and previews, told beside its painting

    def lanes(self) -> dict[str, int]:
        """Jobs of each lane this process paints at the same time."""
        return {method: lane.concurrency(self.settings) for method, lane in SERVER_LANES.items()}

    def capacity(self, method: str) -> tuple[float, int]:
        """(seconds per job, parallel lanes): measured here, or by the workers of a shared backend (read at most
        every 2 s); with no worker of that lane seen yet, this process's first guess and one lane."""
        shared = self._capacity[1]
        if self._capacity_stale():
            shared = self.store.capacity()
            self._capacity = (time.monotonic(), shared)
        if shared is None or method not in shared:
            return self.average_seconds[method], (self.lanes()[method] if shared is None else 1)
        return shared[method].seconds_per_job, max(shared[method].workers, 1)

    def notify(self, method: str) -> None:
        """A job was queued: its lane starts at once instead of at its next poll."""
        self.wakeups[method].set()

    def _capacity_stale(self, margin: float = 0.0) -> bool:
        return time.monotonic() - self._capacity[0] > CAPACITY_FOR - margin

    async def refresh_capacity(self) -> None:
        """``capacity``'s read of the workers' reports, made on the event loop ahead of time (half a second before
        it is due), so that the ``capacity`` the loop calls next never reads (blocking) itself."""
        if self._capacity_stale(margin=0.5):
            self._capacity = (time.monotonic(), await self.store.aio.capacity())

    async def new_job_etas(self) -> dict[str, float]:
        """What a job queued now would wait per lane, whole queue included (the catalogue's ``eta_seconds``)."""
        depth = await self.store.aio.depth()
        await self.refresh_capacity()
        etas = {}
        for method in depth:
            running = sum(count for m, _, count in list(self.running.values()) if m == method)
            etas[method] = round(self.wait(method, max(depth[method] - running, 0)), 1)
        return etas

    def wait(self, method: str, ahead: int) -> float:
        """Seconds until a job with ``ahead`` jobs queued before it is done: the rest of what runs now, the jobs
        ahead (shared by the lane's workers), then its own painting; all from measured seconds per job."""
        average, lanes = self.capacity(method)
        now = time.monotonic()
        busy = sum(
            max(average * count - (now - started), 0.0)
            for m, started, count in list(self.running.values())
            if m == method
        )
        return (busy + average * ahead) / lanes + average

    @contextlib.contextmanager
    def _timed(self, method: str, count: int):
        """Marks a pass as running (for the wait of the jobs behind it)."""
        key = next(self._passes)
        self.running[key] = (method, time.monotonic(), count)
        try:
            yield
        finally:
            self.running.pop(key, None)

    # -- lanes ----------------------------------------------------------------------------------------

    async def lane(self, method: str) -> None:
        """Take jobs of one lane and paint them, pass after pass, until the runner stops. A lane that prefetches
        takes the next pass's jobs, and reads their photos, while a pass paints: the queue's cost overlaps the
        painting. Jobs taken ahead and never painted go back to the queue at the stop; if the process dies, when
        its lease runs out (NATS) or at the next start (SQLite)."""
        lane, s = SERVER_LANES[method], self.settings
        ahead: asyncio.Task[list[Job]] | None = None
        try:
            while not self.stopping:
                jobs = await (ahead or self._take(method, lane.batch_max(s), lane.batch_window(s)))
                ahead = None
                if self.stopping:  # taken as the runner stopped: not painted here
                    await asyncio.to_thread(self._give_back, jobs)
                    break
                jobs = await self._still_wanted(jobs)
                if not jobs:
                    if not self.store.waits_for_work:
                        await self._idle(method)
                    continue
                painted = asyncio.Event()
                if lane.prefetch(s):
                    ahead = asyncio.create_task(self._take_ahead(method, lane, painted))
                try:
                    await self._pass(method, jobs)
                finally:
                    painted.set()
        finally:
            if ahead is not None:
                ahead.cancel()
            self._read_ahead.clear()  # faces in memory: whatever was read ahead and not painted goes
            if self._gauges is not None:
                self._gauges.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._gauges

    async def _take_ahead(self, method: str, lane: ServerLane, painted: asyncio.Event) -> list[Job]:
        """The next pass's jobs and their photos, taken as soon as any are queued while a pass paints; none if
        the pass ends first."""
        s = self.settings
        while not (jobs := await self._take(method, lane.batch_max(s), lane.batch_window(s))):
            if painted.is_set() or self.stopping:
                return []
            if not self.store.waits_for_work:
                await self._idle(method)  # woken when a job is queued
        for job in jobs:  # a cancel that comes before its pass drops it there (``_still_wanted``)
            self.cancels.setdefault(job.id, threading.Event())
        # kept only once this task is still wanted: a thread left running by a cancel keeps no face
        self._read_ahead.update(await asyncio.to_thread(self._read_inputs_ahead, jobs))
        return jobs

    async def _still_wanted(self, jobs: list[Job]) -> list[Job]:
        """The jobs of a pass less those cancelled since they were taken ahead: never painted, nor held up. They
        are handed back to the backend, which lets go of a cancelled job (NATS acks its work message)."""
        dropped = [job for job in jobs if (cancel := self.cancels.get(job.id)) is not None and cancel.is_set()]
        for job in dropped:
            self.cancels.pop(job.id, None)
            log.info("job %s was cancelled before its pass; it is not painted", job.id)
        if dropped:
            await asyncio.to_thread(self._give_back, dropped)
        return [job for job in jobs if job not in dropped]

    def _read_inputs_ahead(self, jobs: list[Job]) -> dict[str, Inputs]:
        read = {}
        for job in jobs:
            with contextlib.suppress(Exception):  # the painter reads it again, and says what is wrong with it
                read[job.id] = self._read_inputs(job)
        return read

    def _give_back(self, jobs: list[Job]) -> None:
        """Jobs taken and not painted: a running one goes back to the queue, a cancelled one stays as it is."""
        for job in jobs:
            self._read_ahead.pop(job.id, None)
            with contextlib.suppress(BackendUnavailable):  # unreachable: its lease runs out, or the next start
                self._requeue(job.id)

    async def _pass(self, method: str, jobs: list[Job]) -> None:
        """One pass of a lane over the jobs it took. Nothing that goes wrong in it ends the lane: a lane that
        ended would leave its process alive and painting nothing (a queue read in a NATS cluster's election)."""
        now = time.time()  # a job's wait ends as its pass begins (taken ahead, it waited on for the pass before)
        for job in jobs:
            self.metrics.queue_wait.labels(method).observe(max(now - job.created, 0.0))  # another host's clock
        try:
            # running now; the queue behind them moved up to the last of them (NATS: its place in the lane)
            places = [job.seq for job in jobs if job.seq is not None]
            await asyncio.to_thread(self.events.refresh, {method: max(places)} if places else None)
            with self._timed(method, len(jobs)):
                await asyncio.to_thread(self._paint, method, jobs)
        except Exception as exc:
            await asyncio.to_thread(self._recover, method, jobs, exc)
        finally:
            for job in jobs:  # a photo read ahead that the pass did not use (it stopped first) goes now
                self._read_ahead.pop(job.id, None)
                self.cancels.pop(job.id, None)
        if self._gauges is None or self._gauges.done():  # metrics only: read beside the next pass, not before it
            self._gauges = asyncio.create_task(self._update_gauges_quietly())

    async def _update_gauges_quietly(self) -> None:
        try:
            await self.update_gauges()
        except Exception as exc:  # metrics only: the next pass reads them again
            log.warning("the queue depth could not be read (%s)", exc)

    def _paint(self, method: str, jobs: list[Job]) -> None:
        """The lane's painter, counted while it runs, so that a stop can wait for it (``published``)."""
        with self._painted:
            self._painting += 1
        try:
            self.painters[method](jobs)
        finally:
            with self._painted:
                self._painting -= 1
                self._painted.notify_all()

    def _recover(self, method: str, jobs: list[Job], exc: Exception) -> None:
        """After a pass stopped by ``exc``: the jobs it had not finished go back to the queue if the backend was
        unreachable, else (a bug) they fail, so that the visitor hears of it instead of a job going round forever."""
        lost = isinstance(exc, BackendUnavailable)
        if lost:
            log.warning("a %s pass lost the job queue (%s); its unfinished jobs go back to the queue", method, exc)
        else:
            log.error("a %s pass stopped", method, exc_info=exc)
        for job in jobs:  # each on its own: one that cannot be reached does not keep the others
            with contextlib.suppress(BackendUnavailable):
                if lost:
                    self._requeue(job.id)  # moves only a running job: one the pass finished stays finished
                elif (current := self.store.get(job.id)) is not None and current.state in FAIL.sources:
                    self._fail(job, exc)

    async def _take(self, method: str, limit: int, window: float) -> list[Job]:
        try:
            jobs = await asyncio.to_thread(self.store.take, method, limit, window)
        except BackendUnavailable as exc:
            log.warning("the %s lane cannot reach the job queue (%s); trying again", method, exc)
            await asyncio.sleep(1.0)
            return []
        self.metrics.claimed.labels(method).inc(len(jobs))
        return jobs

    async def _idle(self, method: str) -> None:
        wakeup = self.wakeups[method]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wakeup.wait(), timeout=0.5)
        wakeup.clear()

    async def update_gauges(self) -> None:
        """The gauges, read at a scrape of ``/metrics`` and after each pass (the queue's depth, awaited on the loop)."""
        depth = await self.store.aio.depth()
        for method, count in depth.items():
            self.metrics.queue_depth.labels(method).set(count)
        self.metrics.previews_held.set(len(self.events.previews))
        if torch.cuda.is_available():
            self.metrics.gpu_memory.set(torch.cuda.memory_allocated())

    # -- the work -------------------------------------------------------------------------------------

    def _inputs(self, job: Job) -> Inputs:
        """The job's photo and style pictures: read ahead, or read now."""
        return self._read_ahead.pop(job.id, None) or self._read_inputs(job)

    def _read_inputs(self, job: Job) -> Inputs:
        portrait, style = self.store.inputs(job)
        photo = Image.open(io.BytesIO(portrait)).convert("RGB")
        images = [(Image.open(io.BytesIO(style)).convert("RGB"), 1.0)] if style is not None else []
        return photo, images

    def _run_fast(self, jobs: list[Job]) -> None:
        groups: dict[FastOptions, list[tuple[Job, Image.Image, object]]] = defaultdict(list)
        for job in jobs:
            try:
                fail_stage(self.settings.testing.fault_point, "prepare", [job.style])
                photo, images = self._inputs(job)
                choice = self.engine.choose(job.style, images)
                options = FastOptions(
                    size=painted_side(self.settings, job.method, job.options.size, max(photo.size)),
                    strength=job.options.strength,
                    preserve_color=job.options.preserve_color,
                    face_protect=job.options.face_protect,
                )
                groups[options].append((job, photo, self.engine.fast_style(choice)))
            except BackendUnavailable:
                self._release(job)
            except Exception as exc:  # whatever is wrong with one job (its photo, its options) fails it alone
                self._fail(job, exc)
        self._hold_for_test([job for items in groups.values() for job, _, _ in items])
        crash_at(self.settings.testing.fault_point, "in_fast_batch")
        for options, items in groups.items():
            self._paint_batch(options, items)

    def _hold_for_test(self, jobs: list[Job]) -> None:
        """Testing only (``PORTRAIT_TEST_HOLD_BATCH_FILE``): a batch that has read its inputs waits here while
        that file exists, so a test can land a cancel or an erase inside it. Unset (the default): nothing."""
        hold = self.settings.testing.test_hold_batch_file
        if hold is None or not hold.exists():
            return
        for job in jobs:
            log.warning("test hold: fast batch %s waits while %s exists", job.id, hold)
        while hold.exists() and not self.stopping:
            time.sleep(0.02)

    def _paint_batch(self, options: FastOptions, items: list[tuple[Job, Image.Image, object]]) -> None:
        """One shared forward pass; if it fails, each job is painted alone so only the bad one fails."""
        started = time.perf_counter()
        try:
            fail_stage(self.settings.testing.fault_point, "paint", [job.style for job, _, _ in items])
            results = self.engine.fast.stylize([p for _, p, _ in items], [s for _, _, s in items], options)
        except Exception as exc:
            if len(items) == 1:
                self._fail(items[0][0], exc)
                return
            log.warning("a batch of %d fast jobs failed (%s); painting them one by one", len(items), type(exc).__name__)
            for item in items:
                self._paint_batch(options, [item])
            return
        seconds = time.perf_counter() - started  # each job of the batch waited for all of it
        self._learn(FAST.method, seconds / len(items))
        self._hand_over([job for job, _, _ in items], results, seconds)

    def _hand_over(self, jobs: list[Job], results: list[Image.Image], seconds: float) -> None:
        """A painted batch (a masterpiece: a batch of one) is published on the publishing thread while its lane
        paints its next pass, so the result's encoding and the store's writes overlap the painting. One batch waits
        there at most: a slow store holds the lanes back instead of piling up paintings. While the runner stops, it
        is published here."""
        with self._publishing_lock:
            previous, self._publishing = self._publishing, None
            _waited(previous)
            if not self.stopping:
                self._publishing = self._publisher.submit(self._publish_batch, jobs, results, seconds)
                return
        self._publish_batch(jobs, results, seconds)

    def _publish_batch(self, jobs: list[Job], results: list[Image.Image], seconds: float) -> None:
        for job, result in zip(jobs, results, strict=True):
            self.news.close(job.id)  # a masterpiece's last news told before its end, never after it
            self.events.forget(job.id)  # and its last preview (a face) gone, whether it is published or given back
            try:
                fail_stage(self.settings.testing.fault_point, "keep", [job.style])
                self._complete(job, result, seconds)
            except BackendUnavailable:  # back to the queue, now or when this process's lease on it runs out
                self._release(job)
            except Exception as exc:  # one painting that cannot be kept fails alone, not the jobs after it
                self._fail(job, exc)

    def published(self, timeout: float = STOP_SECONDS) -> None:
        """Blocking, at the stop, before the store closes: the passes still painting end (a batch painted now is
        published in its painter's thread), then the batch at the publisher is published; for ``timeout`` seconds
        at most. Whatever is left goes back to the queue at the next start, or when this process's lease runs out."""
        self.stop()  # no new hand-over from here on
        deadline = time.monotonic() + timeout
        with self._painted:
            if not self._painted.wait_for(lambda: self._painting == 0, timeout):
                log.warning("%d passes still painting at the stop; their jobs go back to the queue", self._painting)
        with self._publishing_lock:
            previous, self._publishing = self._publishing, None
        _waited(previous, max(deadline - time.monotonic(), 0.0))
        self._publisher.shutdown(wait=False)  # a publish past the deadline is not waited for
        self.news.stop()

    def _run_gatys(self, jobs: list[Job]) -> None:
        for job in jobs:
            self._paint_masterpiece(job)

    def _paint_masterpiece(self, job: Job) -> None:
        from ..engine.gatys import make_params

        cancel = self.cancels.setdefault(job.id, threading.Event())
        last_write = 0.0

        def progress(p) -> None:  # in the painter's thread: the news are told on their own (``ProgressNews``)
            nonlocal last_write
            fraction = None
            if time.monotonic() - last_write > PROGRESS_EVERY:
                last_write = time.monotonic()
                fraction = min(0.99, p.iteration / max(p.total_iterations, 1))
            if fraction is not None or p.preview is not None:
                self.news.tell(job.id, News(fraction, p.preview))

        started = time.perf_counter()
        try:
            try:
                photo, images = self._inputs(job)
                styles = self.engine.choose(job.style, images).gatys_styles()
                size = painted_side(self.settings, job.method, job.options.size, max(photo.size))
                params = make_params(
                    size=size,
                    output_size=self._masterpiece_side(job, photo, size),
                    iterations=self.engine.masterpiece_iterations(),
                    preserve_color=job.options.preserve_color,
                    face_protect=job.options.face_protect,
                    preview_every=self.settings.engine.preview_every,
                )
                result = self.engine.gatys().run(photo, styles, params, on_progress=progress, cancel=cancel)
            except BaseException:
                self.news.close(job.id)  # its last news told before its end below (a painting's: at its publish)
                raise
        except Cancelled:
            if self.stopping:
                self._release(job)  # shutdown: paint it again after the restart
            else:  # the visitor cancelled: the backend lets go of it (NATS: its work message, held and renewed)
                self._give_back([job])
            return
        except BackendUnavailable:
            self._release(job)
            return
        except Exception as exc:
            self._fail(job, exc)
            return
        finally:
            self.cancels.pop(job.id, None)
            self.events.forget(job.id)  # the last preview (a face) goes; a painting's goes again at its publish
        seconds = time.perf_counter() - started
        self._learn(MASTERPIECE.method, seconds)
        self._hand_over([job], [result.image], seconds)

    def _tell_news(self, job_id: str, news: News) -> None:
        """A masterpiece's news, on the news thread: the preview encoded and shown, the progress written and shown.
        An unreachable store skips them: progress is news, not state, and the next news tells it again."""
        with contextlib.suppress(BackendUnavailable):
            if news.preview is not None:
                buf = io.BytesIO()
                fit_longest_side(news.preview, PREVIEW_SIDE).save(buf, "JPEG", quality=80)
                self.events.preview(job_id, base64.b64encode(buf.getvalue()).decode())
            if news.fraction is not None:
                self.store.set_progress(job_id, news.fraction)
                self.events.changed(job_id)

    def _masterpiece_side(self, job: Job, photo: Image.Image, painted: int) -> int:
        """A masterpiece is painted small and delivered at least at the Instant size (by a guided upsample),
        never larger than the photo or ``max_output_side``; a size the kiosk asked for is kept as it is."""
        if job.options.size:
            return painted
        s = self.settings
        return max(painted, min(max(s.engine.fast_size, painted), max(photo.size), s.engine.max_output_side))

    def _learn(self, method: str, seconds: float) -> None:
        """The first measured job replaces the first guess; later ones move the average (weight 0.2)."""
        first = self.measured[method] == 0
        self.average_seconds[method] = seconds if first else 0.8 * self.average_seconds[method] + 0.2 * seconds
        self.measured[method] += 1

    def _complete(self, job: Job, image: Image.Image, engine_seconds: float) -> None:
        if is_flat(image):  # a blank photo, or a degenerate painting: never publish or mail it
            self._fail(job, InvalidParameter(FLAT_MESSAGE), mail=False)  # the kiosk asks for a new photo
            return
        if not self._publish(job, image, engine_seconds):
            return
        crash_at(self.settings.testing.fault_point, "after_finish")
        self.metrics.jobs.labels(job.method, "done").inc()
        self.metrics.job_seconds.labels(job.method).observe(time.time() - job.created)
        self.metrics.paint_seconds.labels(job.method).observe(engine_seconds)
        log.info("job %s done (%s)", job.id, job.method)

    def _publish(self, job: Job, image: Image.Image, engine_seconds: float) -> bool:
        """Write the painting under a temporary name; publish it (and queue its mail) only if the job still runs.

        False, and nothing kept, if the job was cancelled or erased while it was painted."""
        tmp = self.store.result_tmp(job.id)
        try:
            save_image_atomic(image, tmp, quality=92)
            published = self.store.publish_result(job.id, tmp, engine_seconds, mail=bool(job.email))
        except BackendUnavailable:
            self._release(job)
            return False
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            self._fail(job, exc)
            return False
        if not published:
            log.info("job %s was cancelled or erased while painting; its result is discarded", job.id)
        self.events.ended(job.id)
        return published

    def _release(self, job: Job) -> None:
        """Give the job back untouched (the backend was unreachable, or this process stops): back to the queue
        now if the backend answers, else when this process's lease on it runs out."""
        log.warning("job %s goes back to the queue", job.id)
        with contextlib.suppress(BackendUnavailable):
            self._requeue(job.id)

    def _requeue(self, job_id: str) -> None:
        """Back to the queue (a running job; an ended one stays as it is), and every node told: its streams no
        longer show the painting's last progress, no node keeps its preview. Raises ``BackendUnavailable``."""
        self.store.requeue(job_id)
        self.events.given_back(job_id)

    def _fail(self, job: Job, exc: Exception, mail: bool = True) -> None:
        """The job failed for good: its kiosk hears it, and (``mail``) a visitor who gave an address is mailed an
        apology."""
        message = str(exc) if isinstance(exc, EngineError) else "internal error while painting"
        try:
            self.store.fail(job.id, message, mail)
        except BackendUnavailable:
            self._release(job)
            return
        self.events.ended(job.id)
        self.metrics.jobs.labels(job.method, "failed").inc()
        log.error("job %s failed: %s", job.id, type(exc).__name__, exc_info=not isinstance(exc, EngineError))

    def cancel(self, job_id: str) -> None:
        """Stop the job's masterpiece if this process paints it, or drop it before its pass if it was taken ahead
        (a fast batch already painting is discarded at publishing)."""
        if event := self.cancels.get(job_id):
            event.set()

    def stop(self) -> None:
        """Graceful shutdown: running masterpieces stop now and go back to the queue."""
        self.stopping = True
        for event in list(self.cancels.values()):  # painters add and drop theirs meanwhile
            event.set()


def _waited(publishing: Future[None] | None, timeout: float | None = None) -> None:
    """Wait for a batch's publishing; a bug in it is logged, never raised into the pass that paints next (which
    would fail that pass's jobs for it). Its unpublished jobs go back to the queue at the next start or lease."""
    if publishing is None:
        return
    try:
        publishing.result(timeout)
    except TimeoutError:
        log.warning("a painting is still being published at the stop; its jobs go back to the queue")
    except Exception:
        log.exception("publishing a painting failed")


def painted_side(settings: Settings, method: str, requested: int | None, longest: int) -> int:
    """The longest side a job is painted at: the size the kiosk asked for, else its lane's size, never more
    than the photo's own (no upscaling)."""
    return requested or min(SERVER_LANES[method].size(settings), longest)


FLAT_MESSAGE = (
    "the painting came out as one flat colour (was the photo blank, or the lens covered?); "
    "it was not kept or e-mailed: please take the photo again"
)


def is_flat(image: Image.Image, tolerance: int = 2) -> bool:
    """True if every channel of ``image`` spans at most ``tolerance`` levels: a picture of one colour."""
    return all(high - low <= tolerance for low, high in image.convert("RGB").getextrema())
