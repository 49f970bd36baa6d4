"""Reading the workers' capacity must not cost a JetStream consumer per read.

KV ``keys()`` opens a watcher: an ephemeral consumer that lingers five minutes on the server. Every process reads
the capacity (for each status's ETA, at most every 2 s), so with 32 simulated workers (bench/bench_scale.py) the
bucket's stream reached nats-server's limit of 1000 consumers, and every status read, progress report and preview
failed with "maximum consumers limit reached" (masterpieces failed with it)."""

from __future__ import annotations

from portrait_booth.scaleout import NatsServer
from style_server.config import Settings
from style_server.service.nats_backend import NatsStore
from style_server.service.nats_backend.names import WORKERS_KV


def test_reading_capacity_leaves_no_consumer_behind(tmp_path):
    nats = NatsServer(tmp_path / "nats").start()
    store = NatsStore(Settings(backend="nats", nats_url=nats.url, data_dir=tmp_path / "data"), "api")
    try:
        store.report_capacity({"fast": 0.05, "gatys": 20.0}, {"fast": 1, "gatys": 1})
        for _ in range(5):
            capacity = store.capacity()
        assert capacity["gatys"].seconds_per_job == 20.0 and capacity["fast"].workers == 1

        async def consumers() -> int:
            return (await store.link.js.stream_info(f"KV_{WORKERS_KV}")).state.consumer_count

        assert store.link.run(consumers()) == 0
    finally:
        store.close()
        nats.stop()


