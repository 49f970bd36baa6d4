"""What several commands share: options generated from the pydantic models (one option per field), the style
options, and turning them back into values."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import UnionType
from typing import Literal, Union, get_args, get_origin

from pydantic import BaseModel

from ..config import engine_from_settings, get_settings
from ..engine.errors import InvalidParameter
from ..engine.params import GatysParams


def add_style_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--style", help="style id from `style-server styles`, or a blend: starry-night:0.7,the-scream:0.3")
    p.add_argument(
        "--style-image",
        action="append",
        default=[],
        metavar="IMG[:WEIGHT]",
        help="use your own painting as the style (repeat to blend)",
    )
    p.add_argument("--size", type=int, default=None, help="longest side of the result in pixels")
    p.add_argument("--preserve-color", action="store_true", help="keep the portrait's own colours")
    p.add_argument("--face-protect", action="store_true", help="keep faces recognisable")
    p.add_argument("--device", default=None, help="auto, cpu or cuda (default from settings)")


# Fields the CLI gives in its own words (--size, --preserve-color, --face-protect), or leaves to the server.
GATYS_OWN_OPTIONS = frozenset({"size", "output_size", "preserve_color", "face_protect", "preview_every"})


def add_model_options(parser, model: type[BaseModel], skip: frozenset[str] = frozenset()) -> None:
    """One option per field of ``model``: the flag from its name, the type from its annotation (choices from a
    Literal), the help from its description and default. Fields with no command-line form (tuples) are left out."""
    for name, field in model.model_fields.items():
        kind = option_type(field.annotation)
        if name in skip or kind is None:
            continue
        default = "" if field.default is None else f" (default: {field.default})"
        option = {"dest": name, "default": None, "help": f"{field.description or ''}{default}".strip()}
        if kind is bool:
            option["action"] = argparse.BooleanOptionalAction
        elif isinstance(kind, tuple):  # a Literal's values
            option["choices"] = kind
        else:
            option.update(type=kind, metavar={int: "N", float: "X"}.get(kind, "TEXT"))
        parser.add_argument(f"--{name.replace('_', '-')}", **option)


def option_type(annotation) -> type | tuple | None:
    """int, float, str or bool; a Literal's values; ``X | None`` as X; None for anything else."""
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    if get_origin(annotation) in (Union, UnionType):
        kinds = [a for a in get_args(annotation) if a is not type(None)]
        return option_type(kinds[0]) if len(kinds) == 1 else None
    return annotation if annotation in (int, float, str, bool) else None


def model_values(args: argparse.Namespace, model: type[BaseModel], skip: frozenset[str] = frozenset()) -> dict:
    """The options of ``_add_model_options`` the user gave, as field values (the rest keep the model's defaults)."""
    return {n: v for n in model.model_fields if n not in skip and (v := getattr(args, n, None)) is not None}


def engine_for(args):
    return engine_from_settings(get_settings(), getattr(args, "device", None))


def style_images(specs: list[str]):
    from ..engine.imageio import load_image

    images = []
    for spec in specs:
        path, weight = spec, 1.0
        head, sep, tail = spec.rpartition(":")
        if sep and tail.replace(".", "", 1).isdigit():
            path, weight = head, float(tail)
        images.append((load_image(path, get_settings().server.max_input_pixels), weight))
    return images


def gatys_params(args, size: int | None):
    from ..engine.params import make_params

    values = model_values(args, GatysParams, GATYS_OWN_OPTIONS)
    values.update(preserve_color=args.preserve_color, face_protect=args.face_protect)
    if size:
        values["size"] = size
    return make_params(**values)


def output_size(requested: int | None, photo) -> int | None:
    limit = get_settings().engine.max_output_side
    if requested is not None and not 64 <= requested <= limit:
        raise InvalidParameter(f"--size must be between 64 and {limit} pixels (got {requested})")
    if requested is None and max(photo.size) > limit:
        return limit
    return requested


def check_output(path: Path) -> None:
    if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
        raise InvalidParameter(f"output {path} must end in .png, .jpg or .webp")


def int_list(text: str, option: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InvalidParameter(
            f"{option} takes whole numbers separated by commas, e.g. 256,512 (got {text!r})"
        ) from None
    if not values:
        raise InvalidParameter(f"{option} needs at least one number")
    return list(dict.fromkeys(values))
