"""The scale-out coordination layer (NATS JetStream) on loopback, with simulated GPUs; nothing may be lost.

A 2-core machine without a GPU cannot show GPU scaling, so the painting is replaced by a sleep of the lane's
per-job GPU time and everything else is real: a 3-node JetStream cluster (3 replicas), two API nodes
(``style-server serve --backend nats``), a ``style-server mailer`` sending to an SMTP inbox, and kiosks (asyncio
httpx clients) that post real jobs round-robin to the API nodes and follow each one over its event stream (SSE)
to done, then post the next (a closed loop). Each simulated worker is the production worker minus the engine: its
own ``NatsStore`` (connection, consumer binding, leases), its own ``Service``/``Runner`` (take, claim, inputs from
the Object Store, progress, result to the Object Store, KV, ack, capacity reports, relayed events); only
``engine.fast.stylize`` / ``engine.gatys().run`` sleep instead of painting (``SimEngine``). Workers are grouped 8 to
a process (``sim-workers``): 32 processes each importing torch would measure this machine's 2 cores, not the queue.

Per phase (N workers, K kiosks, after a warm-up, a measured window of W seconds):
- throughput: summed over the workers, jobs per second of cycle (one painting's start to the next one's, for the
  paintings begun in the window); also counted: jobs finished (server's ``finished_at``) in the window / W;
- efficiency: throughput(N) / (N x throughput(1)), 1 worker measured in the same run;
- latency: kiosk POST sent -> its terminal event read (p50/p95 of jobs finished in the window);
- worker overhead per job: cycle time per job - the simulated GPU time, i.e. the worker time per job not spent
  painting (take, claim, inputs, result, ack, idle gaps, the image work of decoding the portrait and encoding the
  result, and the progress reports and previews a real engine also makes while painting; "between paintings"
  leaves those out); with a backlog (K = 2N kiosks) this is what a GPU loses per job;
- queue overhead per job: of it, the time inside the backend's calls (``TimedBackend``: claim, inputs, progress,
  result, ack, capacity), the queue's own cost; pulling and waiting for work (``take``) on its own;
- CPU ms per job: user + system CPU of every process (NATS nodes, API nodes, workers, mailer, kiosks) during the
  phase / jobs done in it;
- path overhead per job: latency - queue wait (``started_at - created_at``) - paint: upload, create, hand-over,
  publish and the news reaching the kiosk;
- lost: jobs posted (201) that never reached done after the drain, and mails never delivered at the end.
Then the real engine: 1 vs 2 CPU workers (``style-server worker``, 1 torch thread each) on fast jobs.

Run: python bench/bench_scale.py [--quick] [--workers 1,2,4,8,16,32] [--gatys-seconds 20] [--fast-seconds 0.05]
     python bench/bench_scale.py --prefetch-compare --fast-workers 1,2 --single-node --no-real (the next batch
     taken while one paints, off then on); add --fast-kiosks 40 for a backlog, --picture-side 1024 for paintings
     of a real size. Another commit: PYTHONPATH on its checkout (every process runs that code; the bench prints it).
     python bench/bench_scale.py --workers "" --fast-workers "" --no-real --many-kiosks 500 --kiosk-pace 120
     (500 kiosks, each a visitor every 60-180 s; without --kiosk-pace a closed loop that saturates; bench_kiosks.py
     runs this phase alone and judges it against issue 23's goals)
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
from PIL import Image

import style_server
from portrait_booth.loopback import API_KEY, Inbox, ServerProcess
from portrait_booth.scaleout import BoothProcess, NatsCluster, NatsServer

ROOT = Path(__file__).resolve().parent.parent

PORTRAIT = ROOT / "booth_client" / "assets" / "demo_portrait.jpg"
PER_PROCESS = 8  # simulated workers sharing one Python process
TERMINAL = ("done", "failed", "cancelled", "expired")
READY = "sim workers ready"
RETRIES: list[float] = []  # when a kiosk's POST broke off (sent again with the same Idempotency-Key)
REFUSED: list[int] = []  # deliberate refusals (429 rate limit, 503 queue full), each followed after its Retry-After
LIFECYCLE = ("listen", "close", "requeue_running", "requeue_lost_mail")  # a worker's start and stop, not per job
DONE: set[str] = set()  # every job a kiosk saw done, each once: one mail each is due


# -- the simulated engine (in the ``sim-workers`` processes) ---------------------------------------------------


class SimFast:
    """``engine.fast``: a batch sleeps the lane's per-job GPU time for each of its jobs (no batching gain) and
    returns the photos at the lane's size; both are the painting (the runner times the engine's call as its own)."""

    def __init__(self, seconds: float, paints: list[tuple[float, float, int]]) -> None:
        self.seconds, self.paints = seconds, paints

    def warm_up(self) -> None:
        pass

    def stylize(self, photos: list[Image.Image], styles: list[Any], options: Any) -> list[Image.Image]:
        from style_server.engine.imageio import fit_longest_side

        start = time.time()
        time.sleep(self.seconds * len(photos))
        pictures = [fit_longest_side(photo, options.size) if options.size else photo.copy() for photo in photos]
        self.paints.append((start, time.time(), len(photos)))  # the pictures made: the engine's work, as a real one's
        return pictures


class SimGatys:
    """``engine.gatys()``: sleeps the masterpiece's GPU time in 20 steps, reporting progress (a preview every 5th
    step) and stopping at a cancel, as the real one does."""

    def __init__(self, seconds: float, paints: list[tuple[float, float, int]]) -> None:
        self.seconds, self.paints = seconds, paints

    def run(self, photo: Image.Image, styles: Any, params: Any, on_progress: Any, cancel: threading.Event) -> Any:
        from style_server.engine.errors import Cancelled

        start, steps = time.time(), 20
        for step in range(1, steps + 1):
            if cancel.wait(self.seconds / steps):
                raise Cancelled()
            preview = photo if step % 5 == 0 and step < steps else None
            on_progress(SimpleNamespace(iteration=step, total_iterations=steps, preview=preview))
        self.paints.append((start, time.time(), 1))  # the progress reports and previews inside count as painting
        return SimpleNamespace(image=photo)


class SimEngine:
    """What ``Runner``, ``Service`` and ``MailOutbox`` use of ``Engine``, with sleeps instead of painting; one per
    simulated worker, recording when each of its paintings began and ended and how many jobs it held (``paints``)."""

    def __init__(self, models_dir: Path, fast_seconds: float, gatys_seconds: float) -> None:
        import torch

        from style_server.engine.catalogue import Catalogue

        self.device = torch.device("cuda")  # only the runner's first guesses read it: those of a GPU
        self.catalogue = Catalogue.load(models_dir)
        self.paints: list[tuple[float, float, int]] = []
        self.fast = SimFast(fast_seconds, self.paints)
        self._gatys = SimGatys(gatys_seconds, self.paints)

    def choose(self, style: str | None, images: list[Any]) -> Any:
        return SimpleNamespace(gatys_styles=lambda: [])

    def fast_style(self, choice: Any) -> None:
        return None

    def gatys(self) -> SimGatys:
        return self._gatys

    def masterpiece_iterations(self) -> int:
        from style_server.engine.params import MASTERPIECE_STEPS

        return MASTERPIECE_STEPS["reduced"]  # a GPU's


class TimedBackend:
    """A worker's ``JobBackend`` with the wall time of every call counted per method: the queue's own cost to a
    worker, apart from the image work (decode, encode) that the single-host mode does as well."""

    def __init__(self, backend: Any) -> None:
        self._backend, self.calls = backend, {}

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._backend, name)
        if not callable(value):
            return value

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return value(*args, **kwargs)
            finally:
                count, seconds = self.calls.get(name, (0, 0.0))
                self.calls[name] = (count + 1, seconds + time.perf_counter() - started)

        return timed


async def sim_workers(count: int, lanes: list[str], fast_seconds: float, gatys_seconds: float, record: Path) -> None:
    """``count`` simulated workers in this process, each with its own backend connection and runner; at the end
    each worker's paintings (start, end, jobs) go to ``record`` (JSON, one list per worker)."""
    from style_server.config import get_settings
    from style_server.service.app import start_painting, stop_painting
    from style_server.service.backend import open_backend
    from style_server.service.service import Service
    from style_server.service.workers import _report_capacity, _until_stopped

    settings = get_settings()
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=8 * count + 8))  # take() blocks a thread per lane
    running, engines, stores = [], [], []
    for _ in range(count):
        engine = SimEngine(settings.engine.models_dir, fast_seconds, gatys_seconds)
        engines.append(engine)
        store = TimedBackend(await asyncio.to_thread(open_backend, settings, "worker"))
        stores.append(store)
        service = Service(settings, engine, store, streams=False)  # type: ignore[arg-type]
        service.events.bind(loop)
        tasks = start_painting(service, lanes, mail=False, retention=False)
        tasks.append(asyncio.create_task(_report_capacity(service, lanes)))
        running.append((service, tasks))
    print(READY, flush=True)
    await _until_stopped()
    await asyncio.gather(*(stop_painting(service, tasks) for service, tasks in running))
    workers = [{"paints": e.paints, "calls": s.calls} for e, s in zip(engines, stores, strict=True)]
    record.write_text(json.dumps(workers))
    sys.stdout.flush()
    os._exit(0)  # the lanes' blocked pulls (threads) need not be waited for


