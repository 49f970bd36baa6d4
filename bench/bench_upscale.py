"""The guided upsample (a 512 px masterpiece brought to 1024 px on the photo's structure) against a plain Lanczos
resize of the same picture, measured in the same run: what sharpness at full size costs on this CPU.

Medians of ``--runs`` rounds, the two interleaved within each round so the machine's noise falls on both alike.

Run: python bench/bench_upscale.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from style_server.engine.precision import describe_cpu
from style_server.engine.upscale import guided_upsample

DEMO = Path(__file__).resolve().parent.parent / "booth_client" / "assets" / "demo_portrait.jpg"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def seconds(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    photo = Image.open(DEMO).convert("RGB").resize((1024, 1024), Image.Resampling.LANCZOS)
    painting = photo.resize((512, 512), Image.Resampling.BOX).quantize(24).convert("RGB")  # flat, as painted
    cases = {
        "Lanczos resize 512 -> 1024 (baseline)": lambda: painting.resize((1024, 1024), Image.Resampling.LANCZOS),
        "guided upsample 512 -> 1024": lambda: guided_upsample(painting, photo, 1024),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, work in cases.items():
            times[name].append(seconds(work))
    load = os.getloadavg()
    print(f"CPU: {cpu_model()} ({os.cpu_count()} cores); {describe_cpu()}; load {load[0]:.2f} {load[1]:.2f}")
    baseline = statistics.median(next(iter(times.values())))
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name}: median {median * 1000:.1f} ms of {args.runs} ({median / baseline:.1f}x the resize)")


if __name__ == "__main__":
    main()
