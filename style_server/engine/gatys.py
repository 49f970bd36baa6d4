"""The Gatys et al. (2015) optimiser: paint a portrait by matching VGG statistics, slowly and well."""

from __future__ import annotations

import copy
import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .color import even_skin, preserve_colors, preserve_skin_colors
from .errors import Cancelled, InvalidParameter
from .face import Box, detect_faces, face_mask
from .imageio import fit_longest_side
from .losses import blend_grams, content_loss, gram, style_loss, style_targets, tv_loss
from .params import GatysParams, make_params  # noqa: F401 (make_params: re-exported for callers of the optimiser)
from .precision import Precision, autocast, reduced_dtype
from .tensors import to_image, to_tensor
from .upscale import guided_upsample
from .vgg import VGGFeatures


@dataclass
class GatysProgress:
    level: int
    levels: int
    iteration: int  # counted over all levels
    total_iterations: int  # upper bound; early stopping may finish sooner
    losses: dict[str, float]
    preview: Image.Image | None = None


@dataclass
class GatysResult:
    image: Image.Image
    losses: dict[str, float]
    iterations: int
    seconds: float
    history: list[float] = field(default_factory=list)


ProgressFn = Callable[[GatysProgress], None]
# (photo, weighted style images, longest side) -> a quick painting of the photo at that side to start from
Starter = Callable[[Image.Image, list[tuple[Image.Image, float]], int], Image.Image]
GRAM_CACHE_SIZE = 32  # (painting, side) entries: a few MB each at most


