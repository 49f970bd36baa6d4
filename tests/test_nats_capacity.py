"""Reading the workers' capacity must not cost a JetStream consumer per read.

KV ``keys()`` opens a watcher: an ephemeral consumer that lingers five minutes on the server. Every process reads
the capacity (for each status's ETA, at most every 2 s), so with 32 simulated workers (bench/bench_scale.py) the
bucket's stream reached nats-server's limit of 1000 consumers, and every status read, progress report and preview
failed with "maximum consumers limit reached" (masterpieces failed with it)."""

from __future__ import annotations

from portrait_booth.scaleout import NatsServer
from style_server.config import Settings
from style_server.service.nats_store import WORKERS_KV, NatsStore


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
