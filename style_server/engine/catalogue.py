"""Style cards: what a style is called, who painted it, its licence, and which files make it work.

Every ``card.json`` under the models directory is a style; dropping a new card folder in is all it takes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.lanes import methods_for
from shared.protocol import Language, StyleId

from .errors import EngineError, UnknownStyle, describe
from .face import FaceCare

CARD_FILE = "card.json"
MAX_WEIGHT = 100.0  # blend weights are relative; a bound keeps their sum finite
ATTRIBUTION_BY = {"en": "by", "de": "von"}  # "<name> by <artist>, <year> (<licence>)"
LICENCE_NAMES = {"de": {"public domain": "gemeinfrei", "Apache-2.0 (weights)": "Apache-2.0 (Gewichte)"}}


class PortraitFigures(BaseModel):
    """One held-out portrait: both fast networks brought to the same content loss, then their style losses."""

    model_config = ConfigDict(extra="forbid")

    portrait: str
    matched_content: float = Field(description="The content loss both results were brought to.")
    johnson_strength: float = Field(ge=0, le=1, description="Strength (painting/photo mix) that reached it.")
    arbitrary_strength: float = Field(ge=0, le=1)
    johnson_style: float = Field(ge=0, description="Style loss of the Johnson network at that content loss.")
    arbitrary_style: float = Field(ge=0)


class FastComparison(BaseModel):
    """Johnson network vs arbitrary network on held-out portraits, measured by the same VGG."""

    model_config = ConfigDict(extra="forbid")

    portraits: list[PortraitFigures] = Field(min_length=1)
    measure: str = Field("", description="How it was measured: size, loss layers, loss network.")

    @property
    def johnson_style(self) -> float:
        return sum(p.johnson_style for p in self.portraits) / len(self.portraits)

    @property
    def arbitrary_style(self) -> float:
        return sum(p.arbitrary_style for p in self.portraits) / len(self.portraits)

    @property
    def johnson_wins(self) -> bool:
        """The rule: the Johnson network paints by default only when its mean style loss at matched content
        loss is lower than the arbitrary network's."""
        return self.johnson_style < self.arbitrary_style


class JohnsonNetwork(BaseModel):
    """A painting's own transform network (Johnson et al. 2016), trained by scripts/johnson.py."""

    model_config = ConfigDict(extra="forbid")

    weights: str = Field(description="fp16 safetensors, relative to the card's folder.")
    record: str | None = Field(None, description="The training record (JSON) next to the weights.")
    steps: int = Field(ge=0)
    comparison: FastComparison | None = None
    verdict: str = Field("", description="The comparison in words: which network paints this painting and why.")


class StyleCard(BaseModel):
    """A style as it is stored in ``models/<folder>/card.json``; file fields are relative to that folder."""

    model_config = ConfigDict(extra="forbid")

    id: StyleId  # the wire protocol's rule: ids become file names on kiosks
    name: str
    artist: str
    names: dict[Language, str] = Field(default_factory=dict, description="The name per language (e.g. de).")
    artists: dict[Language, str] = Field(default_factory=dict, description="The artist line per language.")
    year: str | None = None
    licence: str
    source: str = ""
    kind: Literal["painting", "multistyle", "trained"]
    thumbnail: str
    style_image: str | None = Field(None, description="The painting itself: needed for Gatys and arbitrary style.")
    multistyle_index: int | None = Field(None, ge=0, lt=26)
    weights: str | None = Field(None, description="safetensors of a trained transform network.")
    training: dict | None = Field(None, description="How a trained network was made (iterations, time, device).")
    johnson: JohnsonNetwork | None = Field(None, description="A painting's own fast network, when one is trained.")
    face_care: FaceCare = Field(default_factory=FaceCare, description="How Instant paints faces in this style.")
    folder: Path = Field(Path("."), exclude=True)

    @property
    def fast_weights(self) -> Path | None:
        """The Johnson network the fast path runs for this painting alone, or None: the arbitrary network.
        Only a network whose comparison it won is offered."""
        johnson = self.johnson
        if self.kind != "painting" or johnson is None or johnson.comparison is None:
            return None
        return self.path(johnson.weights) if johnson.comparison.johnson_wins else None

    @property
    def methods(self) -> list[str]:
        return methods_for(has_painting=bool(self.style_image))

    def path(self, relative: str) -> Path:
        return self.folder / relative

    @property
    def attribution(self) -> str:
        return self.attribution_in("en")

    def name_in(self, language: str) -> str:
        return self.names.get(language, self.name)  # type: ignore[call-overload]

    def artist_in(self, language: str) -> str:
        return self.artists.get(language, self.artist)  # type: ignore[call-overload]

    def attribution_in(self, language: str) -> str:
        """The credit line in ``language`` (English when the card or the sentence has no translation)."""
        by = ATTRIBUTION_BY.get(language, ATTRIBUTION_BY["en"])
        licence = LICENCE_NAMES.get(language, {}).get(self.licence, self.licence)
        year = f", {self.year}" if self.year else ""
        return f"{self.name_in(language)} {by} {self.artist_in(language)}{year} ({licence})"


