"""The Gatys et al. (2015) optimiser: paint a portrait by matching VGG statistics, slowly and well."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from PIL import Image

from .color import preserve_colors
from .errors import Cancelled, InvalidParameter
from .face import face_mask
from .imageio import fit_longest_side
from .losses import content_loss, gram, style_loss, style_targets, tv_loss
from .params import GatysParams, make_params  # noqa: F401 (make_params: re-exported for callers of the optimiser)
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


class GatysOptimizer:
    """Runs one stylisation. Reusable across jobs; holds no per-image state between calls."""

    def __init__(self, vgg: VGGFeatures, device: torch.device) -> None:
        self.vgg = vgg.to(device)
        self.device = device

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
        unknown = (set(params.style_layers) | set(params.content_layers)) - known
        if unknown:
            raise InvalidParameter(f"unknown VGG layers {sorted(unknown)}")
        started = time.perf_counter()
        generator = torch.Generator().manual_seed(params.seed)
        full_mask = face_mask(content) if params.face_protect else None
        plan = params.scales()
        total = sum(iters for _, iters in plan)
        run = _Run(self, params, total, on_progress, cancel, stop_at_loss)
        image: torch.Tensor | None = None
        for level, (side, iterations) in enumerate(plan):
            level_content = fit_longest_side(content, side)
            if image is None:
                image = self._initial(level_content, params, generator)
            else:
                image = F.interpolate(image, size=level_content.size[::-1], mode="bicubic", align_corners=False)
            image = run.level(level, len(plan), level_content, styles, image, iterations, full_mask)
            if run.stopped_at_target:
                break
        result = to_image(image)
        if params.output_size is not None:
            result = guided_upsample(result, content, params.output_size)
        if params.preserve_color:
            result = preserve_colors(result, content)
        return GatysResult(result, run.last_losses, run.iteration, time.perf_counter() - started, run.history)

    def _initial(self, content: Image.Image, params: GatysParams, generator: torch.Generator) -> torch.Tensor:
        base = to_tensor(content, self.device)
        if params.init == "content":
            return base
        return torch.rand(base.shape, generator=generator).to(self.device)


class _Run:
    """The state of one optimisation across its pyramid levels."""

    def __init__(self, owner: GatysOptimizer, params, total, on_progress, cancel, stop_at_loss) -> None:
        self.vgg, self.device, self.params = owner.vgg, owner.device, params
        self.total, self.on_progress = total, on_progress
        self.cancel, self.stop_at_loss = cancel, stop_at_loss
        self.iteration = 0
        self.history: list[float] = []
        self.last_losses: dict[str, float] = {}
        self.stopped_at_target = False

    def level(self, level, levels, content_img, styles, image, iterations, full_mask) -> torch.Tensor:
        p = self.params
        content = to_tensor(content_img, self.device)
        style_side = round(max(content_img.size) * p.style_scale)
        style_tensors = [(to_tensor(fit_longest_side(img, style_side), self.device), w) for img, w in styles]
        targets = style_targets(self.vgg, style_tensors, list(p.style_layers))
        with torch.no_grad():
            content_targets = self.vgg(content, list(p.content_layers))
        content_map, style_map = self._face_maps(full_mask, content_img)
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
        wanted = list(dict.fromkeys([*p.style_layers, *p.content_layers]))

        def closure() -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            feats = self.vgg(image, wanted)
            c = torch.stack([content_loss(feats[n], content_targets[n], content_map) for n in p.content_layers]).mean()
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

    def _face_maps(self, full_mask, content_img) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if full_mask is None or not full_mask.any():
            return None, None
        mask_img = Image.fromarray((full_mask * 255).astype("uint8")).resize(content_img.size)
        mask = to_tensor(mask_img.convert("RGB"), self.device)[:, :1]
        content_map = 1.0 + (self.params.face_content_boost - 1.0) * mask
        style_map = 1.0 - (1.0 - self.params.face_style_keep) * mask
        return content_map, style_map

    def _report(self, level: int, levels: int, image: torch.Tensor) -> None:
        if self.on_progress is None:
            return
        every = self.params.preview_every
        preview = to_image(image) if every and self.iteration % every == 0 else None
        self.on_progress(GatysProgress(level, levels, self.iteration, self.total, dict(self.last_losses), preview))
