"""Studies from the command line: one portrait compared across methods, and the study over portraits x paintings
x sizes (the code is in ``research/``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from shared.protocol import JobOptions

from ..config import get_settings
from ..engine.errors import InvalidParameter
from ..engine.params import GatysParams
from .options import (
    GATYS_OWN_OPTIONS,
    add_model_options,
    add_style_args,
    engine_for,
    gatys_params,
    int_list,
    model_values,
    style_images,
)


def add_commands(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("compare", help="run fast and gatys on the same portrait and write a report")
    c.add_argument("input", type=Path)
    c.add_argument("-o", "--output", type=Path, default=Path("comparison"), help="report folder")
    add_style_args(c)
    add_model_options(c.add_argument_group("gatys (masterpiece) options"), GatysParams, GATYS_OWN_OPTIONS)
    c.set_defaults(run=cmd_compare)
    st = sub.add_parser(
        "study", help="every portrait x painting x size with arbitrary fast, Johnson fast and Gatys: table + sheets"
    )
    st.add_argument("--portraits", type=Path, required=True, help="folder of portrait photos (.jpg, .png, .webp)")
    st.add_argument("--styles", help="painting ids, comma-separated (default: every painting in the catalogue)")
    st.add_argument("--sizes", default="256,512", help="longest sides in pixels, comma-separated (default: 256,512)")
    st.add_argument("--methods", help="comma-separated subset of arbitrary, johnson, gatys (default: all three)")
    st.add_argument("-o", "--output", type=Path, default=Path("study"), help="report folder")
    st.add_argument("--append", action="store_true", help="add to the report already in the folder")
    st.add_argument("--tile", type=int, default=160, help="side of each picture on the contact sheets")
    st.add_argument(
        "--face-protect",
        action=argparse.BooleanOptionalAction,
        default=JobOptions.model_fields["face_protect"].default,
        help="keep faces recognisable, as the booth does (default: the booth's default)",
    )
    st.add_argument("--device", default=None, help="auto, cpu or cuda (default from settings)")
    gatys_group = st.add_argument_group("gatys (masterpiece) options; --iterations: the server's, unless given")
    add_model_options(gatys_group, GatysParams, GATYS_OWN_OPTIONS)
    st.set_defaults(run=cmd_study)


def cmd_compare(args) -> int:
    from research.compare import compare

    from ..engine.imageio import load_image

    engine = engine_for(args)
    photo = load_image(args.input, get_settings().server.max_input_pixels)
    choice = engine.choose(args.style, style_images(args.style_image))
    params = gatys_params(args, args.size or 384)
    report = compare(engine, photo, choice, params, args.output)
    for method, m in report["methods"].items():
        print(
            f"{method:6s} {m['seconds']:8.2f}s  style loss {m['style_loss']:.4f}  content loss {m['content_loss']:.4f}"
        )
    print(f"report: {args.output / 'comparison.html'}")
    return 0


def cmd_study(args) -> int:
    from tqdm import tqdm

    from research.study import METHOD_NAMES, METHODS, REPORT_HTML, REPORT_MD, paintings, run_study

    from ..engine.fast import FastOptions
    from ..engine.imageio import load_image
    from ..engine.params import make_params

    settings = get_settings()
    sizes = int_list(args.sizes, "--sizes")
    if bad := [s for s in sizes if not 64 <= s <= settings.engine.max_output_side]:
        raise InvalidParameter(
            f"--sizes must be between 64 and {settings.engine.max_output_side} pixels (got {bad[0]})"
        )
    if not 32 <= args.tile <= 1024:
        raise InvalidParameter(f"--tile must be between 32 and 1024 pixels (got {args.tile})")
    methods = tuple(dict.fromkeys(m.strip() for m in (args.methods or ",".join(METHODS)).split(",") if m.strip()))
    if not methods or not set(methods) <= set(METHODS):
        raise InvalidParameter(f"--methods: choose from {', '.join(METHODS)} (got {args.methods!r})")
    files = sorted(p for p in args.portraits.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
    if not files:
        raise InvalidParameter(f"no portraits (.jpg, .png, .webp) in {args.portraits}")
    portraits = {p.stem: load_image(p, settings.server.max_input_pixels) for p in files}
    engine = engine_for(args)
    cards = paintings(engine, [s.strip() for s in args.styles.split(",") if s.strip()] if args.styles else None)
    values = {"iterations": engine.masterpiece_iterations(), **model_values(args, GatysParams, GATYS_OWN_OPTIONS)}
    gatys = make_params(**values, face_protect=args.face_protect)
    fast = FastOptions(face_protect=args.face_protect)
    total = len(sizes) * len(portraits) * len(cards) * len(methods)
    with tqdm(total=total, desc="study", unit="painting") as bar:
        begun = 0

        def on_step(label, progress) -> None:
            nonlocal begun
            if progress is None:  # a new painting begins: the ones before it are done
                bar.update(begun - bar.n)
                begun += 1
                bar.set_postfix_str(label)
            else:
                bar.set_postfix_str(f"{label} {progress.iteration}/{progress.total_iterations}")

        report = run_study(
            engine, portraits, cards, sizes, gatys, fast, args.output, methods, args.append, on_step, args.tile
        )
        bar.update(total - bar.n)
    for s in report.summary:
        median = "not trained" if s.median_seconds is None else f"{s.median_seconds:8.3f}s"
        face = "-" if s.face_rate is None else f"{s.face_rate:.2f}"
        print(f"{METHOD_NAMES[s.method]:15s} {s.size:5d} px  {s.runs:3d} made  median {median}  face kept {face}")
    print(f"report: {args.output / REPORT_MD} and {args.output / REPORT_HTML}")
    return 0
