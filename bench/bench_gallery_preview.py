"""The gallery's previews: the visitor's face in 12, 26 and every offered style at tile size, against baselines
measured in the same run.

Each case times what the server does for ``POST /v1/previews`` after the body has arrived: decode the kept photo
(a 1280x720 camera JPEG), frame the tile on the face, paint every pass, encode each tile as a JPEG line. Baselines,
in the same rounds: the same styles painted one forward pass per style (unbatched), and one Instant job at full
size (1024 px, face care on). Medians of ``--runs`` rounds, the cases interleaved within each round so that the
machine's noise falls on all of them alike. Budget: every offered style, at least 12, within 3 s on the 2-core
CPU server (the gallery shows its wall of previews while the visitor still stands there).

Run: python bench/bench_gallery_preview.py [--runs 5] [--sides 192 256]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image

from shared.protocol import PREVIEW_SIDE
from style_server.config import BUILTIN_MODELS
from style_server.engine.fast import FastOptions
from style_server.engine.precision import describe_cpu
from style_server.engine.runtime import Engine
from style_server.service.previews import decode_photo, preview_lines, tile_line

DEMO = Path(__file__).resolve().parent.parent / "booth_client" / "assets" / "demo_portrait.jpg"


def camera_jpeg() -> bytes:
    """The demo portrait as a kiosk's camera frame: 1280x720, the face left of centre, JPEG quality 92."""
    frame = Image.new("RGB", (1280, 720), (92, 88, 80))
    frame.paste(Image.open(DEMO).convert("RGB").resize((720, 720), Image.Resampling.LANCZOS), (200, 0))
    buf = io.BytesIO()
    frame.save(buf, "JPEG", quality=92)
    return buf.getvalue()


def batched(engine: Engine, jpeg: bytes, count: int, side: int) -> Callable[[], tuple[int, float]]:
    """The endpoint's work: (tiles, seconds to the first line)."""
    cards = list(engine.catalogue)[:count]

    def run() -> tuple[int, float]:
        started, first, lines = time.perf_counter(), 0.0, 0
        for chunk in preview_lines(engine.gallery, decode_photo(jpeg), cards, side):
            first = first or time.perf_counter() - started
            lines += chunk.count(b"\n")
        return lines, first

    return run


def unbatched(engine: Engine, jpeg: bytes, count: int, side: int) -> Callable[[], tuple[int, float]]:
    """The same tiles, one forward pass per style."""
    cards = list(engine.catalogue)[:count]

    def run() -> tuple[int, float]:
        started, first = time.perf_counter(), 0.0
        plan = engine.gallery.plan(decode_photo(jpeg), cards, side)
        for i in range(len(cards)):
            [(style_id, tile)] = plan.paint([i])
            tile_line(style_id, tile)
            first = first or time.perf_counter() - started
        return len(cards), first

    return run


def instant_job(engine: Engine, jpeg: bytes) -> Callable[[], tuple[int, float]]:
    """One Instant painting at the server's size (1024 px), as the fast lane paints a visitor's job."""
    card = engine.catalogue.get("palette-01")

    def run() -> tuple[int, float]:
        photo = decode_photo(jpeg)
        engine.fast.stylize([photo], [engine.fast.resolve([(card, 1.0)])], FastOptions(size=1024, face_protect=True))
        return 1, 0.0

    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sides", type=int, nargs="+", default=[PREVIEW_SIDE])
    parser.add_argument("--counts", type=int, nargs="+", default=[12, 26])
    args = parser.parse_args()
    engine = Engine(BUILTIN_MODELS, Path.home() / ".cache" / "portrait-booth", device="cpu")
    engine.fast.warm_up()
    jpeg = camera_jpeg()
    offered = len(engine.catalogue)
    counts = sorted({*args.counts, offered})
    print(f"{platform.node()}: {os.cpu_count()} CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads)")
    print(f"CPU: {_cpu_model()}; {describe_cpu()}")
    print(f"load before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    cases: dict[str, Callable[[], tuple[int, float]]] = {"one Instant job, 1024 px": instant_job(engine, jpeg)}
    for side in args.sides:
        for count in counts:
            cases[f"{count} styles at {side} px, batched"] = batched(engine, jpeg, count, side)
            cases[f"{count} styles at {side} px, one pass per style"] = unbatched(engine, jpeg, count, side)
    for case in cases.values():
        case()  # warm-up: each shape's first call chooses its kernels
    seconds: dict[str, list[float]] = {name: [] for name in cases}
    firsts: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, case in cases.items():
            started = time.perf_counter()
            _, first = case()
            seconds[name].append(time.perf_counter() - started)
            firsts[name].append(first)
    instant = statistics.median(seconds["one Instant job, 1024 px"])
    print(f"\nmedians of {args.runs} runs ({offered} styles offered)")
    print("| case | seconds (median) | first tile (s) | x one Instant job | runs (s) |")
    print("| --- | --- | --- | --- | --- |")
    for name in cases:
        median, first = statistics.median(seconds[name]), statistics.median(firsts[name])
        runs = " ".join(f"{s:.2f}" for s in seconds[name])
        shown = f"{first:.2f}" if first else "-"
        print(f"| {name} | {median:.2f} | {shown} | {median / instant:.2f} | {runs} |")
    print(f"\nload after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
