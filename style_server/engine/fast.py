"""The fast path: one forward pass of a pretrained network per portrait, several portraits per batch.

Three families of network serve it: the 26-style multistyle net (styles are blendable weight vectors),
the arbitrary-style net (any painting, blendable 100-number vectors) and our own trained Johnson nets.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from .arbitrary import PREDICT_SIZE, load_predictor, load_transformer
from .catalogue import StyleCard
from .color import blend, even_skin, preserve_colors
from .cpu_tuning import keep_freed_memory
from .errors import InvalidParameter
from .face import Box, FaceCare, detect_faces, face_mask
from .imageio import fit_longest_side, load_image
from .multistyle import NUM_STYLES, load_multistyle
from .tensors import to_image, to_tensor
from .transformer import load_transform_net

Family = Literal["multistyle", "arbitrary", "trained"]
MAX_REPAINTED_FACES = 3  # faces painted again at their brush scale, largest first (each costs a forward pass)
MAX_FACE_ENLARGEMENT = 4.0


class FastOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    size: int | None = Field(None, ge=64, le=4096, description="Longest side of the result; default: the photo's.")
    strength: float = Field(1.0, ge=0, le=1, description="1: full painting; 0: the photo.")
    preserve_color: bool = False
    face_protect: bool = False
    face_care: FaceCare | None = Field(None, description="Instead of each style's own (the benchmarks compare).")


@dataclass(frozen=True)
class FastStyle:
    """A resolved style: which network runs it and with what conditioning."""

    family: Family
    vector: torch.Tensor | None = None  # 26 multistyle weights or 100 arbitrary-style numbers
    weights_file: str | None = None  # trained network
    face_care: FaceCare = field(default_factory=FaceCare)  # the style card's (a blend: its heaviest card's)


class FastStylizer:
    """Owns the fast networks (loaded lazily, shared by all callers) and runs batches through them."""

    def __init__(self, device: torch.device | str = "cpu", cache_dir: Path | None = None) -> None:
        self.device = torch.device(device)
        self.cache_dir = cache_dir  # the pretrained networks' weights, read out of their ONNX files once
        if self.device.type == "cpu":
            keep_freed_memory()
        self._nets: dict[str, torch.nn.Module] = {}
        self._lock = threading.Lock()
        self._painting_vectors: dict[str, torch.Tensor] = {}

    def _net(self, key: str) -> torch.nn.Module:
        with self._lock:
            if key not in self._nets:
                loader = {
                    "multistyle": load_multistyle,
                    "predictor": load_predictor,
                    "arbitrary": load_transformer,
                }
                net = loader[key](cache_dir=self.cache_dir) if key in loader else load_transform_net(Path(key))
                net = net.to(self.device)
                if self.device.type == "cuda":
                    net = net.to(memory_format=torch.channels_last)
                self._nets[key] = net
            return self._nets[key]

    def warm_up(self) -> None:
        """Load the pretrained networks now, so the first visitor does not wait for it."""
        for key in ("multistyle", "predictor", "arbitrary"):
            self._net(key)

    # -- resolving styles ----------------------------------------------------------------------------

    def resolve(
        self,
        cards: list[tuple[StyleCard, float]],
        images: list[tuple[Image.Image, float]] = (),
        johnson: bool = True,
    ) -> FastStyle:
        """Turn a weighted blend of cards and/or style images into one runnable style. A painting alone runs
        on its own Johnson network when its card offers one (``johnson=False``: the arbitrary network). Faces are
        cared for as the heaviest card says (style images alone: the default)."""
        care = max(cards, key=lambda pair: pair[1])[0].face_care if cards else FaceCare()
        return replace(self._network(cards, images, johnson), face_care=care)

    def _network(
        self, cards: list[tuple[StyleCard, float]], images: list[tuple[Image.Image, float]], johnson: bool
    ) -> FastStyle:
        family = blend_family(cards, bool(images))
        total = sum(w for _, w in cards) + sum(w for _, w in images)
        if family == "trained":
            return FastStyle("trained", weights_file=str(cards[0][0].path(cards[0][0].weights)))
        own = cards[0][0].fast_weights if johnson and family == "arbitrary" and len(cards) == 1 else None
        if own is not None and not images:
            return FastStyle("trained", weights_file=str(own))
        if family == "multistyle":
            vector = torch.zeros(NUM_STYLES)
            for card, weight in cards:
                vector[card.multistyle_index] += weight / total
            return FastStyle("multistyle", vector=vector)
        vector = torch.zeros(100)
        for card, weight in cards:
            vector += self.painting_vector(card) * (weight / total)
        for image, weight in images:
            vector += self.style_vector(image) * (weight / total)
        return FastStyle("arbitrary", vector=vector)

    def painting_vector(self, card: StyleCard) -> torch.Tensor:
        if card.id not in self._painting_vectors:
            self._painting_vectors[card.id] = self.style_vector(load_image(card.path(card.style_image)))
        return self._painting_vectors[card.id]

    @torch.inference_mode()
    def style_vector(self, painting: Image.Image) -> torch.Tensor:
        """The arbitrary-style predictor's 100 numbers for a painting (centre square at 256 px)."""
        side = min(painting.size)
        left, top = (painting.width - side) // 2, (painting.height - side) // 2
        square = painting.crop((left, top, left + side, top + side))
        square = square.resize((PREDICT_SIZE, PREDICT_SIZE), Image.Resampling.LANCZOS)
        return self._net("predictor")(to_tensor(square, self.device))[0].float().cpu()

    # -- running -------------------------------------------------------------------------------------

    def stylize(self, photos: list[Image.Image], styles: list[FastStyle], options: FastOptions) -> list[Image.Image]:
        """Stylise each photo with its style; photos of equal size and network share one forward pass."""
        if len(photos) != len(styles):
            raise InvalidParameter("give one style per photo")
        sized = [fit_longest_side(p, options.size) if options.size else p for p in photos]
        faces = [detect_faces(p) if options.face_protect else [] for p in sized]
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, (photo, style) in enumerate(zip(sized, styles, strict=True)):
            groups[(photo.size, style.family, style.weights_file)].append(i)
        results: list[Image.Image | None] = [None] * len(photos)
        for (_, family, weights_file), indices in groups.items():
            painted = self._forward(family, weights_file, [sized[i] for i in indices], [styles[i] for i in indices])
            for i, image in zip(indices, painted, strict=True):
                care = options.face_care or styles[i].face_care
                image = self._repaint_faces(image, sized[i], faces[i], styles[i], care)
                results[i] = _finish(image, sized[i], faces[i], options, care)
        return results  # type: ignore[return-value]

    def paint_styles(
        self, photo: Image.Image, faces: list[Box], styles: list[FastStyle], options: FastOptions
    ) -> list[Image.Image]:
        """One photo, already at its size and with its faces found, in several styles of one network: one forward
        pass (the gallery's previews), each painting finished as ``stylize`` finishes it; a face is not painted
        again at its brush scale (that is one more pass per style, and a preview tile frames the face already)."""
        first = styles[0]
        if any((s.family, s.weights_file) != (first.family, first.weights_file) for s in styles):
            raise InvalidParameter("styles of different networks cannot share a forward pass")
        painted = self._forward(first.family, first.weights_file, [photo], styles)
        return [
            _finish(image, photo, faces, options, options.face_care or style.face_care)
            for image, style in zip(painted, styles, strict=True)
        ]

    def _repaint_faces(
        self, painted: Image.Image, photo: Image.Image, faces: list[Box], style: FastStyle, care: FaceCare
    ) -> Image.Image:
        """Each face narrower than ``care.brush`` painted again at the brush scale of a face: its surroundings enlarged
        so the face is ``brush`` px wide, painted, brought back down and laid in on the face mask. The network's
        strokes have a fixed size in pixels, so the enlarged face gets strokes finer relative to its eyes and mouth
        (Reimann et al. 2022: scaling the content is a stroke-size control for a network already trained)."""
        out = painted
        for box in faces[:MAX_REPAINTED_FACES]:
            x, y, w, h = box
            scale = min(care.brush / max(w, 1), MAX_FACE_ENLARGEMENT)
            if scale < 1.1:
                continue
            half = care.frame * w / 2  # the network sees some hair and collar around the face
            cx, cy = x + w / 2, y + h / 2
            left, top = max(0, round(cx - half)), max(0, round(cy - half))
            right, bottom = min(photo.width, round(cx + half)), min(photo.height, round(cy + half))
            region = photo.crop((left, top, right, bottom))
            enlarged = region.resize(
                (round(region.width * scale), round(region.height * scale)), Image.Resampling.LANCZOS
            )
            [fine] = self._forward(style.family, style.weights_file, [enlarged], [style])
            fine = fine.resize(region.size, Image.Resampling.LANCZOS)
            mask = face_mask(region, [(x - left, y - top, w, h)])
            out = out.copy() if out is painted else out
            out.paste(blend(fine, out.crop((left, top, right, bottom)), mask), (left, top))
        return out

    @torch.inference_mode()
    def _forward(self, family, weights_file, photos, styles) -> list[Image.Image]:
        net = self._net(weights_file if family == "trained" else family)
        batch = torch.cat([to_tensor(p, self.device) for p in photos])
        h, w = batch.shape[-2:]
        ph, pw = (-h) % 4, (-w) % 4  # every network downsamples twice by 2
        batch = F.pad(batch, [0, pw, 0, ph], mode="reflect") if ph or pw else batch
        if self.device.type == "cuda":
            batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.device.type == "cuda"):
            if family == "trained":
                out = net(batch)
            else:  # one photo for several styles broadcasts (the networks share the photo's first layers)
                out = net(batch, torch.stack([s.vector for s in styles]).to(self.device))
        out = out.expand(len(styles), -1, -1, -1) if out.shape[0] == 1 else out  # a trained network: one painting
        return [to_image(img[:, :h, :w]) for img in out.float()]


