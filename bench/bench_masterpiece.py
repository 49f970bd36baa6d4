"""Masterpiece speed: the masterpiece before issue 20 (the loss network in fp32, 16 L-BFGS steps: the reference for
speed and losses) vs the server's now (the precision the hardware picks, bfloat16 where the CPU has the kernels,
``engine/precision.py``, and the steps that precision affords, ``MASTERPIECE_STEPS``), side by side.

A masterpiece as the server paints one (gatys_size, the engine's steps, face protection on, delivered at 1024 px by
the guided upsample), on the astronaut portrait brought to 1024 px as a camera frame would be, in The Starry Night.
Each recipe runs in its own process (its peak RSS is its own) after the models are loaded, as in a warm server:
wall time of the painting, peak RSS, and the result's same-VGG style and content losses at the painted size
(style: the painting's Gram matrices at that size over the default style layers; content: relu4_2 against the
photo), always measured in fp32.

The automatic precision runs twice: the first masterpiece of a painting computes its Gram matrices, the next ones
take them from the cache. On a CPU without bfloat16 kernels both recipes are fp32 (the server's with 14 steps) and
the bench says so.
``--levers`` adds one run per lever, the automatic recipe less that lever, and times bf16 autocast and
torch.compile on one optimiser step. Targets: <= 25 s wall for the delivered 1024 px picture on 2 quiet cores,
style and content loss within 5 % of fp32's.
``--isa avx2`` runs everything with oneDNN and ATen held to AVX2 (``ONEDNN_MAX_CPU_ISA``, ``ATEN_CPU_CAPABILITY``):
an AVX2-only CPU's path (no bfloat16 kernels, so the automatic precision is fp32) on this CPU's cores.
Run: python bench/bench_masterpiece.py [--levers] [--isa avx2] [--pictures docs/images]
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
    "fp32": "the masterpiece before issue 20: the loss network in fp32, 16 steps (a CPU without bfloat16 kernels "
    "now runs 14)",
    "auto": "the defaults now: bfloat16 where the CPU has the kernels (first masterpiece: Gram matrices computed)",
    "auto, cache warm": "the defaults now, the painting's Gram matrices cached",
}
LEVERS = {  # each: fp32 or auto less one lever, or with a schedule that does less work at full size
    "no fast start": "auto, starting from the photo instead of the fast network's painting",
    "fp32 channels-last": "fp32, the loss network in channels-last (NHWC) as before",
    "fp32 two-product Gram": "fp32, Gram matrices differentiated by autograd (two products and a sum) as before",
    "fp32 12 steps": "fp32, 12 L-BFGS steps instead of 16",
    "fp32 14 steps": "fp32, 14 L-BFGS steps instead of 16",
    "fp32 coarse to fine": "fp32, 16 steps at 256 px, then 8 at 512 px",
}
DELIVERED = 1024  # the longest side of the picture a visitor receives


def _setup():
    sys.path.insert(0, str(HERE))
    from portraits import PORTRAITS

    from style_server.config import engine_from_settings, get_settings

    settings = get_settings()
    engine = engine_from_settings(settings)
    engine.vgg()
    engine.fast.warm_up()
    photo = PORTRAITS["astronaut (scikit-image)"]().resize((DELIVERED, DELIVERED), Image.Resampling.LANCZOS)
    return settings, engine, photo


def one(recipe: str, out: Path) -> None:
    """Paint one recipe in this process and print its figures as JSON."""
    from portraits import server_params

    import style_server.engine.gatys as losses_module  # the module whose gram() the optimiser calls
    from research.compare import same_vgg_losses
    from style_server.engine.gatys import GatysOptimizer
    from style_server.engine.imageio import fit_longest_side
    from style_server.engine.params import MASTERPIECE_STEPS

    settings, engine, photo = _setup()
    styles = engine.choose("starry-night").gatys_styles()
    vgg = engine.vgg()[0]
    fp32 = recipe.startswith("fp32")
    overrides = {
        "no fast start": {"init": "content"},
        "fp32 12 steps": {"iterations": 12},
        "fp32 14 steps": {"iterations": 14},
        "fp32 coarse to fine": {"multiscale": True, "coarsest_side": 256, "refine_share": 0.5},
    }.get(recipe, {})
    if fp32:  # the masterpiece before issue 20, unless a lever says otherwise
        overrides = {"iterations": MASTERPIECE_STEPS["reduced"]} | overrides
    params = server_params(settings, engine, photo, **overrides)
    if recipe == "fp32 two-product Gram":
        losses_module.gram = _two_product_gram
    optimizer = (
        GatysOptimizer(
            vgg,
            engine.device,
            starter=engine.fast_start,
            precision="fp32",
            channels_last=True if recipe == "fp32 channels-last" else None,
        )
        if fp32
        else engine.gatys()  # the server's own
    )
    if recipe == "auto, cache warm":
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
        "precision": str(optimizer.reduced or "fp32").removeprefix("torch."),
        "delivered": max(result.image.size),
        "load": os.getloadavg()[0],
    }
    print("RESULT " + json.dumps(figures))


def _two_product_gram(features: torch.Tensor, weight_map: torch.Tensor | None = None) -> torch.Tensor:
    """The Gram matrix as it was computed before: a plain product whose gradient autograd forms per operand."""
    b, c, h, w = features.shape
    assert weight_map is None, "the bench's masterpiece has no style map"
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)


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
    parser.add_argument("--pictures", type=Path, help="write photo | fp32 | auto here")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_masterpiece"), help="result images")
    parser.add_argument("--step-levers", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--isa", choices=["avx2"], help="hold oneDNN and ATen to this instruction set")
    args = parser.parse_args()
    held = {"ONEDNN_MAX_CPU_ISA": args.isa.upper(), "ATEN_CPU_CAPABILITY": args.isa} if args.isa else {}
    if any(os.environ.get(name) != value for name, value in held.items()):  # read as torch loads: start again
        os.execve(sys.executable, [sys.executable, __file__, *sys.argv[1:]], os.environ | held)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.one:
        one(args.one, args.out)
        return
    if args.step_levers:
        print("STEPS " + json.dumps(step_levers()))
        return
    from style_server.engine.precision import describe_cpu

    print(f"{platform.node()}: {os.cpu_count()} CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads)")
    print(f"CPU: {_cpu_model()}; {describe_cpu()}")
    print(f"uptime load before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    recipes = list(RECIPES) + (list(LEVERS) if args.levers else [])
    rows = {}
    for recipe in recipes:
        rows[recipe] = _child(["--one", recipe, "--out", str(args.out)])
        r = rows[recipe]
        print(
            f"{recipe:18s} {r['seconds']:6.1f} s  {r['precision']}  RSS {r['rss_mb']:6.0f} MB  style {r['style']:.4f}  "
            f"content {r['content']:.3f}  steps {r['steps']} {r['plan']}  {r['delivered']} px  load {r['load']:.2f}",
            flush=True,
        )
    fp32, auto = rows["fp32"], rows["auto"]
    print("\n| recipe | precision | wall (s) | peak RSS (MB) | style loss | content loss | L-BFGS steps (plan) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for recipe, r in rows.items():
        plan = " + ".join(f"{n}@{side}" for side, n in r["plan"])
        print(
            f"| {recipe} | {r['precision']} | {r['seconds']:.1f} | {r['rss_mb']:.0f} | {r['style']:.4f} | "
            f"{r['content']:.3f} | {r['steps']} ({plan}) |"
        )
    print(
        f"\nauto/fp32 wall: {auto['seconds'] / fp32['seconds']:.2f} (warm cache "
        f"{rows['auto, cache warm']['seconds'] / fp32['seconds']:.2f}); style loss auto/fp32: "
        f"{auto['style'] / fp32['style']:.3f}; content loss auto/fp32: {auto['content'] / fp32['content']:.3f}"
    )
    if args.levers:
        steps = _child(["--step-levers"], key="STEPS")
        print("\n| lever | figures |\n| --- | --- |")
        for lever in LEVERS:
            r, name = rows[lever], "fp32" if lever.startswith("fp32") else "auto"
            base = rows[name]
            print(
                f"| {LEVERS[lever]} | {r['seconds']:.1f} s ({r['seconds'] / base['seconds']:.2f}x {name}), style "
                f"{r['style'] / base['style']:.2f}x, content {r['content'] / base['content']:.2f}x |"
            )
        for lever, text in steps:
            print(f"| {lever} | {text} |")
    print(f"\nuptime load after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.pictures:
        before_after(args.out, args.pictures)


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


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
    tiles = [photo, Image.open(out / "fp32.png"), Image.open(out / "auto.png")]
    crop = (280, 40, 620, 420)  # the face (in the 1024 px photo)
    tiles += [t.resize(photo.size).crop(crop).resize((340, 380), Image.Resampling.LANCZOS) for t in tiles[1:]]
    tiles = [t.resize((round(t.width * 380 / t.height), 380)) for t in tiles]
    sheet = Image.new("RGB", (sum(t.width for t in tiles) + 10 * (len(tiles) - 1), 380), "white")
    left = 0
    for tile in tiles:
        sheet.paste(tile, (left, 0))
        left += tile.width + 10
    pictures.mkdir(parents=True, exist_ok=True)
    sheet.save(pictures / "masterpiece-before-after.jpg", quality=88)
    print(f"wrote {pictures / 'masterpiece-before-after.jpg'} (photo | fp32 | auto | fp32's face | auto's face)")


if __name__ == "__main__":
    main()