class Catalogue:
    """All style cards found under a models directory, in a stable order (paintings first)."""

    def __init__(self, cards: list[StyleCard]) -> None:
        order = {"trained": 0, "painting": 1, "multistyle": 2}
        self.cards = sorted(cards, key=lambda c: (order[c.kind], c.id))
        self._by_id = {c.id: c for c in self.cards}

    @classmethod
    def load(cls, models_dir: Path) -> Catalogue:
        cards: dict[str, StyleCard] = {}
        for card_file in sorted(models_dir.glob(f"**/{CARD_FILE}")):
            card = _read_card(card_file)
            if card.id in cards:
                raise EngineError(f"style id {card.id!r} appears twice: {cards[card.id].folder} and {card.folder}")
            cards[card.id] = card
        return cls(list(cards.values()))

    def get(self, style_id: str) -> StyleCard:
        try:
            return self._by_id[style_id]
        except KeyError:
            known = ", ".join(self._by_id) or "(none: the models directory has no style cards)"
            raise UnknownStyle(f"unknown style {style_id!r}; available styles: {known}") from None

    def __iter__(self):
        return iter(self.cards)

    def __len__(self) -> int:
        return len(self.cards)


def _read_card(card_file: Path) -> StyleCard:
    try:
        card = StyleCard.model_validate(
            {**json.loads(card_file.read_text(encoding="utf-8")), "folder": card_file.parent}
        )
    except ValidationError as exc:
        raise EngineError(f"{card_file}: not a valid style card ({describe(exc)})") from None
    except ValueError as exc:
        raise EngineError(f"{card_file}: not a valid style card ({exc})") from None
    johnson = card.johnson
    for relative in (card.thumbnail, card.style_image, card.weights, johnson and johnson.weights):
        if relative and not card.path(relative).is_file():
            raise EngineError(f"{card_file}: names {relative}, which does not exist")
    return card


def write_card(card: StyleCard) -> Path:
    card.folder.mkdir(parents=True, exist_ok=True)
    target = card.folder / CARD_FILE
    default_care = {"face_care"} if card.face_care == FaceCare() else set()  # only a measured one is written
    fields = {k: v for k, v in card.model_dump(exclude_none=True, exclude=default_care).items() if v != {}}
    target.write_text(json.dumps(fields, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


def parse_blend(spec: str) -> list[tuple[str, float]]:
    """``starry-night`` or ``starry-night:0.7,the-scream:0.3`` -> [(id, weight), ...]."""
    blend = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, weight = part.partition(":")
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            raise EngineError(f"bad style weight in {part!r}; write e.g. starry-night:0.7,the-scream:0.3") from None
        blend.append((name, check_weight(value, part)))
    if not blend:
        raise EngineError("name at least one style with a positive weight")
    return blend


def check_weight(value: float, what: str) -> float:
    """A blend weight must be a finite number in (0, MAX_WEIGHT]: NaN, infinities and overflows paint garbage."""
    if value < 0:
        raise EngineError(f"style weights cannot be negative ({what!r})")
    if not math.isfinite(value) or not 0 < value <= MAX_WEIGHT:
        raise EngineError(f"style weight in {what!r} must be a number above 0 and at most {MAX_WEIGHT:g}")
    return value
