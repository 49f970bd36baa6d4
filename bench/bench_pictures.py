"""An image on NATS: one message (the store's way for an image that fits one) against the Object Store's chunks
(its way for a larger one, and the only way before), written and read back through the store's own code on a
real 3-node JetStream cluster (replicas 3) on loopback. Medians of ``--rounds`` writes and reads, and their ratio;
then the median of a whole job's create (key, photo, download index and record) with a photo of the first size,
to compare commits (``PYTHONPATH`` on a worktree of the other one).

Run: python bench/bench_pictures.py [--rounds 40] [--kb 150,400] [--single-node]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from portrait_booth.scaleout import NatsCluster, NatsServer
from shared.protocol import JobOptions
from style_server.config import Settings
from style_server.service.nats_backend import NatsStore
from style_server.service.nats_backend.names import KEYS_SUBJECT
from style_server.service.sealing import new_key, seal, unseal


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--kb", default="150,400", help="image sizes in kB (a delivered JPEG is 150-400)")
    parser.add_argument("--single-node", action="store_true")
    return parser.parse_args()


def median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


def measure(store: NatsStore, size: int, rounds: int) -> dict[str, float]:
    records, run = store.records, store.link.run
    key, data = new_key(), os.urandom(size)
    times: dict[str, list[float]] = {k: [] for k in ("message put", "message get", "chunks put", "chunks get")}
    for i in range(rounds):
        job_id = f"{i:024x}"
        run(store.link.js.publish(f"{KEYS_SUBJECT}.{job_id}", key))
        name = f"{job_id}/result.jpg"
        started = time.perf_counter()
        run(records.put_image(name, data, key))
        times["message put"].append(time.perf_counter() - started)
        started = time.perf_counter()
        assert run(records.image(name)) == data
        times["message get"].append(time.perf_counter() - started)
        chunked = f"{job_id}/portrait.png"
        started = time.perf_counter()
        run(records.images.put(chunked, seal(key, data, chunked)))  # what put_image does with a large image
        times["chunks put"].append(time.perf_counter() - started)
        started = time.perf_counter()  # the read before images were messages: the chunks, then the key
        assert unseal(run(records.key(job_id)), run(records._chunked(chunked)), chunked) == data
        times["chunks get"].append(time.perf_counter() - started)
        run(records.delete_images(job_id, "result.jpg", "portrait.png"))
    return {k: median_ms(v) for k, v in times.items()}


def create_ms(store: NatsStore, size: int, rounds: int) -> float:
    photo, times = os.urandom(size), []
    for i in range(rounds + 10):  # the first ten warm the connection and the cluster's streams up
        started = time.perf_counter()
        store.create(
            kiosk="bench",
            idem_key=f"create-{i}",
            method="fast",
            style="palette-01",
            options=JobOptions(),
            email="bench@example.org",
            language="en",
            portrait_png=photo,
            style_png=None,
        )
        times.append(time.perf_counter() - started)
    return median_ms(times[10:])


def main() -> None:
    args = arguments()
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as folder:
        nats = NatsServer(Path(folder)) if args.single_node else NatsCluster(Path(folder))
        nats.start()
        replicas = 1 if args.single_node else 3
        settings = Settings(backend="nats", nats_url=nats.url, nats_replicas=replicas, data_dir=Path(folder) / "d")
        store = NatsStore(settings, "bench")
        try:
            print("| image | message put ms | chunks put ms | put ratio | message get ms | chunks get ms | get ratio |")
            print("| --- | --- | --- | --- | --- | --- | --- |")
            for kb in (int(k) for k in args.kb.split(",")):
                m = measure(store, kb * 1000, args.rounds)
                print(
                    f"| {kb} kB | {m['message put']:.2f} | {m['chunks put']:.2f} | "
                    f"{m['chunks put'] / m['message put']:.1f}x | {m['message get']:.2f} | {m['chunks get']:.2f} | "
                    f"{m['chunks get'] / m['message get']:.1f}x |"
                )
            kb = int(args.kb.split(",")[0])
            print(f"\na job's create with a {kb} kB photo: {create_ms(store, kb * 1000, args.rounds):.2f} ms (median)")
        finally:
            store.close()
            nats.stop()
    print(f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
