"""Training our own fast styles (Johnson et al. 2016): a transform net learns one painting from photos."""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, ImageOps

from .catalogue import StyleCard, write_card
from .errors import ImageError, InvalidParameter
from .imageio import fit_longest_side, load_image, save_image_atomic
from .losses import content_loss, gram, style_loss, style_targets, tv_loss
from .params import TrainParams
from .tensors import to_image, to_tensor
from .transformer import TransformNet, save_transform_net
from .vgg import VGGFeatures

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainReport:
    net: TransformNet
    iterations: int
    seconds: float
    final_losses: dict[str, float]


class ContentImages:
    """Random square crops of the photos in a folder, as batches."""

    def __init__(self, folder: Path, size: int, seed: int) -> None:
        if not folder.is_dir():
            raise InvalidParameter(f"content folder {folder} does not exist")
        self.paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise InvalidParameter(f"content folder {folder} holds no JPEG, PNG or WebP photos")
        self.size, self.rng = size, random.Random(seed)
        self._cache: dict[Path, Image.Image] = {}

    def _image(self, path: Path) -> Image.Image:
        if path not in self._cache:
            try:
                image = load_image(path)
            except ImageError:
                image = None
            # keep photos small in memory; crops are taken from a 1.5x working copy
            self._cache[path] = fit_longest_side(image, int(self.size * 1.5)) if image else None
        return self._cache[path]

    def batch(self, count: int, device: torch.device) -> torch.Tensor:
        crops = []
        while len(crops) < count:
            image = self._image(self.rng.choice(self.paths))
            if image is None:
                continue
            side = min(image.size)
            left, top = self.rng.randint(0, image.width - side), self.rng.randint(0, image.height - side)
            crop = image.crop((left, top, left + side, top + side)).resize((self.size, self.size))
            crops.append(ImageOps.mirror(crop) if self.rng.random() < 0.5 else crop)
        return torch.cat([to_tensor(c, device) for c in crops])

    def rng_state(self) -> list[int]:
        """The crop sampler's position, as plain ints (a checkpoint stores it so a resumed run sees new crops)."""
        version, internal, _ = self.rng.getstate()  # the third item (a cached gauss()) is never used here
        return [version, *internal]

    def restore_rng(self, state: list[int]) -> None:
        self.rng.setstate((state[0], tuple(state[1:626]), None))


def train(
    style: Image.Image,
    content_dir: Path,
    work_dir: Path,
    params: TrainParams,
    vgg: VGGFeatures,
    device: torch.device,
    resume: bool = False,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainReport:
    """Train (or resume) a transform net; checkpoints and preview images go into ``work_dir``."""
    torch.manual_seed(params.seed)
    data = ContentImages(content_dir, params.image_size, params.seed)
    net = TransformNet(params.width).to(device).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=params.learning_rate)
    preview_batch = data.batch(1, device)  # drawn before resuming, so the preview photo never changes
    start = _resume(work_dir, net, optimizer, params, data) if resume else 0
    vgg = vgg.to(device)
    style_side = params.style_size or int(params.image_size * 1.5)
    targets = style_targets(
        vgg, [(to_tensor(fit_longest_side(style, style_side), device), 1.0)], list(params.style_layers)
    )
    wanted = list(dict.fromkeys([*params.style_layers, *params.content_layers]))
    started, losses = time.perf_counter(), {}
    for step in range(start + 1, params.iterations + 1):
        photos = data.batch(params.batch_size, device)
        with torch.no_grad():
            content_feats = vgg(photos, list(params.content_layers))
        painted = net(photos)
        feats = vgg(painted, wanted)
        c = torch.stack([content_loss(feats[n], content_feats[n]) for n in params.content_layers]).mean()
        s = style_loss(
            {n: gram(feats[n]) for n in params.style_layers},
            {n: t.expand(params.batch_size, -1, -1) for n, t in targets.items()},
        )
        t = tv_loss(painted)
        total = params.content_weight * c + params.style_weight * s + params.tv_weight * t
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        losses = {"content": float(c.detach()), "style": float(s.detach()), "total": float(total.detach())}
        if on_step:
            on_step(step, losses)
        if step % params.preview_every == 0 or step == params.iterations:
            _save_preview(net, preview_batch, work_dir / f"preview_{step:06d}.jpg")
        if step % params.checkpoint_every == 0 or step == params.iterations:
            _save_checkpoint(work_dir, net, optimizer, step, params, data)
    return TrainReport(net.eval(), params.iterations, time.perf_counter() - started, losses)


def _resume(work_dir: Path, net, optimizer, params: TrainParams, data: ContentImages) -> int:
    path = work_dir / CHECKPOINT
    if not path.is_file():
        raise InvalidParameter(f"nothing to resume: {path} does not exist")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state["width"] != params.width:
        raise InvalidParameter(f"checkpoint has width {state['width']}, not {params.width}")
    net.load_state_dict(state["net"])
    optimizer.load_state_dict(state["optimizer"])
    if "data_rng" in state:  # older checkpoints lack it: their resumed runs start the crops afresh
        data.restore_rng([int(v) for v in state["data_rng"]])
    return int(state["step"])


def _save_checkpoint(work_dir: Path, net, optimizer, step: int, params: TrainParams, data: ContentImages) -> None:
    work_dir.mkdir(parents=True, exist_ok=True)
    tmp = work_dir / f"{CHECKPOINT}.part"
    state = {"net": net.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "width": params.width}
    torch.save({**state, "data_rng": torch.tensor(data.rng_state(), dtype=torch.int64)}, tmp)
    tmp.replace(work_dir / CHECKPOINT)


@torch.no_grad()
def _save_preview(net: TransformNet, photo: torch.Tensor, path: Path) -> None:
    net.eval()
    save_image_atomic(to_image(net(photo)), path)
    net.train()


def export_style(
    report: TrainReport,
    style_image: Path,
    models_dir: Path,
    style_id: str,
    name: str,
    artist: str,
    licence: str,
    sample: Image.Image,
    device_name: str,
) -> StyleCard:
    """Write weights, the painting, a thumbnail and a card into ``models_dir/<style_id>/``."""
    folder = models_dir / style_id
    folder.mkdir(parents=True, exist_ok=True)
    save_transform_net(report.net, folder / "weights.safetensors")
    shutil.copyfile(style_image, folder / f"style{style_image.suffix.lower()}")
    net = report.net.cpu().eval()
    with torch.no_grad():
        thumb = to_image(net(to_tensor(fit_longest_side(sample, 256))))
    save_image_atomic(thumb, folder / "thumb.jpg")
    card = StyleCard(
        id=style_id,
        name=name,
        artist=artist,
        licence=licence,
        kind="trained",
        thumbnail="thumb.jpg",
        style_image=f"style{style_image.suffix.lower()}",
        weights="weights.safetensors",
        folder=folder,
        training={
            "iterations": report.iterations,
            "seconds": round(report.seconds, 1),
            "device": device_name,
            "final_losses": report.final_losses,
        },
    )
    write_card(card)
    return card