def _finish(
    painted: Image.Image, photo: Image.Image, faces: list[Box], options: FastOptions, care: FaceCare
) -> Image.Image:
    """Colour, face protection and strength. On a face: the skin's colour mottling smoothed, then ``care.keep``
    of the painting kept."""
    if options.preserve_color:
        painted = preserve_colors(painted, photo)
    strength: float | np.ndarray = options.strength
    if faces:  # only with face protection on
        mask, width = face_mask(photo, faces), max(w for _, _, w, _ in faces)
        if care.skin_smooth > 0:
            painted = even_skin(painted, photo, mask, width, care.skin_smooth)
        strength = options.strength * (1.0 - (1.0 - care.keep) * mask)
    return painted if np.all(np.asarray(strength) >= 1.0) else blend(painted, photo, strength)


def blend_family(cards: list[tuple[StyleCard, float]], has_images: bool) -> Family:
    """The one network that can paint this blend, or a clear error when the styles cannot mix."""
    families = {_family(card) for card, _ in cards} | ({"arbitrary"} if has_images else set())
    if len(families) != 1:
        raise InvalidParameter(
            "these styles cannot be blended together: blend paintings (and style images) "
            "with each other, or the numbered palettes with each other"
        )
    family = families.pop()
    if family == "trained" and len(cards) != 1:
        raise InvalidParameter("a trained style runs alone; blend paintings instead")
    return family


def _family(card: StyleCard) -> Family:
    if card.kind == "multistyle":
        return "multistyle"
    return "trained" if card.kind == "trained" else "arbitrary"
