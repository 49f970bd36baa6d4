"""The engine as one object: catalogue, device, fast networks and the (lazily loaded) loss network.

The CLI and the HTTP server both drive the engine through this, so they resolve styles identically. The
engine reads no settings and no environment of the server: its callers pass the cache directory, device and the rest
(``style_server.config.engine_from_settings`` builds it from the server's settings).
"""

from __future__ import annotations

import json
import platform
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from shared.lanes import LANES
from shared.protocol import MIN_PORTRAIT_SIDE

from .catalogue import Catalogue, StyleCard, check_weight, parse_blend
from .errors import InvalidParameter
from .fast import FastOptions, FastStyle, FastStylizer, blend_family
from .gallery import GalleryPainter
from .gatys import GatysOptimizer, GatysParams, scaled_seconds
from .imageio import load_image, write_atomic
from .params import MASTERPIECE_STEPS
from .precision import Precision, reduced_dtype
from .tensors import pick_device
from .vgg import VGGFeatures, VGGSource, load_vgg


@dataclass(frozen=True)
class StyleChoice:
    """What the user asked for: catalogue styles and/or their own style images, each with a weight."""

    cards: list[tuple[StyleCard, float]]
    images: list[tuple[Image.Image, float]]

    def gatys_styles(self) -> list[tuple[Image.Image, float]]:
        _check_gatys(self.cards)
        return list(self.images) + [(load_image(c.path(c.style_image)), w) for c, w in self.cards]


def _check_gatys(cards: list[tuple[StyleCard, float]]) -> None:
    for card, _ in cards:
        if not card.style_image:
            raise InvalidParameter(
                f"style {card.id!r} has no painting to learn from, so it cannot run as a masterpiece "
                "(gatys); choose a painting, or method fast"
            )


# The painters pad by reflection (9x9 kernels) after resizing the portrait to its output size, then halve it
# twice: a side under 5 px breaks the shared forward pass. Refuse well before that, with a margin.
MIN_PAINT_SIDE = 16  # shortest side of a portrait once resized to the size it is painted at
MAX_ASPECT = 4.0  # longest side / shortest side


def check_portrait_shape(width: int, height: int, output_side: int) -> None:
    """Refuse up front a portrait the networks cannot paint: extreme aspect ratios, or too thin once resized."""
    short, long = sorted((width, height))
    if short < MIN_PORTRAIT_SIDE:
        raise InvalidParameter(
            f"the portrait is {width}x{height}, too small to paint: the painters need at least {MIN_PORTRAIT_SIDE} "
            "px on each side (send the camera's picture)"
        )
    if long / short > MAX_ASPECT:
        raise InvalidParameter(
            f"the portrait is {width}x{height}, an aspect ratio of {long / short:.1f}:1; "
            f"the painters take at most {MAX_ASPECT:g}:1 (crop the picture)"
        )
    scaled = round(short * output_side / long)
    if scaled < MIN_PAINT_SIDE:
        raise InvalidParameter(
            f"the portrait is {width}x{height}: at {output_side} px its shorter side would be {scaled} px, "
            f"and the painters need at least {MIN_PAINT_SIDE} px"
        )


