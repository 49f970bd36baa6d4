"""Masterpiece speed (issue 10, item 1): today's default vs the new default, side by side in one run.

A 512 px masterpiece as the server paints one (gatys_size, gatys_iterations, face protection on, delivered at the
Instant size), on the astronaut portrait in The Starry Night. Each recipe runs in its own process (its peak RSS is
its own) after the models are loaded, as in a warm server: wall time of the painting, peak RSS, and the result's
same-VGG style and content losses at the painted size (style: the painting's Gram matrices at that size over the
default style layers; content: relu4_2 against the photo).

today: before issue 10: start from the photo, 150 L-BFGS steps at 256 px then 75 at 512 px, 30 % of the style on
faces, no Gram cache, NCHW. new: the defaults now. The new default runs twice: the first masterpiece of a painting
computes its Gram matrices, the next ones take them from the cache.
``--levers`` adds one run per lever, the new default less that lever, and times bf16 autocast and torch.compile on
one optimiser step. Targets: new <= 45 s wall on the 2-core CPU, style loss no worse than today's.
Run: python bench/bench_masterpiece.py [--levers] [--pictures docs/images]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
RECIPES = {
    "today": "before issue 10",
    "new": "the defaults now (first masterpiece of this painting: Gram matrices computed)",
    "new, cache warm": "the defaults now, the painting's Gram matrices cached",
}
LEVERS = {
    "no fast start": "new, starting from the photo instead of the fast network's painting",
    "NCHW": "new, without channels-last",
}


def _setup():
    sys.path.insert(0, str(HERE))
    from portraits import PORTRAITS

    from style_server.config import engine_from_settings, get_settings

    settings = get_settings()
    engine = engine_from_settings(settings)
    engine.vgg()
    engine.fast.warm_up()
    photo = PORTRAITS["astronaut (scikit-image)"]()
    return settings, engine, photo


def one(recipe: str, out: Path) -> None:
    """Paint one recipe in this process and print its figures as JSON."""
    from portraits import server_params, today_params

    from style_server.engine.compare import same_vgg_losses
    from style_server.engine.gatys import GatysOptimizer
    from style_server.engine.imageio import fit_longest_side

    settings, engine, photo = _setup()
    styles = engine.choose("starry-night").gatys_styles()
    vgg = engine.vgg()[0]
    if recipe == "today":  # as before: NCHW, no Gram cache, no fast start
        params = today_params(settings, photo)
        optimizer = GatysOptimizer(vgg, engine.device, channels_last=False, cache_grams=False)
    elif recipe == "NCHW":
        params = server_params(settings, photo)
        optimizer = GatysOptimizer(vgg, engine.device, starter=engine.fast_start, channels_last=False)
    else:
        params = server_params(settings, photo, init="content") if recipe == "no fast start" else None
        params = params or server_params(settings, photo)
        optimizer = engine.gatys()
    if recipe == "new, cache warm":
        optimizer.run(photo, styles, params)  # fills the Gram cache (untimed)
    started = time.perf_counter()
    result = optimizer.run(photo, styles, params)
    seconds = time.perf_counter() - started
    side = params.size
    painted = {recipe: fit_longest_side(result.image, side)}
    losses = same_vgg_losses(engine, fit_longest_side(photo, side), styles, painted, params)[0][recipe]
    result.image.save(out / f"{recipe.replace(' ', '-').replace(',', '')}.png")
    figures = {
        "recipe": recipe,
        "seconds": seconds,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "style": losses["style"],
        "content": losses["content"],
        "steps": result.iterations,
        "plan": params.scales(),
        "load": os.getloadavg()[0],
    }
    print("RESULT " + json.dumps(figures))


def step_levers() -> list[tuple[str, str]]:
    """bf16 autocast and torch.compile on one optimiser step (forward and backward of the loss) at 256 px."""
    from style_server.engine.losses import gram

    _, engine, _ = _setup()
    vgg = engine.vgg()[0]
    layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2"]
    x = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0)).requires_grad_(True)

    def step(net, bf16: bool = False) -> float:
        with torch.autocast(engine.device.type, dtype=torch.bfloat16, enabled=bf16):
            feats = net(x, layers)
            loss = sum(gram(feats[n].float()).square().mean() for n in layers[:4]) + feats["relu4_2"].float().mean()
        loss.backward()
        return float(loss)

    def median_seconds(fn, repeats: int = 3) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        return sorted(times)[len(times) // 2]

    rows = []
    fp32, bf16 = step(vgg), step(vgg, True)
    t32, t16 = median_seconds(lambda: step(vgg)), median_seconds(lambda: step(vgg, True))
    supported = torch.backends.cpu.get_cpu_capability()
    rows.append(
        (
            "bf16 autocast",
            f"step {t16:.2f} s vs {t32:.2f} s fp32 ({t16 / t32:.2f}x), loss {bf16 / fp32 - 1:+.1%} "
            f"(CPU capability {supported})",
        )
    )
    compiled = torch.compile(lambda img: vgg(img, layers))
    started = time.perf_counter()
    try:
        step(lambda img, _: compiled(img))
        first = time.perf_counter() - started
        tc = median_seconds(lambda: step(lambda img, _: compiled(img)))
        rows.append(
            (
                "torch.compile",
                f"first step {first:.1f} s (compiling), then {tc:.2f} s vs {t32:.2f} s eager ({tc / t32:.2f}x)",
            )
        )
    except Exception as exc:  # no C++ compiler, an unsupported platform...
        rows.append(("torch.compile", f"failed: {type(exc).__name__}: {str(exc)[:120]}"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--levers", action="store_true", help="also the new default less each lever")
    parser.add_argument("--pictures", type=Path, help="write today | new (before/after) here")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_masterpiece"), help="result images")
    parser.add_argument("--step-levers", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.one:
        one(args.one, args.out)
        return
    if args.step_levers:
        print("STEPS " + json.dumps(step_levers()))
        return
    print(f"{platform.node()}: {os.cpu_count()} CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads)")
    print(f"uptime load before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    recipes = list(RECIPES) + (list(LEVERS) if args.levers else [])
    rows = {}
    for recipe in recipes:
        rows[recipe] = _child(["--one", recipe, "--out", str(args.out)])
        r = rows[recipe]
        print(
            f"{recipe:18s} {r['seconds']:6.1f} s  RSS {r['rss_mb']:6.0f} MB  style {r['style']:.4f}  "
            f"content {r['content']:.3f}  steps {r['steps']} {r['plan']}  load {r['load']:.2f}",
            flush=True,
        )
    today, new = rows["today"], rows["new"]
    print("\n| recipe | wall (s) | peak RSS (MB) | style loss | content loss | L-BFGS steps (plan) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for recipe, r in rows.items():
        plan = " + ".join(f"{n}@{side}" for side, n in r["plan"])
        print(
            f"| {recipe} | {r['seconds']:.1f} | {r['rss_mb']:.0f} | {r['style']:.4f} | {r['content']:.3f} | "
            f"{r['steps']} ({plan}) |"
        )
    print(
        f"\nnew/today wall: {new['seconds'] / today['seconds']:.2f} (warm cache "
        f"{rows['new, cache warm']['seconds'] / today['seconds']:.2f}); style loss new/today: "
        f"{new['style'] / today['style']:.3f}"
    )
    if args.levers:
        steps = _child(["--step-levers"], key="STEPS")
        print("\n| lever | figures |\n| --- | --- |")
        for lever in LEVERS:
            r = rows[lever]
            print(
                f"| {LEVERS[lever]} | {r['seconds']:.1f} s ({r['seconds'] / new['seconds']:.2f}x new), style "
                f"{r['style']:.4f} ({r['style'] / new['style']:.2f}x new) |"
            )
        for lever, text in steps:
            print(f"| {lever} | {text} |")
    print(f"\nuptime load after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.pictures:
        before_after(args.out, args.pictures)


def _child(argv: list[str], key: str = "RESULT"):
    done = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith(key + " "):
            return json.loads(line[len(key) + 1 :])
    raise SystemExit(f"{argv} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


def before_after(out: Path, pictures: Path) -> None:
    sys.path.insert(0, str(HERE))
    from portraits import PORTRAITS

    photo = PORTRAITS["astronaut (scikit-image)"]()
    tiles = [photo, Image.open(out / "today.png"), Image.open(out / "new.png")]
    crop = (140, 20, 310, 210)  # the face
    tiles += [t.resize(photo.size).crop(crop).resize((340, 380), Image.Resampling.LANCZOS) for t in tiles[1:]]
    tiles = [t.resize((round(t.width * 380 / t.height), 380)) for t in tiles]
    sheet = Image.new("RGB", (sum(t.width for t in tiles) + 10 * (len(tiles) - 1), 380), "white")
    left = 0
    for tile in tiles:
        sheet.paste(tile, (left, 0))
        left += tile.width + 10
    pictures.mkdir(parents=True, exist_ok=True)
    sheet.save(pictures / "masterpiece-before-after.jpg", quality=88)
    print(f"wrote {pictures / 'masterpiece-before-after.jpg'} (photo | today | new | today's face | new face)")


if __name__ == "__main__":
    main()