class SimWorkers:
    """``count`` simulated workers in processes of ``PER_PROCESS`` each (settings of the API node ``like``)."""

    def __init__(
        self,
        like: ServerProcess,
        count: int,
        lane: str,
        fast_seconds: float,
        gatys_seconds: float,
        settings: dict[str, str] | None = None,  # environment variables over the API node's (PORTRAIT_...)
    ):
        self.procs: list[tuple[subprocess.Popen, Path]] = []
        self.records: list[Path] = []
        self.args = (like, count, lane, fast_seconds, gatys_seconds)
        self.env = {**like.env, **(settings or {})}

    def start(self) -> SimWorkers:
        like, count, lane, fast_seconds, gatys_seconds = self.args
        for first in range(0, count, PER_PROCESS):
            n = min(PER_PROCESS, count - first)
            log = like.data_dir / f"sim-{lane}-{count}-{first}-{time.time_ns()}.log"
            self.records.append(log.with_suffix(".json"))
            args = [sys.executable, __file__, "sim-workers", str(n), lane, str(fast_seconds), str(gatys_seconds)]
            args.append(str(self.records[-1]))
            proc = subprocess.Popen(args, env=self.env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
            self.procs.append((proc, log))
        deadline = time.monotonic() + 180
        for proc, log in self.procs:
            while READY not in log.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"simulated workers did not start: {log.read_text()[-2000:]}")
                time.sleep(0.1)
        return self

    def stop(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc, _ in self.procs]

    def workers(self) -> list[dict[str, Any]]:
        """Each worker's paintings (start, end, jobs) and backend calls (method: count, seconds), read once the
        processes have stopped."""
        return [worker for record in self.records if record.exists() for worker in json.loads(record.read_text())]