def test_a_worker_keeps_no_one_elses_previews_and_still_hears_cancels(tmp_path):
    """Every process hears every relayed event. An API node keeps a running masterpiece's latest preview for a
    stream that opens late; a worker has no streams: before, each of N workers read the job's status for every
    event of every other worker (N x N reads; 48 per job with 16 workers in bench/bench_scale.py) and kept
    other workers' previews, which show faces. It must still hear a cancel for the masterpiece it paints."""
    import threading
    import time

    from shared.protocol import JobOptions
    from style_server.config import engine_from_settings
    from style_server.service.service import Service

    nats = NatsServer(tmp_path / "nats").start()
    settings = Settings(backend="nats", nats_url=nats.url, data_dir=tmp_path / "data")
    engine = engine_from_settings(settings)  # lazy: no network is loaded here
    stores = [NatsStore(settings, name) for name in ("api", "worker", "painter")]
    api, worker = Service(settings, engine, stores[0]), Service(settings, engine, stores[1], streams=False)
    try:
        fields = {"kiosk": "k", "idem_key": None, "style": "palette-01", "options": JobOptions(), "email": None}
        job, _ = stores[2].create(method="gatys", language="en", portrait_png=b"png", style_png=None, **fields)
        [running] = stores[2].take("gatys", 1, 1.0)
        assert running.id == job.id
        painting = worker.runner.cancels.setdefault(job.id, threading.Event())  # as if the worker painted it
        stores[2].broadcast({"kind": "preview", "id": job.id, "jpeg": "face"})
        stores[2].broadcast({"kind": "cancel", "id": job.id})
        deadline = time.monotonic() + 10
        while (job.id not in api.events.previews or not painting.is_set()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert api.events.previews.get(job.id) == "face"
        assert painting.is_set()
        assert worker.events.previews == {}
    finally:
        for store in stores:
            store.close()
        nats.stop()


def test_a_burst_of_refreshes_is_read_once_and_holds_up_no_other_event(tmp_path):
    """A refresh makes an API node read the status of every job watched on it. A burst of them (a worker's
    passes) waiting behind a slow one is read once, and the events that carry their status (a job done) pass
    them by, in order."""
    import threading

    from tests.harness import wait_until

    nats = NatsServer(tmp_path / "nats").start()
    settings = Settings(backend="nats", nats_url=nats.url, data_dir=tmp_path / "data")
    worker, api = NatsStore(settings, "worker"), NatsStore(settings, "api")
    heard: list[dict] = []
    reading, busy = threading.Event(), threading.Event()

    def handler(event: dict) -> None:
        if event["kind"] == "refresh":
            reading.set()
            busy.wait(120)  # the first refresh reads slowly while the burst arrives
        heard.append(event)

    first = {"kind": "refresh", "latest_only": True, "heads": {"fast": 1}}

    def first_heard() -> bool:
        if reading.is_set():
            return True
        worker.broadcast(first)  # core NATS delivers at most once: sent (again) until one copy arrives
        return False

    try:
        api.listen(handler)
        wait_until(first_heard, lambda: "the first refresh never reached the handler", 60, every=1.0)
        worker.broadcast({"kind": "changed", "ids": ["first"]})
        for i in range(49):  # lanes' heads heard out of order (two workers): the furthest of each is kept
            heads = {"fast": 2 + (i * 5) % 49, "gatys": 100 - i}
            worker.broadcast({"kind": "refresh", "latest_only": True, "heads": heads})
        worker.broadcast({"kind": "changed", "ids": ["last"]})
        shared = api.shared
        wait_until(lambda: len(heard) == 2, lambda: heard, 30)  # while the refresh still reads
        assert [e.get("ids") for e in heard] == [["first"], ["last"]]
        busy.set()
        wait_until(lambda: len(heard) == 4, lambda: heard, 30)
        assert [e["kind"] for e in heard[2:]] == ["refresh", "refresh"]
        assert "latest_only" not in heard[2]
        assert heard[2]["heads"] == {"fast": 1} and heard[3]["heads"] == {"fast": 50, "gatys": 100}
        # every refresh but the two handled was merged into the one waiting (the 49, and any copy of the first)
        assert shared.events_coalesced == shared.events_heard - 4 >= 48
    finally:
        busy.set()
        worker.close()
        api.close()
        nats.stop()


def test_refreshes_merge_to_each_lanes_furthest_head_and_one_without_heads_reads_everything():
    from style_server.service.nats_backend.coordination import merged

    first = {"kind": "refresh", "heads": {"fast": 9}}
    assert merged(first, {"kind": "refresh", "heads": {"fast": 4, "gatys": 2}})["heads"] == {"fast": 9, "gatys": 2}
    assert merged(first, {"kind": "refresh"}) == {"kind": "refresh"}  # a cancel's: positions read again
    assert merged({"kind": "refresh"}, first) == {"kind": "refresh"}


def test_an_api_node_moves_a_watched_job_up_from_a_workers_refresh_without_reading_it(tmp_path):
    """The worker's refresh after a take carries its lane's head; the API node's stream hears the job's new place
    in the queue, and the node reads nothing for it (issue 23: events carry what the kiosk needs)."""
    import asyncio

    from shared.protocol import JobOptions
    from style_server.config import engine_from_settings
    from style_server.service.service import Service

    nats = NatsServer(tmp_path / "nats").start()
    settings = Settings(backend="nats", nats_url=nats.url, data_dir=tmp_path / "data")
    engine = engine_from_settings(settings)  # lazy: no network is loaded here
    api_store, worker_store = NatsStore(settings, "api"), NatsStore(settings, "worker")
    api, worker = Service(settings, engine, api_store), Service(settings, engine, worker_store, streams=False)
    fields = {"kiosk": "k", "idem_key": None, "style": "palette-01", "options": JobOptions(), "email": None}
    jobs = [
        api_store.create(method="fast", language="en", portrait_png=b"png", style_png=None, **fields)[0]
        for _ in range(3)
    ]

    async def run() -> None:
        api.events.bind(asyncio.get_running_loop())
        stream = api.events.subscribe(jobs[2].id)
        assert (await api.status_of(jobs[2].id)).position == 2  # as a stream opens
        reads: list[str] = []
        read = api.events.describe
        api.events.describe = lambda job_id: reads.append(job_id) or read(job_id)
        taken = await asyncio.to_thread(worker_store.take, "fast", 2, 0.0)
        assert [job.id for job in taken] == [job.id for job in jobs[:2]]
        heads = {"fast": max(job.seq for job in taken)}  # as the runner's pass tells it
        await asyncio.to_thread(worker.events.refresh, heads)
        moved = (await asyncio.wait_for(stream.get(), 30)).status
        assert (moved.state, moved.position) == ("queued", 0) and reads == []
        assert (await api.status_of(jobs[2].id)).position == 0  # what a poll reads agrees

    try:
        asyncio.run(run())
    finally:
        api.close()
        worker.close()
        nats.stop()


def test_an_event_loop_waits_its_turn_on_nats_and_hears_why_when_none_comes(tmp_path):
    """At most ``nats_calls_in_flight`` calls of a process's event loop are on NATS at once; one that gets no
    turn in time is refused with BackendUnavailable (a 503 with Retry-After) and never runs."""
    import asyncio

    import pytest

    from style_server.service.jobtypes import BackendUnavailable

    nats = NatsServer(tmp_path / "nats").start()
    store = NatsStore(
        Settings(backend="nats", nats_url=nats.url, data_dir=tmp_path / "data", nats_calls_in_flight=1), "api"
    )

    async def run() -> None:
        aio = store.aio
        assert await aio.depth() == {"fast": 0, "gatys": 0}
        await aio._turns.acquire()  # the one turn, held by a long call
        late = aio.queue.depth()
        with pytest.raises(BackendUnavailable, match="no turn"):
            await aio._call(late, timeout=0.2)
        assert late.cr_frame is None  # closed, never run
        assert await aio.readiness() is None  # readiness and the rate limit do not queue for a turn
        assert await aio.reserve_place("kiosk-a", 5, 0.0) == 0
        aio._turns.release()
        assert await aio.depth() == {"fast": 0, "gatys": 0}

    try:
        asyncio.run(run())
    finally:
        store.close()
        nats.stop()
