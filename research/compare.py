"""Fast network vs Gatys optimiser on the same portrait: time, losses (same VGG), images side by side; and the
measurements the study and the benchmarks share (same-VGG losses, the style loss inside and outside a face)."""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from style_server.engine.fast import FastOptions, FastStyle
from style_server.engine.gatys import GatysParams, ProgressFn
from style_server.engine.imageio import fit_longest_side, save_image_atomic, write_atomic
from style_server.engine.losses import content_loss, gram, style_loss, style_targets, tv_loss
from style_server.engine.runtime import Engine, StyleChoice
from style_server.engine.tensors import to_tensor
from style_server.engine.vgg import VGGFeatures


def compare(engine: Engine, photo: Image.Image, choice: StyleChoice, params: GatysParams, out_dir: Path) -> dict:
    content = fit_longest_side(photo, params.size)
    timings, images = {}, {}
    images["fast"], timings["fast"] = timed_fast(engine, content, engine.fast_style(choice), FastOptions())
    styles = choice.gatys_styles()
    images["gatys"], timings["gatys"] = timed_gatys(engine, content, styles, params)
    report = _report(engine, content, styles, images, timings, params)
    _write(out_dir, content, styles[0][0], images, report)
    return report


def timed_fast(
    engine: Engine, content: Image.Image, style: FastStyle, options: FastOptions
) -> tuple[Image.Image, float]:
    """One fast painting and its seconds, the network loaded (and warmed up) beforehand."""
    engine.fast.stylize([content], [style], options)  # warm-up: load the network first
    started = time.perf_counter()
    [image] = engine.fast.stylize([content], [style], options)
    return image, time.perf_counter() - started


def timed_gatys(
    engine: Engine,
    content: Image.Image,
    styles: list[tuple[Image.Image, float]],
    params: GatysParams,
    on_progress: ProgressFn | None = None,
) -> tuple[Image.Image, float]:
    """One Gatys painting through the optimiser's public ``run`` and its seconds (the loss network loaded first)."""
    gatys = engine.gatys()
    started = time.perf_counter()
    image = gatys.run(content, styles, params, on_progress=on_progress).image
    return image, time.perf_counter() - started


def same_vgg_losses(
    engine: Engine,
    content: Image.Image,
    styles: list[tuple[Image.Image, float]],
    images: dict[str, Image.Image],
    params: GatysParams,
) -> tuple[dict[str, dict[str, float]], float]:
    """Content, style and TV loss of each finished picture, all measured by one VGG against the same targets
    (the Gatys recipe's layers and style scale), and the style loss of the untouched photo for reference."""
    vgg, _ = engine.vgg()
    device = engine.device
    style_side = round(max(content.size) * params.style_scale)
    grams = style_targets(
        vgg,
        [(to_tensor(fit_longest_side(s, style_side), device), w) for s, w in styles],
        list(params.style_layers),
    )
    content_t = to_tensor(content, device)
    layers = list(params.content_layers)
    losses = {
        method: measure(vgg, to_tensor(image, device), content_t, grams, layers) for method, image in images.items()
    }
    return losses, measure(vgg, content_t, content_t, grams, layers)["style"]


@torch.no_grad()
def measure(
    vgg: VGGFeatures,
    result: torch.Tensor,
    content: torch.Tensor,
    style_grams: dict[str, torch.Tensor],
    content_layers: list[str],
) -> dict[str, float]:
    """Content and style loss of a finished image, measured the same way for every method."""
    wanted = list(style_grams) + content_layers
    feats = vgg(result, wanted)
    content_feats = vgg(content, content_layers)
    c = torch.stack([content_loss(feats[n], content_feats[n]) for n in content_layers]).mean()
    s = style_loss({n: gram(feats[n]) for n in style_grams}, style_grams)
    return {"content": float(c), "style": float(s), "tv": float(tv_loss(result))}