# -- kiosks ----------------------------------------------------------------------------------------------------


KIOSK_PHOTO_SIDE = 384  # the side of the kiosks' photos (``--picture-side``: at least the painting's)


def portrait_jpeg(side: int = KIOSK_PHOTO_SIDE) -> bytes:
    buf = io.BytesIO()
    Image.open(PORTRAIT).convert("RGB").resize((side, side)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@dataclass
class Posted:
    id: str
    token: str
    url: str
    posted: float  # time.time() before the POST was sent
    answered: float  # when its 201 arrived
    seen: float | None = None  # when the kiosk read the terminal event
    status: dict[str, Any] = field(default_factory=dict)


async def follow(client: httpx.AsyncClient, job: Posted) -> dict[str, Any]:
    """The job's event stream until its terminal event (a broken stream: read the status, then follow again)."""
    headers = {"X-Job-Token": job.token}
    while True:
        try:
            async with client.stream("GET", f"{job.url}/v1/jobs/{job.id}/events", headers=headers) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        status = json.loads(line[6:])["status"]
                        if status["state"] in TERMINAL:
                            return status
        except httpx.HTTPError:
            pass
        status = (await client.get(f"{job.url}/v1/jobs/{job.id}", headers=headers)).json()
        if status.get("state") in TERMINAL:
            return status
        await asyncio.sleep(0.2)


async def visitor_turn(pace: float, low: float, high: float, stop_at: float) -> None:
    """A random ``low``-``high`` times ``pace`` of a visitor's turn at a kiosk, over no later than ``stop_at``."""
    await asyncio.sleep(min(random.uniform(low, high) * pace, max(stop_at - time.monotonic(), 0)))


async def kiosk(
    client: httpx.AsyncClient,
    url: str,
    name: str,
    lane: str,
    photo: bytes,
    stop_at: float,
    jobs: list[Posted],
    pace: float = 0.0,
) -> None:
    """Post a job, follow it to its end, post the next, until ``stop_at`` (the last one is followed to its end).
    ``pace``: a visitor's turn between one job's end and the next post, 0.5-1.5 times it (the first post after a
    random part of it, so the kiosks do not post together); 0: at once, the closed loop that saturates the booth."""
    n = 0
    if pace:
        await visitor_turn(pace, 0.0, 1.0, stop_at)
    while time.monotonic() < stop_at:
        n += 1
        form = {"style": "starry-night", "method": lane, "email": f"{name}-{n}@example.org", "consent": "true"}
        posted = time.time()
        while True:
            try:
                response = await client.post(
                    f"{url}/v1/jobs",
                    data=form,
                    files={"portrait": ("me.jpg", photo, "image/jpeg")},
                    headers={"Idempotency-Key": f"{name}-{n}"},
                )
                break
            except httpx.TransportError:  # as a kiosk's outbox does: again, with the same key (never a second job)
                RETRIES.append(time.time())
                await asyncio.sleep(1)
        if response.status_code in (429, 503):
            REFUSED.append(response.status_code)
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
            continue
        response.raise_for_status()
        created = response.json()
        job = Posted(created["id"], created["token"], url, posted, time.time())
        jobs.append(job)
        job.status = await follow(client, job)
        job.seen = time.time()
        if job.status.get("state") == "done":
            DONE.add(job.id)
        if pace:
            await visitor_turn(pace, 0.5, 1.5, stop_at)


async def run_kiosks(
    urls: list[str], kiosks: int, lane: str, seconds: float, drain: float, tag: str, pace: float = 0.0
) -> list[Posted]:
    photo, jobs = portrait_jpeg(KIOSK_PHOTO_SIDE), []
    limits = httpx.Limits(max_connections=2 * kiosks + 10, max_keepalive_connections=2 * kiosks + 10)
    timeout = httpx.Timeout(60, connect=10)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {API_KEY}"}, limits=limits, timeout=timeout) as c:
        stop_at = time.monotonic() + seconds
        tasks = [
            asyncio.create_task(kiosk(c, urls[i % len(urls)], f"{tag}k{i}", lane, photo, stop_at, jobs, pace))
            for i in range(kiosks)
        ]
        _, late = await asyncio.wait(tasks, timeout=seconds + drain)
        for task in late:  # still following after the drain: read below
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()
        deadline = time.monotonic() + 120  # a job that has not ended two minutes after the drain is lost
        while (open_jobs := [j for j in jobs if not j.status]) and time.monotonic() < deadline:
            for job in open_jobs:
                status = (await c.get(f"{job.url}/v1/jobs/{job.id}", headers={"X-Job-Token": job.token})).json()
                if status.get("state") in TERMINAL:
                    job.status = status
                    if status["state"] == "done":
                        DONE.add(job.id)
            await asyncio.sleep(1)
    return jobs


# -- figures ---------------------------------------------------------------------------------------------------


def stamp(status: dict[str, Any], key: str) -> float:
    return datetime.fromisoformat(status[key]).timestamp()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Phase:
    lane: str
    workers: int
    kiosks: int
    paint: float  # simulated GPU seconds per job
    window: tuple[float, float]
    jobs: list[Posted]
    paints: list[list[tuple[float, float, int]]]  # per worker: (start, end, jobs) of each painting
    calls: dict[str, tuple[int, float]] = field(default_factory=dict)  # backend method: calls, seconds (all workers)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds of each kind of process during the phase

    def cycles(self) -> list[list[tuple[float, float, int]]]:
        """Per worker, for each painting begun in the window: (seconds to the next painting's start, seconds it
        painted, jobs)."""
        start, end = self.window
        return [
            [(s1 - s0, e0 - s0, n) for (s0, e0, n), (s1, _, _) in itertools.pairwise(worker) if start <= s0 < end]
            for worker in self.paints
        ]

    @property
    def finished(self) -> list[Posted]:
        start, end = self.window
        return [
            j for j in self.jobs if j.status.get("state") == "done" and start <= stamp(j.status, "finished_at") < end
        ]

    @property
    def counted(self) -> float:
        """Jobs finished in the window per second (coarse: one job more or less is N / W)."""
        return len(self.finished) / (self.window[1] - self.window[0])

    @property
    def throughput(self) -> float:
        """Sum over the workers of jobs per second of cycle (painting start to the next painting's start)."""
        cycles = [c for c in self.cycles() if c]
        return sum(sum(n for _, _, n in c) / sum(t for t, _, _ in c) for c in cycles)

    def overhead(self) -> tuple[float, float] | None:
        """Seconds per job a worker spent not sleeping the GPU time, pooled: (in all, of it between paintings). The
        rest is inside the painting: progress reports and previews (a real engine makes them on its GPU's time)."""
        pooled = [c for worker in self.cycles() for c in worker]
        jobs = sum(n for _, _, n in pooled)
        if not jobs:
            return None
        between = sum(t - painted for t, painted, _ in pooled)
        return (sum(t for t, _, _ in pooled) - self.paint * jobs) / jobs, between / jobs

    def backend_ms(self) -> tuple[float, float] | None:
        """Milliseconds per job the workers spent inside backend calls: (taking work, i.e. pulling and waiting for
        it; everything else: claim, inputs, progress, result, ack, capacity reports; not the worker's start and
        stop). Over the whole phase."""
        jobs = sum(n for worker in self.paints for _, _, n in worker)
        if not jobs:
            return None
        take = self.calls.get("take", (0, 0.0))[1]
        rest = sum(seconds for name, (_, seconds) in self.calls.items() if name not in ("take", *LIFECYCLE))
        return take * 1000 / jobs, rest * 1000 / jobs

    @property
    def lost(self) -> int:
        return sum(1 for j in self.jobs if j.status.get("state") != "done")

    def figures(self, one_worker: float | None) -> dict[str, Any]:
        done = self.finished
        latency = [j.seen - j.posted for j in done if j.seen]
        path = [
            (j.seen - j.posted) - (stamp(j.status, "started_at") - stamp(j.status, "created_at")) - self.paint
            for j in done
            if j.seen
        ]
        wait = [stamp(j.status, "started_at") - stamp(j.status, "created_at") for j in done]
        post = [j.answered - j.posted for j in done]
        notify = [j.seen - stamp(j.status, "finished_at") for j in done if j.seen]
        thr, overhead, backend = self.throughput, self.overhead(), self.backend_ms()
        jobs_painted = sum(n for worker in self.paints for _, _, n in worker)
        done_all = sum(1 for j in self.jobs if j.status.get("state") == "done")

        def ms(values: list[float]) -> float | None:
            return round(statistics.median(values) * 1000, 1) if values else None

        return {
            "lane": self.lane,
            "workers": self.workers,
            "kiosks": self.kiosks,
            "paint_s": self.paint,
            "jobs_in_window": len(done),
            "throughput_per_s": round(thr, 3),
            "counted_per_s": round(self.counted, 3),
            "efficiency": round(thr / (self.workers * one_worker), 3) if one_worker else None,
            "p50_latency_s": round(statistics.median(latency), 3) if latency else None,
            "p95_latency_s": round(percentile(latency, 0.95), 3) if latency else None,
            "median_queue_wait_s": round(statistics.median(wait), 3) if wait else None,
            "queue_overhead_ms": round(overhead[0] * 1000, 1) if overhead is not None else None,
            "between_paintings_ms": round(overhead[1] * 1000, 1) if overhead is not None else None,
            "backend_calls_ms": round(backend[1], 2) if backend is not None else None,
            "take_ms": round(backend[0], 2) if backend is not None else None,
            "calls_per_job": {k: round(n / max(1, jobs_painted), 2) for k, (n, _) in sorted(self.calls.items())},
            "ms_per_job": {k: round(s * 1000 / max(1, jobs_painted), 2) for k, (_, s) in sorted(self.calls.items())},
            "cpu_ms_per_job": {k: round(v * 1000 / done_all, 1) for k, v in self.cpu.items()} if done_all else {},
            "median_path_overhead_ms": ms(path),
            "median_post_ms": ms(post),
            "median_notify_ms": ms(notify),
            "posted": len(self.jobs),
            "done": sum(1 for j in self.jobs if j.status.get("state") == "done"),
            "lost": self.lost,
        }


def run_phase(
    urls: list[str],
    lane: str,
    workers: int,
    kiosks: int,
    paint: float,
    warm_up: float,
    window: float,
    tag: str,
    pace: float = 0.0,
) -> tuple[float, list[Posted]]:
    """The kiosks' jobs, and when the measured window began (after the warm-up)."""
    began = time.time()
    drain = 60.0 + 2 * paint * kiosks / workers  # the backlog left at the end, twice over
    return began + warm_up, asyncio.run(run_kiosks(urls, kiosks, lane, warm_up + window, drain, tag, pace))


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu_snapshot(pids: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds so far per kind of process; "kiosks" is this process (the kiosks and nothing else run here)."""
    used = {kind: sum(cpu_seconds(pid) for pid in group) for kind, group in pids.items()}
    times = os.times()
    return {**used, "kiosks": times.user + times.system}


def row(f: dict[str, Any]) -> str:
    eff = f"{f['efficiency']:.1%}" if f["efficiency"] is not None else "-"
    return (
        f"| {f['lane']} | {f['workers']} | {f['kiosks']} | {f['paint_s']} | {f['throughput_per_s']:.2f} "
        f"({f['counted_per_s']:.2f}) | {eff} | {f['p50_latency_s']} / {f['p95_latency_s']} | "
        f"{f['median_queue_wait_s']} | {f['queue_overhead_ms']} ({f['between_paintings_ms']}) | "
        f"{f['backend_calls_ms']} ({f['take_ms']}) | "
        f"{sum(f['cpu_ms_per_job'].values()):.0f} | {f['median_path_overhead_ms']} "
        f"({f['median_post_ms']} + {f['median_notify_ms']}) | {f['posted']} | {f['lost']} |"
    )


HEADER = (
    "| lane | workers | kiosks | paint s/job | jobs/s (counted) | efficiency | latency p50 / p95 s | queue wait s "
    "(median) | worker overhead ms/job (between paintings) | backend calls ms/job (taking work) | CPU ms/job, "
    "all processes | path overhead ms/job, median (post + notify) | posted | lost |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


# -- the run ---------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Every phase asked for, printed as it ends; returns the figures (also written to --json)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 1 and 2 workers, 0.5 s masterpieces, short windows"
    )
    parser.add_argument("--workers", default="1,2,4,8,16,32", help="simulated workers per phase")
    parser.add_argument("--gatys-seconds", type=float, default=20.0, help="simulated GPU seconds per masterpiece")
    parser.add_argument("--fast-seconds", type=float, default=0.05, help="simulated GPU seconds per Instant job")
    parser.add_argument("--fast-workers", default="1,2,4,8", help="workers of the fast-lane series (machine limit)")
    parser.add_argument(
        "--picture-side",
        type=int,
        default=256,
        help="the Instant painting's side (the server's fast_size; 1024: a real one's JPEG and store writes)",
    )
    parser.add_argument(
        "--fast-kiosks", type=int, default=10, help="at least this many kiosks in a fast phase (a backlog: 40)"
    )
    parser.add_argument("--window", type=float, default=40.0, help="measured seconds per phase")
    parser.add_argument("--many-kiosks", type=int, default=500, help="kiosks of the last phase")
    parser.add_argument("--many-workers", type=int, default=16, help="simulated workers of the last phase")
    parser.add_argument(
        "--kiosk-pace",
        type=float,
        default=0.0,
        help="seconds of a visitor's turn at each kiosk of the last phase between a job's end and the next post "
        "(0.5-1.5 times it; 0: at once, a closed loop that saturates the booth)",
    )
    parser.add_argument(
        "--many-seconds", type=float, default=2.0, help="simulated GPU seconds per masterpiece in that phase"
    )
    parser.add_argument("--single-node", action="store_true", help="one NATS server instead of a 3-node cluster")
    parser.add_argument("--no-real", action="store_true", help="skip the real engine's 1 vs 2 CPU workers")
    parser.add_argument("--json", type=Path, help="write every figure here too")
    parser.add_argument(
        "--prefetch-compare",
        action="store_true",
        help="only the fast-lane series, with the next batch taken ahead (PORTRAIT_FAST_PREFETCH) off, then on",
    )
    args = parser.parse_args(argv)
    for tally in (RETRIES, REFUSED, DONE):  # this run's alone, when called more than once
        tally.clear()
    global KIOSK_PHOTO_SIDE
    KIOSK_PHOTO_SIDE = max(KIOSK_PHOTO_SIDE, args.picture_side)
    workers = [int(n) for n in ("1,2" if args.quick else args.workers).split(",") if n]
    fast_workers = [] if args.quick else [int(n) for n in args.fast_workers.split(",") if n]
    window = 5.0 if args.quick else args.window
    g, f = (0.5 if args.quick else args.gatys_seconds), args.fast_seconds

    work = Path(tempfile.mkdtemp(prefix="booth-scale-"))
    box = Inbox(work / "inbox").start()
    nats = (NatsServer(work / "nats") if args.single_node else NatsCluster(work / "nats")).start()
    common = {
        "backend": "nats",
        "nats_url": nats.url,
        "nats_replicas": 1 if args.single_node else 3,
        "rate_limit_per_minute": 1_000_000,
        "queue_max": 10_000,
        "fast_size": args.picture_side,
        "mail_retry_base_seconds": 0.3,
        "mail_retry_max_seconds": 1,
    }
    cache = Path.home() / ".cache" / "portrait-booth"
    mailer: BoothProcess | None = None
    apis = [ServerProcess(work / f"api{i}", cache, box.port, **common) for i in range(2)]
    results: list[dict[str, Any]] = []
    load = start_load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start")
    print(f"code: {Path(style_server.__file__).parent.parent} (PYTHONPATH on another checkout compares commits)")
    try:
        for api in apis:
            api.start()
        mailer = BoothProcess(apis[0], "mailer").start()
        urls = [api.url for api in apis]
        baseline = round_trips(nats.url, common["nats_replicas"])
        print(f"baseline (this run, medians): round trip {baseline['rtt_ms']} ms, KV put {baseline['kv_put_ms']} ms")

        nodes = nats.nodes if isinstance(nats, NatsCluster) else [nats]
        pids = {"nats": [n.proc.pid for n in nodes], "api": [a.proc.pid for a in apis], "mailer": [mailer.pid]}

        def series(
            lane: str, counts: list[int], paint: float, warm_up: float, kiosks_for, settings=None, label="", pace=0.0
        ) -> None:
            one = None
            if counts:
                print(HEADER)
            for n in counts:
                sim = SimWorkers(apis[0], n, lane, f, g, settings).start()
                try:
                    before = cpu_snapshot({**pids, "workers": sim.pids})
                    tag = f"{lane}{n}x{kiosks_for(n)}-"  # Idempotency-Keys unique to the phase (else: replays)
                    start, jobs = run_phase(urls, lane, n, kiosks_for(n), paint, warm_up, window, tag, pace)
                    after = cpu_snapshot({**pids, "workers": sim.pids})
                finally:
                    sim.stop()
                workers_seen = sim.workers()
                phase = Phase(lane, n, kiosks_for(n), paint, (start, start + window), jobs, [])
                phase.paints = [w["paints"] for w in workers_seen]
                for w in workers_seen:
                    for name, (count, seconds) in w["calls"].items():
                        c, s = phase.calls.get(name, (0, 0.0))
                        phase.calls[name] = (c + count, s + seconds)
                phase.cpu = {kind: after[kind] - before[kind] for kind in after}
                one = one or (phase.throughput if n == 1 else None)  # the first phase is 1 worker
                figures = phase.figures(one)
                figures["lane"] += label
                results.append(figures)
                print(row(figures), flush=True)

        if args.prefetch_compare:
            for on in (False, True):
                setting = {"PORTRAIT_FAST_PREFETCH": str(on).lower()}
                series(
                    "fast",
                    fast_workers,
                    f,
                    3.0,
                    lambda n: max(args.fast_kiosks, 4 * n),
                    setting,
                    f", prefetch {'on' if on else 'off'}",
                )
            print_prefetch_ratios(results)
            fast_workers, args.many_kiosks = [], 0
        else:
            series("gatys", workers, g, g + 2, lambda n: max(10, 2 * n))
        if fast_workers:
            series("fast", fast_workers, f, 3.0, lambda n: max(args.fast_kiosks, 4 * n))
        if not args.quick and args.many_kiosks:
            g = args.many_seconds
            paced = f", a visitor every {args.kiosk_pace:g} s a kiosk" if args.kiosk_pace else ""
            many = [args.many_workers]
            series("gatys", many, g, 2 * g + 2, lambda n: args.many_kiosks, label=paced, pace=args.kiosk_pace)
        real = None if args.no_real else real_engine(apis, 5.0 if args.quick else 30.0)
        sent = mails_delivered(box, mailer, len(DONE))
    finally:
        for proc in [mailer, *apis]:
            if proc is not None:
                proc.stop()
        nats.stop()
        box.stop()
    total_posted = sum(r["posted"] for r in results)
    print(f"\njobs posted {total_posted}, lost {sum(r['lost'] for r in results)}; mails: {sent}")
    print(f"posts that broke off and were sent again with their Idempotency-Key: {len(RETRIES)}")
    print(f"posts refused with a Retry-After: {REFUSED.count(503)} queue full (503), {REFUSED.count(429)} rate limit")
    if real:
        print(f"real engine, fast jobs, 1 torch thread per worker: {real}")
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end")
    figures = {
        "phases": results,
        "real": real,
        "mails": sent,
        "baseline": baseline,
        "load": [start_load, load],
        "broke_off": len(RETRIES),
        "refused": {"503": REFUSED.count(503), "429": REFUSED.count(429)},
    }
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return figures


def print_prefetch_ratios(results: list[dict[str, Any]]) -> None:
    """Prefetch on against off, measured in this run, per count of workers."""
    by = {(r["lane"].endswith("on"), r["workers"]): r for r in results}
    for n in sorted({w for _, w in by}):
        off, on = by.get((False, n)), by.get((True, n))
        if off and on and off["queue_overhead_ms"] and on["queue_overhead_ms"] is not None:
            print(
                f"{n} workers, prefetch on/off: worker overhead per job {on['queue_overhead_ms']} / "
                f"{off['queue_overhead_ms']} ms ({on['queue_overhead_ms'] / off['queue_overhead_ms']:.2f}x), "
                f"jobs/s {on['throughput_per_s']:.2f} / {off['throughput_per_s']:.2f} "
                f"({on['throughput_per_s'] / off['throughput_per_s']:.2f}x)"
            )


def round_trips(url: str, replicas: int, count: int = 200) -> dict[str, float]:
    """The baseline, in the same run: median ms of one core NATS round trip (flush) and one KV put on this
    cluster (replicated ``replicas`` times), sequential, from this process."""
    from style_server.service.nats_backend import NatsLink

    link = NatsLink(url.split(","), "bench-baseline")

    async def measure() -> dict[str, float]:
        kv = await link.js.create_key_value(bucket="bench-baseline", history=1, replicas=replicas)
        flush, put = [], []
        for i in range(count):
            t0 = time.perf_counter()
            await link.nc.flush()
            t1 = time.perf_counter()
            await kv.put(f"k{i % 10}", b"x" * 1000)
            put.append(time.perf_counter() - t1)
            flush.append(t1 - t0)
        await link.js.delete_key_value("bench-baseline")
        return {"rtt_ms": statistics.median(flush) * 1000, "kv_put_ms": statistics.median(put) * 1000}

    try:
        return {k: round(v, 2) for k, v in link.run(measure(), timeout=120).items()}
    finally:
        link.close()


def mails_delivered(box: Inbox, mailer: BoothProcess, expected: int) -> str:
    """Every job carried an address: wait (up to 5 min) until the inbox holds one mail per done job."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(box.folder.glob("*.eml"))) < expected:
        time.sleep(1)
    mailer.stop()
    ids = [m["Message-ID"] for m in box.messages()]
    got, twice = len(set(ids)), len(ids) - len(set(ids))
    return f"{got} delivered for {expected} done jobs ({expected - got} missing, {twice} sent twice)"


def real_engine(apis: list[ServerProcess], window: float) -> dict[str, Any]:
    """1 vs 2 real ``style-server worker`` processes on CPU, one torch thread each, fast jobs at 256 px."""
    urls, rates, done = [api.url for api in apis], {}, 0
    for count in (1, 2):
        procs = [BoothProcess(apis[0], "worker", "--lanes", "fast", cpu_threads=1).start() for _ in range(count)]
        try:
            start, jobs = run_phase(urls, "fast", count, 6, 0.0, min(10.0, window), window, f"real{count}-")
        finally:
            for proc in procs:
                proc.stop()
        phase = Phase("fast", count, 6, 0.0, (start, start + window), jobs, [])
        rates[count] = phase.counted
        done += sum(1 for j in phase.jobs if j.status.get("state") == "done")
        print(f"real engine, {count} CPU worker(s): {phase.counted:.2f} jobs/s, lost {phase.lost}", flush=True)
    return {
        "one_worker_jobs_per_s": round(rates[1], 3),
        "two_workers_jobs_per_s": round(rates[2], 3),
        "ratio": round(rates[2] / rates[1], 3) if rates[1] else None,
        "done": done,
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "sim-workers":
        count, lane, fast_s, gatys_s = int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
        asyncio.run(sim_workers(count, [lane], fast_s, gatys_s, Path(sys.argv[6])))
    else:
        main()
