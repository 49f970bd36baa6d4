"""Faces painted, not pasted: masterpieces of several people with face protection on.

Per portrait: OpenCV's face box in the photo and in the painting (same place and size within +-10 %), and the
same-VGG style loss (the painting's Gram matrices, style layers of the defaults) inside and outside the face box,
for the photo and for the painting. A face is painted with the same brushwork when inside the box the style loss
falls by at least 40 % of what it falls outside: ratio = fall inside / fall outside >= 0.4.
``--today`` measures the pasted-on recipe as well (30 % of the style kept off faces), the baseline to beat.
``--pictures DIR`` writes a contact sheet (photo | painting, and the faces enlarged) per portrait.
Run: python bench/bench_faces.py [--style starry-night] [--today] [--pictures docs/images]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw
from portraits import PORTRAITS, same_place, server_params, today_params

from research.compare import region_style_losses
from style_server.config import engine_from_settings, get_settings
from style_server.engine.face import detect_faces
from style_server.engine.gatys import GatysOptimizer

RATIO_TARGET = 0.4


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--style", default="starry-night")
    parser.add_argument("--today", action="store_true", help="also measure the pasted-on face recipe, the baseline")
    parser.add_argument("--only", help="run only portraits whose name contains this")
    parser.add_argument("--pictures", type=Path, help="write photo | painting sheets here")
    parser.add_argument(
        "--paintings",
        nargs="+",
        metavar="RECIPE=PATH",
        help="measure these paintings of the astronaut (e.g. bench_masterpiece.py's today.png and new.png) instead",
    )
    args = parser.parse_args()
    settings = get_settings()
    engine = engine_from_settings(settings)
    vgg = engine.vgg()[0]
    style = engine.choose(args.style).gatys_styles()
    painting = style[0][0]
    if args.paintings:
        photo = PORTRAITS["astronaut (scikit-image)"]()
        box = detect_faces(photo)[0]
        for spec in args.paintings:
            recipe, path = spec.split("=", 1)
            result = Image.open(path).convert("RGB")
            report("astronaut", recipe, photo, result, box, vgg, painting, server_params(settings, engine, photo))
        return
    recipes = {"new": (engine.gatys(), server_params)}
    if args.today:
        recipes["today"] = (GatysOptimizer(vgg, engine.device, channels_last=False, cache_grams=False), today_params)
    print(f"{platform.node()}: {os.cpu_count()} CPUs, torch {torch.__version__}, load {os.getloadavg()[0]:.2f}")
    rows = []
    for name, load in PORTRAITS.items():
        if args.only and args.only not in name:
            continue
        photo = load()
        if photo is None:
            print(f"{name}: not installed (pip install -e '.[bench]'), skipped")
            continue
        boxes = detect_faces(photo)
        if not boxes:
            print(f"{name}: OpenCV finds no face in the photo, skipped")
            continue
        box = boxes[0]
        for recipe, (optimizer, make) in recipes.items():
            params = make(settings, engine, photo)
            started = time.perf_counter()
            result = optimizer.run(photo, style, params).image
            seconds = time.perf_counter() - started
            found, ok, before, after, ratio = report(name, recipe, photo, result, box, vgg, painting, params, seconds)
            rows.append((name, recipe, box, found, ok, before, after, ratio, seconds))
            if args.pictures and recipe == "new":
                sheet(photo, result, box, found).save(args.pictures / f"faces-{name.split()[0]}.jpg", quality=88)
    print(
        "\n| portrait | recipe | face found (same place +-10 %) | style loss inside: photo -> painting | "
        "outside: photo -> painting | fall inside / fall outside |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name, recipe, _, _, ok, before, after, ratio, _ in rows:
        print(
            f"| {name} | {recipe} | {'yes' if ok else 'no'} | {before['inside']:.3f} -> {after['inside']:.3f} | "
            f"{before['outside']:.3f} -> {after['outside']:.3f} | {ratio:.2f} |"
        )
    print(f"load after: {os.getloadavg()[0]:.2f}")


def report(name, recipe, photo, result, box, vgg, painting, params, seconds: float | None = None):
    """Print and return one portrait's face figures: found in the same place, style loss falls in and out."""
    layers = list(params.style_layers)
    before = region_style_losses(vgg, photo, painting, params.size, layers, box)
    after = region_style_losses(vgg, result.resize(photo.size), painting, params.size, layers, box)
    fall_in, fall_out = before["inside"] - after["inside"], before["outside"] - after["outside"]
    found, ok = same_place(box, result, photo)
    ratio = fall_in / fall_out if fall_out > 0 else float("nan")
    took = f"{seconds:.1f} s, " if seconds is not None else ""
    print(
        f"{name} [{recipe}] {took}face {box} -> {tuple(round(v) for v in found or ())} "
        f"{'same place' if ok else 'MOVED OR LOST'}; style loss inside {before['inside']:.3f} -> "
        f"{after['inside']:.3f}, outside {before['outside']:.3f} -> {after['outside']:.3f}; "
        f"ratio {ratio:.2f} {'ok' if ratio >= RATIO_TARGET else 'BELOW 0.4'}",
        flush=True,
    )
    return found, ok, before, after, ratio


def sheet(photo: Image.Image, result: Image.Image, box, found, height: int = 360) -> Image.Image:
    """photo | painting | the face of each, enlarged to the same height."""
    result = result.resize(photo.size)
    x, y, w, h = box
    margin = round(0.25 * w)
    crop = (max(0, x - margin), max(0, y - margin), min(photo.width, x + w + margin), min(photo.height, y + h + margin))
    tiles = [photo, result, photo.crop(crop), result.crop(crop)]
    tiles = [t.resize((round(t.width * height / t.height), height), Image.Resampling.LANCZOS) for t in tiles]
    out = Image.new("RGB", (sum(t.width for t in tiles) + 10 * (len(tiles) - 1), height), "white")
    left = 0
    for tile in tiles:
        out.paste(tile, (left, 0))
        left += tile.width + 10
    draw = ImageDraw.Draw(out)
    scale = height / photo.height
    if found is not None:  # the face OpenCV finds in the painting, drawn on it
        fx, fy, fw, fh = (v * scale for v in found)
        offset = tiles[0].width + 10
        draw.rectangle((offset + fx, fy, offset + fx + fw, fy + fh), outline=(0, 255, 0), width=2)
    return out


if __name__ == "__main__":
    main()
