"""Style names per language: cards carry German names, the credit line is translated, and the
26 palettes have real names and an honest artist line (nobody painted them: a network learned them)."""

from __future__ import annotations

import json

from style_server.engine.catalogue import Catalogue, StyleCard, write_card
from tests.conftest import MODELS


def test_every_builtin_card_has_a_german_name_and_no_placeholder_artist():
    catalogue = Catalogue.load(MODELS)
    assert len(catalogue) == 30
    for card in catalogue:
        assert card.names.get("de"), f"{card.id} has no German name"
        assert "learned style" not in card.artist.lower()
    palettes = [c for c in catalogue if c.kind == "multistyle"]
    assert len(palettes) == 26
    assert len({c.name for c in palettes}) == 26 and len({c.names["de"] for c in palettes}) == 26
    assert {c.artist for c in palettes} == {"Dumoulin et al. style network"}
    assert {c.artist_in("de") for c in palettes} == {"Stilnetz nach Dumoulin et al."}


def test_attribution_is_translated():
    starry = Catalogue.load(MODELS).get("starry-night")
    assert starry.attribution == "The Starry Night by Vincent van Gogh, 1889 (public domain)"
    assert starry.attribution_in("de") == "Die Sternennacht von Vincent van Gogh, 1889 (gemeinfrei)"
    assert starry.attribution_in("fr") == starry.attribution  # no translation: English
    palette = Catalogue.load(MODELS).get("palette-01")
    assert palette.attribution_in("de") == (
        "Sonniges Pastell von Stilnetz nach Dumoulin et al. (Apache-2.0 (Gewichte))"
    )


def test_a_card_without_translations_falls_back_to_its_name(tmp_path):
    (tmp_path / "t.jpg").write_bytes(b"")
    card = StyleCard(id="mine", name="Mine", artist="Me", licence="CC0", kind="painting", thumbnail="t.jpg")
    assert card.name_in("de") == "Mine" and card.attribution_in("de") == "Mine von Me (CC0)"
    written = write_card(card.model_copy(update={"folder": tmp_path, "names": {"de": "Meins"}}))
    stored = json.loads(written.read_text(encoding="utf-8"))
    assert stored["names"] == {"de": "Meins"} and "artists" not in stored  # empty translations are left out


def test_the_catalogue_answer_carries_the_names_per_language(server):
    with server.client() as client:
        styles = {s["id"]: s for s in client.get("/v1/styles").json()["styles"]}
    assert styles["starry-night"]["name"] == "The Starry Night"  # the default stays
    assert styles["starry-night"]["names"] == {"de": "Die Sternennacht"}
    assert styles["palette-01"]["names"] == {"de": "Sonniges Pastell"}
    assert styles["palette-01"]["artists"] == {"de": "Stilnetz nach Dumoulin et al."}
