"""One API node under many polling kiosks (issue 23 item 1: routes await the store instead of a thread each).

A NATS server and one API node (``style-server serve --backend nats``) on loopback, no worker: the jobs stay
queued, so every status reads the job and its place in the queue from NATS. ``--jobs`` jobs are posted, then
``--kiosks`` kiosks (asyncio httpx clients, one connection each) poll their job's status (``GET /v1/jobs/{id}``)
in a closed loop for ``--seconds``, one in five polls being a readiness probe as a load balancer's. Prints the
answers per second and their latency (p50/p95), with the machine's load.

Before and after: run it again with ``PYTHONPATH=<a checkout of the other commit>``; the server runs that code
(this process only starts it and plays the kiosks).
Run: python bench/bench_api_node.py [--kiosks 200] [--jobs 50] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from portrait_booth.loopback import API_KEY, Inbox, ServerProcess
from portrait_booth.scaleout import NatsServer

PHOTO = (Path(__file__).resolve().parent.parent / "booth_client" / "assets" / "demo_portrait.jpg").read_bytes()


async def post_jobs(client: httpx.AsyncClient, count: int) -> list[dict]:
    jobs = []
    for i in range(count):
        response = await client.post(
            "/v1/jobs",
            files={"portrait": ("me.jpg", PHOTO, "image/jpeg")},
            data={"style": "palette-04"},
            headers={"Idempotency-Key": f"bench-{i}"},
        )
        response.raise_for_status()
        jobs.append(response.json())
    return jobs


async def kiosk(url: str, job: dict, stop_at: float, latencies: list[float], errors: list[int]) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}", "X-Job-Token": job["token"]}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
        n = 0
        while time.monotonic() < stop_at:
            n += 1
            path = "/readyz" if n % 5 == 0 else f"/v1/jobs/{job['id']}"
            sent = time.perf_counter()
            response = await client.get(path)
            latencies.append(time.perf_counter() - sent)
            if response.status_code != 200:
                errors.append(response.status_code)


async def load(url: str, kiosks: int, jobs: int, seconds: float) -> tuple[list[float], list[int]]:
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60) as client:
        posted = await post_jobs(client, jobs)
    latencies: list[float] = []
    errors: list[int] = []
    await asyncio.gather(*(kiosk(url, posted[i % jobs], time.monotonic() + 2, [], []) for i in range(kiosks)))  # warm
    stop_at = time.monotonic() + seconds
    await asyncio.gather(*(kiosk(url, posted[i % jobs], stop_at, latencies, errors) for i in range(kiosks)))
    return latencies, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kiosks", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        nats = NatsServer(folder / "nats").start()
        inbox = Inbox(folder / "inbox").start()
        server = ServerProcess(
            folder / "data",
            folder / "cache",
            inbox.port,
            backend="nats",
            nats_url=nats.url,
            rate_limit_per_minute=10_000,
        )
        try:
            server.start()
            load_before = os.getloadavg()[0]
            latencies, errors = asyncio.run(load(server.url, args.kiosks, args.jobs, args.seconds))
            load_after = os.getloadavg()[0]
        finally:
            server.stop()
            inbox.stop()
            nats.stop()
    cuts = statistics.quantiles(latencies, n=20)
    print(f"code: {os.environ.get('PYTHONPATH') or 'this checkout'}; load {load_before:.1f} -> {load_after:.1f}")
    print(
        f"{args.kiosks} kiosks, {args.jobs} queued jobs, {args.seconds:g} s: {len(latencies) / args.seconds:.0f} "
        f"answers/s, latency p50 {statistics.median(latencies) * 1000:.1f} ms, p95 {cuts[18] * 1000:.1f} ms, "
        f"errors {len(errors)} {sorted(set(errors))}"
    )


if __name__ == "__main__":
    main()
