"""The knobs of the Gatys optimiser and of training, as pydantic models: no torch here, so the CLI can build
its options from these fields without loading the networks."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .errors import validated

# A masterpiece's L-BFGS steps from the fast start: a CPU that runs the loss network in fp32 (an AVX2-only CPU) takes
# 14, which keep style and content loss within 4 % of 16's at 0.89x the time (bench/RESULTS.md).
MASTERPIECE_STEPS = {"reduced": 16, "fp32 cpu": 14}


class GatysParams(BaseModel):
    """Every knob of the optimiser. Defaults are tuned on portraits at 512 px."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: int = Field(512, ge=64, le=4096, description="Longest side the painting is optimised at, in pixels.")
    output_size: int | None = Field(
        None,
        ge=64,
        le=4096,
        description="Longest side of the result: a painting smaller than this is brought up to it by a guided "
        "upsample with the photo's detail (never beyond the photo's own size). None: the painting's size.",
    )
    content_weight: float = Field(1.0, ge=0, description="alpha: how much the portrait's structure counts.")
    style_weight: float = Field(20.0, ge=0, description="beta: how much the painting's texture counts.")
    tv_weight: float = Field(2.0, ge=0, description="gamma: smoothness (total variation) penalty.")
    optimizer: Literal["lbfgs", "adam"] = Field("lbfgs", description="L-BFGS (few, costly steps) or Adam.")
    learning_rate: float | None = Field(None, gt=0, description="Default: 1.0 for L-BFGS, 0.02 for Adam.")
    iterations: int = Field(
        MASTERPIECE_STEPS["reduced"],
        ge=1,
        le=20000,
        description="L-BFGS iterations (at the coarsest scale with --multiscale). A fast start needs few; from the "
        "photo or noise, use --multiscale and about 150.",
    )
    init: Literal["fast", "content", "noise"] = Field(
        "fast",
        description="Start from the fast network's painting of the photo (the photo itself where the optimiser "
        "has no fast network), from the photo, or from noise.",
    )
    start_photo_share: float = Field(
        0.3,
        ge=0,
        le=1,
        description="Share of the photo mixed into the fast network's painting the optimiser starts from: some "
        "of the photo's structure back saves steps (bench/RESULTS.md).",
    )
    early_stop_patience: int = Field(20, ge=1, description="Stop a scale after this many steps without gain.")
    early_stop_tolerance: float = Field(1e-3, ge=0, description="Relative improvement that counts as gain.")
    multiscale: bool = Field(
        False,
        description="Coarse-to-fine: optimise small first, then refine (for starts from the photo or noise; a fast "
        "start already has the composition, and coarse scales would blur its brushwork).",
    )
    coarsest_side: int = Field(128, ge=64, description="Smallest scale of the multi-scale pyramid.")
    refine_share: float = Field(
        0.25, gt=0, le=1, description="Each finer scale runs this share of the previous scale's iterations."
    )
    style_scale: float = Field(1.0, gt=0, le=4, description="Style image size relative to the result.")
    preserve_color: bool = False
    face_protect: bool = False
    face_content_boost: float = Field(5.0, ge=1, description="Content weight multiplier inside faces.")
    face_content_layers: tuple[str, ...] = Field(
        (),
        description="Layers whose content is also matched inside faces only, e.g. relu3_1 (a face closer to the "
        "photo, with less of the brushwork). Default: none.",
    )
    face_style_keep: float = Field(1.0, ge=0, le=1, description="Share of style pressure kept inside faces.")
    face_skin_colour: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Share of the photo's colours put back on the face's skin (0: the painting's colours; 1: the "
        "photo's, which keeps most of the face's style loss: bench/RESULTS.md).",
    )
    face_skin_smooth: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Share of the skin's colour mottling smoothed away (chroma only, at 1/25 of the face's width), as "
        "Instant's face care does; more leaves the face less painted (bench/RESULTS.md).",
    )
    seed: int = Field(0, description="Random seed: the same seed paints the same picture.")
    content_layers: tuple[str, ...] = ("relu4_2",)
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
    preview_every: int = Field(0, ge=0, description="Send a preview image every N iterations (0: never).")

    @model_validator(mode="after")
    def _check(self) -> GatysParams:
        if self.content_weight == 0 and self.style_weight == 0:
            raise ValueError("content_weight and style_weight cannot both be 0")
        if not self.style_layers or not self.content_layers:
            raise ValueError("at least one style layer and one content layer are needed")
        return self

    @property
    def lr(self) -> float:
        return self.learning_rate or (1.0 if self.optimizer == "lbfgs" else 0.02)

    def scales(self) -> list[tuple[int, int]]:
        """(longest side, iterations) per level, coarse to fine; finer levels only refine."""
        if not self.multiscale or self.size < 2 * self.coarsest_side:
            return [(self.size, self.iterations)]
        levels = math.floor(math.log2(self.size / self.coarsest_side)) + 1
        sides = [round(self.size / 2**k) for k in range(levels - 1, -1, -1)]
        return [(side, max(3, round(self.iterations * self.refine_share**k))) for k, side in enumerate(sides)]


def make_params(**values) -> GatysParams:
    """Build parameters, turning validation failures into one readable InvalidParameter."""
    return validated(GatysParams, "invalid Gatys parameters: ", **values)


class TrainParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    iterations: int = Field(2000, ge=1, description="Training steps.")
    batch_size: int = Field(4, ge=1, le=64, description="Photos per step.")
    image_size: int = Field(256, ge=32, le=1024, description="Side of the training crops, in pixels.")
    style_size: int | None = Field(None, ge=32, description="Style image side; default: image_size * 1.5.")
    learning_rate: float = Field(1e-3, gt=0, description="Adam's learning rate.")
    content_weight: float = Field(1.0, ge=0, description="How much the photos' structure counts.")
    style_weight: float = Field(20.0, ge=0, description="How much the painting's texture counts.")
    tv_weight: float = Field(2.0, ge=0, description="Smoothness (total variation) penalty.")
    width: int = Field(32, ge=4, le=128, description="32 is the paper's network; 16 is four times cheaper.")
    checkpoint_every: int = Field(200, ge=1, description="Save a checkpoint every N steps (--resume goes on from it).")
    preview_every: int = Field(200, ge=1, description="Write a preview image every N steps.")
    seed: int = Field(0, description="Random seed.")
    content_layers: tuple[str, ...] = ("relu2_2",)
    style_layers: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