class Engine:
    def __init__(
        self,
        models_dir: Path,
        cache_dir: Path,
        device: str = "auto",
        vgg_weights: Path | None = None,
        allow_download: bool = False,
        cpu_threads: int | None = None,
        precision: Precision = "auto",
        masterpiece_steps: int | None = None,
    ) -> None:
        self.precision = precision
        self._masterpiece_steps = masterpiece_steps  # None: as many as this engine affords
        if cpu_threads:
            torch.set_num_threads(cpu_threads)
        self.device = pick_device(device)
        self.catalogue = Catalogue.load(models_dir)
        self.fast = FastStylizer(self.device, cache_dir)
        self.gallery = GalleryPainter(self.fast, self.catalogue)  # the visitor's face in every style
        self._vgg_args = {
            "weights_file": vgg_weights,
            "cache_dir": cache_dir,
            "allow_download": allow_download,
        }
        self._speed_file = Path(cache_dir) / SPEED_FILE
        self._vgg: tuple[VGGFeatures, VGGSource] | None = None
        self._gatys: GatysOptimizer | None = None
        self._lock = threading.Lock()

    def vgg(self) -> tuple[VGGFeatures, VGGSource]:
        with self._lock:
            if self._vgg is None:
                net, source = load_vgg(**self._vgg_args)
                self._vgg = (net.to(self.device), source)
            return self._vgg

    def gatys(self) -> GatysOptimizer:
        """The optimiser, one per engine: it keeps the paintings' Gram matrices between jobs and starts from the
        fast network's painting."""
        vgg = self.vgg()[0]
        with self._lock:
            if self._gatys is None:
                self._gatys = GatysOptimizer(vgg, self.device, starter=self.fast_start, precision=self.precision)
            return self._gatys

    def masterpiece_iterations(self) -> int:
        """A masterpiece's L-BFGS steps: as configured, else as many as this engine affords (fewer on a CPU without
        bfloat16 kernels; a GPU has time for all of them in any precision)."""
        if self._masterpiece_steps is not None:
            return self._masterpiece_steps
        slow = self.device.type == "cpu" and reduced_dtype(self.device, self.precision) is None
        return MASTERPIECE_STEPS["fp32 cpu" if slow else "reduced"]

    def masterpiece_seconds(self, params: GatysParams) -> float:
        """A first guess of a masterpiece's time from this host's speed, which is measured once (one optimiser
        step, about a second on a CPU) and remembered in the cache folder for this device, precision, torch and
        thread count: a restarted server knows its speed without loading the loss network."""
        layers = sorted({*params.style_layers, *params.content_layers, *params.face_content_layers})
        host = [_device_model(self.device), self.precision, torch.__version__, str(torch.get_num_threads())]
        key = "|".join([*host, str(min(256, params.scales()[-1][0])), ",".join(layers)])
        known = _read_speeds(self._speed_file)
        if key not in known:
            known[key] = self.gatys().seconds_per_pixel(params)
            _write_speeds(self._speed_file, known)
        return scaled_seconds(params, known[key])

    def fast_start(self, photo: Image.Image, styles: list[tuple[Image.Image, float]], side: int) -> Image.Image:
        """The arbitrary-style network's painting of ``photo`` at longest side ``side`` in the weighted blend of
        ``styles``: where a masterpiece starts (about a second on a CPU instead of a hundred L-BFGS steps)."""
        total = sum(w for _, w in styles)
        # each painting's style numbers anew (some 20 ms on a CPU): a visitor's style image leaves nothing behind
        vector = sum(self.fast.style_vector(img) * (w / total) for img, w in styles)
        style = FastStyle("arbitrary", vector=vector)
        [painted] = self.fast.stylize([photo], [style], FastOptions(size=side))
        return painted

    def _cards(self, style: str | None, has_images: bool) -> list[tuple[StyleCard, float]]:
        cards = [(self.catalogue.get(name), w) for name, w in parse_blend(style)] if style else []
        if not cards and not has_images:
            raise InvalidParameter("choose a style (a name from the catalogue) or give a style image")
        return cards

    def choose(self, style: str | None, style_images: list[tuple[Image.Image, float]] = ()) -> StyleChoice:
        for i, (_, weight) in enumerate(style_images):
            check_weight(weight, f"style image {i + 1}")
        return StyleChoice(self._cards(style, bool(style_images)), list(style_images))

    def check_request(self, style: str | None, has_style_image: bool, method: str) -> None:
        """Refuse up front what would fail when the job runs: unknown styles, impossible blends or methods."""
        cards = self._cards(style, has_style_image)
        if LANES[method].needs_painting:
            _check_gatys(cards)
        else:
            blend_family(cards, has_style_image)

    def fast_style(self, choice: StyleChoice) -> FastStyle:
        return self.fast.resolve(choice.cards, choice.images)


SPEED_FILE = "host-speed.json"  # in the cache folder: seconds per pixel of one optimiser step, per host and setup


def _device_model(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def _read_speeds(path: Path) -> dict[str, float]:
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in known.items() if isinstance(v, float) and v > 0} if isinstance(known, dict) else {}


def _write_speeds(path: Path, known: dict[str, float]) -> None:
    """Written whole and renamed into place: a reader never sees half a file; a cache that cannot be written
    only costs the next start one measurement."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda handle: handle.write(json.dumps(known, indent=1).encode()))
    except OSError:
        pass
