"""Painting from the command line: one portrait, the style catalogue, training a network, the loss network's
weights."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import get_args

from shared.lanes import FAST
from shared.protocol import Method

from ..config import get_settings
from ..engine.errors import validated
from ..engine.params import GatysParams, TrainParams
from .options import (
    GATYS_OWN_OPTIONS,
    add_model_options,
    add_style_args,
    check_output,
    engine_for,
    gatys_params,
    model_values,
    output_size,
    style_images,
)


def add_commands(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("stylize", help="paint one portrait")
    s.add_argument("input", type=Path)
    s.add_argument("-o", "--output", type=Path, required=True)
    s.add_argument("--method", choices=get_args(Method), default=FAST.method, help="fast network or Gatys masterpiece")
    s.add_argument("--strength", type=float, default=1.0, help="fast method: 1 = full painting, 0 = photo")
    add_style_args(s)
    add_model_options(s.add_argument_group("gatys (masterpiece) options"), GatysParams, GATYS_OWN_OPTIONS)
    s.set_defaults(run=cmd_stylize)
    lst = sub.add_parser("styles", help="list the style catalogue")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(run=cmd_styles)
    t = sub.add_parser("train", help="train a fast style network from one painting")
    t.add_argument("--style", type=Path, required=True, help="the painting")
    t.add_argument("--content-dir", type=Path, required=True, help="folder of training photos")
    t.add_argument("--id", required=True, help="style id, e.g. starry-night-johnson")
    t.add_argument("--name", required=True)
    t.add_argument("--artist", required=True)
    t.add_argument("--licence", default="public domain")
    t.add_argument("--work-dir", type=Path, help="checkpoints and previews (default: ./training/<id>)")
    t.add_argument("--resume", action="store_true")
    t.add_argument("--device", default=None)
    add_model_options(t.add_argument_group("training options"), TrainParams)
    t.set_defaults(run=cmd_train)
    sub.add_parser("download-vgg", help="fetch torchvision's VGG19 weights (needs internet)").set_defaults(
        run=cmd_download_vgg
    )


def cmd_stylize(args) -> int:
    from ..engine.fast import FastOptions
    from ..engine.imageio import load_image, save_image_atomic
    from ..engine.runtime import check_portrait_shape

    check_output(args.output)
    engine = engine_for(args)
    photo = load_image(args.input, get_settings().server.max_input_pixels)
    choice = engine.choose(args.style, style_images(args.style_image))
    size = output_size(args.size, photo)
    fast = args.method == FAST.method
    painted_side = size or (max(photo.size) if fast else min(max(photo.size), 512))
    check_portrait_shape(photo.width, photo.height, painted_side)  # the networks' limits, as on the server
    if fast:
        options = validated(
            FastOptions,
            size=size,
            strength=args.strength,
            preserve_color=args.preserve_color,
            face_protect=args.face_protect,
        )
        [result] = engine.fast.stylize([photo], [engine.fast_style(choice)], options)
    else:
        result = _run_gatys(engine, photo, choice, gatys_params(args, size or min(max(photo.size), 512)))
    save_image_atomic(result, args.output)
    print(f"wrote {args.output} ({result.width}x{result.height}, {args.method})")
    return 0


def _run_gatys(engine, photo, choice, params):
    from tqdm import tqdm

    styles = choice.gatys_styles()
    with tqdm(total=sum(iterations for _, iterations in params.scales()), desc="painting", unit="it") as bar:

        def progress(p):
            bar.update(p.iteration - bar.n)
            bar.set_postfix(level=f"{p.level + 1}/{p.levels}", loss=f"{p.losses['total']:.4f}")

        result = engine.gatys().run(photo, styles, params, on_progress=progress)
    return result.image


def cmd_styles(args) -> int:
    from ..engine.catalogue import Catalogue

    catalogue = Catalogue.load(get_settings().engine.models_dir)
    if args.json:
        print(json.dumps([{**c.model_dump(mode="json"), "methods": c.methods} for c in catalogue], indent=2))
        return 0
    for card in catalogue:
        print(f"{card.id:22s} {card.kind:10s} {'+'.join(card.methods):10s} {card.attribution}")
    return 0


def cmd_train(args) -> int:
    from tqdm import tqdm

    from ..engine.imageio import load_image
    from ..engine.training import export_style, train

    params = validated(TrainParams, **model_values(args, TrainParams))
    engine = engine_for(args)
    style = load_image(args.style)
    work_dir = args.work_dir or Path("training") / args.id
    vgg, _ = engine.vgg()
    with tqdm(total=params.iterations, desc=f"training {args.id}", unit="step") as bar:

        def on_step(step, losses):
            bar.update(step - bar.n)
            bar.set_postfix(style=f"{losses['style']:.4f}", content=f"{losses['content']:.4f}")

        report = train(style, args.content_dir, work_dir, params, vgg, engine.device, args.resume, on_step)
    sample = load_image(next(p for p in sorted(args.content_dir.rglob("*")) if p.is_file()))
    card = export_style(
        report,
        args.style,
        get_settings().engine.models_dir,
        args.id,
        args.name,
        args.artist,
        args.licence,
        sample,
        str(engine.device),
    )
    print(f"trained {card.id}: {report.iterations} steps in {report.seconds:.0f}s -> {card.folder}")
    return 0


def cmd_download_vgg(args) -> int:
    from ..engine.vgg import load_vgg

    s = get_settings()
    _, source = load_vgg(cache_dir=s.engine.cache_dir, allow_download=True)
    print(f"loss network ready: {source.origin}")
    return 0