def _report(engine, content, styles, images, timings, params: GatysParams) -> dict:
    losses, photo_style_loss = same_vgg_losses(engine, content, styles, images, params)
    methods = {
        method: {"seconds": round(timings[method], 4), **{f"{k}_loss": v for k, v in losses[method].items()}}
        for method in images
    }
    return {
        "size": list(content.size),
        "device": str(engine.device),
        "loss_network": engine.vgg()[1].origin,
        "gatys_params": params.model_dump(mode="json"),
        "methods": methods,
        "photo_style_loss": photo_style_loss,  # how far the untouched photo is from the painting
        "speedup_fast_vs_gatys": round(timings["gatys"] / max(timings["fast"], 1e-9), 1),
    }


def _write(out_dir: Path, content, style, images, report) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    tiles = [("portrait", content), ("style", fit_longest_side(style, max(content.size)))]
    for method, image in images.items():
        m = report["methods"][method]
        tiles.append(
            (
                f"{method}: {m['seconds']:.2f}s  style {m['style_loss']:.3f}  content {m['content_loss']:.3f}",
                image,
            )
        )
    save_image_atomic(_sheet(tiles), out_dir / "comparison.png")
    for method, image in images.items():
        save_image_atomic(image, out_dir / f"{method}.png")
    write_atomic(out_dir / "comparison.json", lambda f: f.write(json.dumps(report, indent=2).encode()))
    write_atomic(out_dir / "comparison.html", lambda f: f.write(_html(report).encode()))


def _sheet(tiles: list[tuple[str, Image.Image]]) -> Image.Image:
    height = max(img.height for _, img in tiles)
    width = sum(img.width for _, img in tiles) + 10 * (len(tiles) + 1)
    sheet = Image.new("RGB", (width, height + 40), "white")
    draw, x = ImageDraw.Draw(sheet), 10
    for caption, img in tiles:
        sheet.paste(img, (x, 30))
        draw.text((x, 8), caption, fill="black")
        x += img.width + 10
    return sheet


def _html(report: dict) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(m)}</td><td>{v['seconds']:.3f}</td><td>{v['style_loss']:.4f}</td>"
        f"<td>{v['content_loss']:.4f}</td></tr>"
        for m, v in report["methods"].items()
    )
    return (
        "<!doctype html><meta charset=utf-8><title>Fast vs Gatys</title>"
        "<h1>Fast network vs Gatys optimiser</h1>"
        f"<p>Loss network: {html.escape(report['loss_network'])}; device {html.escape(report['device'])}; "
        f"fast is {report['speedup_fast_vs_gatys']}x faster.</p>"
        "<table border=1 cellpadding=4><tr><th>method</th><th>seconds</th><th>style loss</th>"
        f"<th>content loss</th></tr>{rows}</table>"
        '<p><img src="comparison.png" alt="portrait, style, fast result, Gatys result"></p>'
    )


@torch.no_grad()
def region_style_losses(
    vgg: VGGFeatures,
    image: Image.Image,
    style: Image.Image,
    side: int,
    layers: list[str],
    box: tuple[int, int, int, int] | None = None,
) -> dict[str, float]:
    """The same-VGG style loss of ``image`` (fitted to ``side``) against ``style`` at that side: whole, and
    inside/outside ``box`` (x, y, w, h in ``image``'s pixels) by Gram matrices over those positions only."""
    device = next(vgg.parameters()).device
    picture = fit_longest_side(image, side)
    targets = style_targets(vgg, [(to_tensor(fit_longest_side(style, side), device), 1.0)], layers)
    feats = vgg(to_tensor(picture, device), layers)
    out = {"whole": float(style_loss({n: gram(feats[n]) for n in layers}, targets))}
    if box is not None:
        scale = picture.width / image.width
        inside = torch.zeros(1, 1, picture.height, picture.width, device=device)
        x, y, w, h = (round(v * scale) for v in box)
        inside[..., y : y + h, x : x + w] = 1.0
        for name, weight in (("inside", inside), ("outside", 1.0 - inside)):
            out[name] = float(style_loss({n: gram(feats[n], weight) for n in layers}, targets))
    return out