class GatysOptimizer:
    """Runs stylisations. Reusable across jobs (and threads); between calls it keeps only the style paintings'
    Gram matrices per size, which depend on the painting alone.

    ``starter`` paints the photo quickly (the engine passes its fast network) for ``init="fast"``;
    ``channels_last`` runs the loss network's convolutions in NHWC; None: on CUDA only (cuDNN gains, while oneDNN on
    the CPU was 3-11 % slower in fp32 and no faster in bfloat16: bench/RESULTS.md);
    ``precision`` "auto" runs them in bfloat16 where the hardware has the kernels (``precision.py``)."""

    def __init__(
        self,
        vgg: VGGFeatures,
        device: torch.device,
        starter: Starter | None = None,
        channels_last: bool | None = None,
        cache_grams: bool = True,
        precision: Precision = "auto",
    ) -> None:
        self.device = device
        self.channels_last = device.type == "cuda" if channels_last is None else channels_last
        self.reduced = reduced_dtype(device, precision)  # None: fp32
        # channels-last on a copy of its own (30 MB): the caller's network stays as it was (others save it, train
        # with it, or hand it to another optimiser)
        self.vgg = (
            copy.deepcopy(vgg).to(device, memory_format=torch.channels_last) if self.channels_last else vgg.to(device)
        )
        self.starter = starter
        self.cache_grams = cache_grams
        self._grams: OrderedDict[tuple, dict[str, torch.Tensor]] = OrderedDict()
        self._grams_lock = threading.Lock()

    def style_grams(self, image: Image.Image, side: int, layers: list[str]) -> dict[str, torch.Tensor]:
        """The Gram matrices of one painting at longest side ``side``, cached by the painting's pixels."""
        key = (image_digest(image), side, tuple(layers))
        with self._grams_lock:
            if key in self._grams:
                self._grams.move_to_end(key)
                return self._grams[key]
        tensor = to_tensor(fit_longest_side(image, side), self.device)
        grams = style_targets(self.features, [(tensor, 1.0)], layers)
        if self.cache_grams:
            with self._grams_lock:
                self._grams[key] = grams
                while len(self._grams) > GRAM_CACHE_SIZE:
                    self._grams.popitem(last=False)
        return grams

    def blended_grams(self, styles: list[tuple[Image.Image, float]], side: int, layers: list[str]):
        return blend_grams([(self.style_grams(image, side, layers), weight) for image, weight in styles])

    def estimate_seconds(self, params: GatysParams) -> float:
        """What a painting with ``params`` takes on this host, from this host's speed measured now."""
        return scaled_seconds(params, self.seconds_per_pixel(params))

    def seconds_per_pixel(self, params: GatysParams) -> float:
        """One optimiser step (forward and backward through the loss network) timed at up to 256 px after a
        warm-up step, per pixel."""
        side = min(256, params.scales()[-1][0])
        layers = list(dict.fromkeys([*params.style_layers, *params.content_layers, *params.face_content_layers]))
        x = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0)).to(self.device)
        x.requires_grad_(True)

        def step() -> None:
            feats = self.features(x, layers)
            sum(gram(f).mean() for f in feats.values()).backward()

        step()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        started = time.perf_counter()
        step()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return (time.perf_counter() - started) / side**2

    def _nhwc(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def features(self, x: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        """The loss network's activations of ``x`` (RGB 0..1), in this optimiser's precision, returned as fp32:
        the Gram matrices and the losses built on them are summed in full precision."""
        with autocast(self.device, self.reduced):
            feats = self.vgg(self._nhwc(x), layers)
        return {name: f.float() for name, f in feats.items()}

    def run(
        self,
        content: Image.Image,
        styles: list[tuple[Image.Image, float]],
        params: GatysParams,
        on_progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        stop_at_loss: float | None = None,
    ) -> GatysResult:
        if not styles or any(w < 0 for _, w in styles) or sum(w for _, w in styles) <= 0:
            raise InvalidParameter("give at least one style image, with non-negative weights that are not all 0")
        known = set(self.vgg.layer_names())
        unknown = (set(params.style_layers) | set(params.content_layers) | set(params.face_content_layers)) - known
        if unknown:
            raise InvalidParameter(f"unknown VGG layers {sorted(unknown)}")
        started = time.perf_counter()
        generator = torch.Generator().manual_seed(params.seed)
        faces = detect_faces(content) if params.face_protect else []
        full_mask = face_mask(content, faces) if params.face_protect else None
        plan = params.scales()
        total = sum(iters for _, iters in plan)
        run = _Run(self, params, total, on_progress, cancel, stop_at_loss)
        start = self._start(content, styles, params, generator)
        image: torch.Tensor | None = None
        for level, (side, iterations) in enumerate(plan):
            level_content = fit_longest_side(content, side)
            size = level_content.size[::-1]
            if image is None:
                image = F.interpolate(start, size=size, mode="area") if start.shape[-2:] != size else start
            else:
                image = F.interpolate(image, size=size, mode="bicubic", align_corners=False)
            image = run.level(level, len(plan), level_content, styles, image, iterations, full_mask)
            if run.stopped_at_target:
                break
        result = self._skin(to_image(image), content, faces, full_mask, params)
        if params.output_size is not None:
            result = guided_upsample(result, content, params.output_size)
        if params.preserve_color:
            result = preserve_colors(result, content)
        return GatysResult(result, run.last_losses, run.iteration, time.perf_counter() - started, run.history)

    @staticmethod
    def _skin(
        result: Image.Image, content: Image.Image, faces: list[Box], mask: np.ndarray | None, params: GatysParams
    ) -> Image.Image:
        """On the faces' skin: ``face_skin_colour`` of the photo's colours put back, then ``face_skin_smooth`` of
        the colour mottling left smoothed away (the optimiser's Gram statistics stretch flat skin's faint colour
        variations into blotches, as instance normalisation does on the Instant path)."""
        if mask is None or not faces or params.preserve_color:
            return result
        photo = fit_longest_side(content, max(result.size))
        if params.face_skin_colour > 0:
            result = preserve_skin_colors(result, photo, mask, params.face_skin_colour)
        if params.face_skin_smooth > 0:
            width = max(w for _, _, w, _ in faces) * result.width / content.width
            result = even_skin(result, photo, mask, width, params.face_skin_smooth)
        return result

    def _start(self, content, styles, params: GatysParams, generator: torch.Generator) -> torch.Tensor:
        """The picture the optimiser starts from, at the finest scale."""
        photo = fit_longest_side(content, params.size)
        if params.init == "fast" and self.starter is not None:
            painted = self.starter(photo, styles, params.size).convert("RGB").resize(photo.size)
            return to_tensor(Image.blend(painted, photo.convert("RGB"), params.start_photo_share), self.device)
        base = to_tensor(photo, self.device)
        if params.init == "noise":
            return torch.rand(base.shape, generator=generator).to(self.device)
        return base


def image_digest(image: Image.Image) -> str:
    return hashlib.blake2b(np.asarray(image.convert("RGB")).tobytes(), digest_size=16).hexdigest()


class _Run:
    """The state of one optimisation across its pyramid levels."""

    def __init__(self, owner: GatysOptimizer, params, total, on_progress, cancel, stop_at_loss) -> None:
        self.owner, self.device, self.params = owner, owner.device, params
        self.total, self.on_progress = total, on_progress
        self.cancel, self.stop_at_loss = cancel, stop_at_loss
        self.iteration = 0
        self.history: list[float] = []
        self.last_losses: dict[str, float] = {}
        self.stopped_at_target = False

    def level(self, level, levels, content_img, styles, image, iterations, full_mask) -> torch.Tensor:
        p = self.params
        features = self.owner.features
        content = to_tensor(content_img, self.device)
        style_side = round(max(content_img.size) * p.style_scale)
        targets = self.owner.blended_grams(styles, style_side, list(p.style_layers))
        content_map, style_map, face = self._face_maps(full_mask, content_img)
        face_layers = list(p.face_content_layers) if face is not None else []
        with torch.no_grad():
            content_targets = features(content, list(dict.fromkeys([*p.content_layers, *face_layers])))
        image = image.detach().clone().requires_grad_(True)
        optimizer = (
            torch.optim.LBFGS(
                [image],
                lr=p.lr,
                max_iter=1,
                history_size=50,
                tolerance_grad=0.0,
                tolerance_change=0.0,  # we stop early ourselves; losses are small
            )
            if p.optimizer == "lbfgs"
            else torch.optim.Adam([image], lr=p.lr)
        )
        wanted = list(dict.fromkeys([*p.style_layers, *p.content_layers, *face_layers]))

        def closure() -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            feats = features(image, wanted)
            c = torch.stack([content_loss(feats[n], content_targets[n], content_map) for n in p.content_layers]).mean()
            if face_layers:  # the face's mid-level structure, weighted by the soft mask (its area's mean)
                c = c + p.face_content_boost * torch.stack(
                    [content_loss(feats[n], content_targets[n], face) for n in face_layers]
                ).mean() / face.mean().clamp_min(1e-3)
            s = style_loss({n: gram(feats[n], style_map) for n in p.style_layers}, targets)
            t = tv_loss(image)
            total = p.content_weight * c + p.style_weight * s + p.tv_weight * t
            total.backward()
            closure.losses = {
                k: float(v.detach()) for k, v in (("content", c), ("style", s), ("tv", t), ("total", total))
            }
            return total

        best, since_best = math.inf, 0
        for _ in range(iterations):
            if self.cancel is not None and self.cancel.is_set():
                raise Cancelled("stylisation was cancelled")
            optimizer.step(closure)
            if p.optimizer == "adam":
                with torch.no_grad():
                    image.clamp_(0, 1)
            self.iteration += 1
            self.last_losses = dict(closure.losses)
            loss = self.last_losses["total"]
            self.history.append(loss)
            self._report(level, levels, image)
            if self.stop_at_loss is not None and level == levels - 1 and loss <= self.stop_at_loss:
                self.stopped_at_target = True
                break
            if math.isinf(best) or loss < best * (1 - p.early_stop_tolerance):
                best, since_best = loss, 0
            else:
                since_best += 1
                if since_best >= p.early_stop_patience:
                    break
        return image.detach().clamp(0, 1)

    def _face_maps(self, full_mask, content_img) -> tuple[torch.Tensor | None, ...]:
        """(content weight map, style weight map, the soft face mask itself) at this level's size; all None
        without faces. A style map of None where the style pressure stays whole on faces."""
        if full_mask is None or not full_mask.any():
            return None, None, None
        mask_img = Image.fromarray((full_mask * 255).astype("uint8")).resize(content_img.size)
        mask = to_tensor(mask_img.convert("RGB"), self.device)[:, :1]
        content_map = 1.0 + (self.params.face_content_boost - 1.0) * mask
        keep = self.params.face_style_keep
        style_map = None if keep >= 1.0 else 1.0 - (1.0 - keep) * mask
        return content_map, style_map, mask

    def _report(self, level: int, levels: int, image: torch.Tensor) -> None:
        if self.on_progress is None:
            return
        every = self.params.preview_every
        preview = to_image(image) if every and self.iteration % every == 0 else None
        self.on_progress(GatysProgress(level, levels, self.iteration, self.total, dict(self.last_losses), preview))


def scaled_seconds(params: GatysParams, per_pixel: float) -> float:
    """A painting's time from one optimiser step's time per pixel, scaled by each scale's pixels and steps (real
    runs stop a little earlier, and the start and the face detection add a second or two)."""
    return sum(iterations * per_pixel * s * s for s, iterations in params.scales())
