"""Bounded load on loopback: simulated kiosks post jobs to a real server; nothing may be lost.

Phase 1: N kiosks post fast jobs for D seconds. Phase 2: the same with every 5th job a masterpiece.
Reports throughput, p50/p95 latency (upload to done), server overhead as a share of engine time
(latency minus queue wait minus painting, over painting), and jobs and mails lost (must be 0).
Run: python bench/bench_server.py [--kiosks 10] [--seconds 120]
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
from PIL import Image

from portrait_booth.loopback import Inbox, ServerProcess

PORTRAIT = Path(__file__).resolve().parent.parent / "booth_client" / "assets" / "demo_portrait.jpg"


def portrait_jpeg(side: int = 384) -> bytes:
    buf = io.BytesIO()
    Image.open(PORTRAIT).resize((side, side)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def kiosk(client: httpx.Client, photo: bytes, stop_at: float, gatys_every: int, results: list, kiosk_id: str):
    n = 0
    while time.monotonic() < stop_at:
        n += 1
        method = "gatys" if gatys_every and n % gatys_every == 0 else "fast"
        data = {"style": "starry-night", "method": method, "email": f"k{kiosk_id}-{n}@example.org", "consent": "true"}
        posted = time.time()
        r = client.post(
            "/v1/jobs",
            data=data,
            files={"portrait": ("p.jpg", photo, "image/jpeg")},
            headers={"Idempotency-Key": f"{kiosk_id}-{n}"},
        )
        if r.status_code in (429, 503):
            time.sleep(float(r.headers.get("Retry-After", "1")))
            continue
        r.raise_for_status()
        job = r.json()
        while True:
            status = client.get(f"/v1/jobs/{job['id']}", headers={"X-Job-Token": job["token"]}).json()
            if status["state"] in ("done", "failed"):
                break
            time.sleep(0.05)
        results.append((method, posted, status))


def phase(server: ServerProcess, kiosks: int, seconds: float, gatys_every: int, tag: str) -> list:
    photo, results = portrait_jpeg(), []
    stop_at = time.monotonic() + seconds
    with server.client() as client:
        threads = [
            threading.Thread(target=kiosk, args=(client, photo, stop_at, gatys_every, results, f"{tag}{i}"))
            for i in range(kiosks)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return results


def report(name: str, results: list, seconds: float) -> None:
    for method in ("fast", "gatys"):
        rows = [(posted, s) for m, posted, s in results if m == method]
        if not rows:
            continue
        done = [s for _, s in rows if s["state"] == "done"]
        latency = [datetime.fromisoformat(s["finished_at"]).timestamp() - p for p, s in rows if s["finished_at"]]
        engine = [s["engine_seconds"] for s in done]
        p50, p95 = (
            statistics.median(latency),
            statistics.quantiles(latency, n=20)[18] if len(latency) > 1 else latency[0],
        )
        print(
            f"{name:6s} {method:5s} jobs {len(rows):4d}  done {len(done):4d}  {len(rows) / seconds:6.2f} jobs/s  "
            f"p50 {p50:6.2f}s  p95 {p95:6.2f}s  engine/job {statistics.mean(engine):6.3f}s"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kiosks", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=120)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="booth-bench-"))
    box = Inbox(work / "inbox").start()
    server = ServerProcess(
        work / "data",
        Path.home() / ".cache" / "portrait-booth",
        box.port,
        rate_limit_per_minute=100_000,
        queue_max=1000,
        fast_size=384,
        gatys_size=256,
        gatys_iterations=30,
        preview_every=2,
        mail_retry_base_seconds=0.3,
        mail_retry_max_seconds=1,
    ).start()
    try:
        fast = phase(server, args.kiosks, args.seconds, gatys_every=0, tag="fast")
        mixed = phase(server, args.kiosks, args.seconds, gatys_every=5, tag="mixed")
        report("fast", fast, args.seconds)
        report("mixed", mixed, args.seconds)
        ids = [s["id"] for _, _, s in fast + mixed]
        assert len(ids) == len(set(ids)), "every post made its own job"
        everything = fast + mixed
        done = [(p, s) for _, p, s in everything if s["state"] == "done"]
        overhead = engine = 0.0
        for posted, status in done:
            ts = {k: datetime.fromisoformat(status[k]).timestamp() for k in ("created_at", "started_at", "finished_at")}
            engine += status["engine_seconds"]
            # latency minus queue wait minus painting: upload handling, DB, encoding, polling granularity
            overhead += (ts["finished_at"] - posted) - (ts["started_at"] - ts["created_at"]) - status["engine_seconds"]
        mails = box.wait_for(len(done), timeout=300)
        print(f"server overhead: {overhead / engine:.1%} of engine time ({overhead / len(done) * 1000:.0f} ms per job)")
        print(f"jobs lost: {len(everything) - len(done)}   mails lost: {len(done) - len(mails)} of {len(done)}")
    finally:
        server.stop()
        box.stop()


if __name__ == "__main__":
    main()
