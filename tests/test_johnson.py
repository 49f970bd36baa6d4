"""A painting's own Johnson network: offered as its fast network only when it beats the arbitrary network
(style loss at matched content loss, same VGG), and then used by the fast path of the engine, CLI and server.

The networks are real and tiny: a Johnson net whose last layer paints one colour with a faint trace of the
photo. On a painting that is a flat red field, the net that paints red wins the measured comparison and the one
that paints blue loses.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from research.johnson import compare_fast_networks, verdict
from style_server.engine.catalogue import Catalogue, JohnsonNetwork, StyleCard, write_card
from style_server.engine.errors import EngineError
from style_server.engine.fast import FastOptions, FastStyle, FastStylizer
from style_server.engine.tensors import to_image, to_tensor
from style_server.engine.transformer import TransformNet, save_transform_net
from tests.harness import ServerProcess, free_port, wait_for_state

RED, BLUE = (200, 60, 30), (30, 60, 160)


def tinted_net(colour: tuple[int, int, int]) -> TransformNet:
    """A real (width 4) transform network that paints every photo in ``colour``, the photo's traces a few
    levels deep (a flat result would be refused by the server)."""
    torch.manual_seed(0)
    net = TransformNet(width=4).eval()
    with torch.no_grad():
        net.out.conv.weight.mul_(0.05)
        net.out.conv.bias.copy_(torch.logit(torch.tensor(colour, dtype=torch.float32) / 255))
    return net


def painted_by(net: TransformNet, photo: Image.Image) -> np.ndarray:
    with torch.no_grad():
        return np.asarray(to_image(net(to_tensor(photo))), np.float32)


def painting_card(models: Path, style_id: str, net_colour: tuple[int, int, int], vgg, portrait) -> StyleCard:
    """A painting (a flat red field) whose Johnson net paints ``net_colour``, measured against the arbitrary
    network by the same code as scripts/johnson.py ship, with the verdict written into its card."""
    folder = models / "paintings" / style_id
    folder.mkdir(parents=True)
    Image.new("RGB", (96, 96), RED).save(folder / "style.png")
    Image.new("RGB", (32, 32), RED).save(folder / "thumb.jpg")
    save_transform_net(tinted_net(net_colour), folder / "johnson.safetensors")
    card = StyleCard(
        id=style_id,
        name="Red field",
        artist="Test",
        licence="public domain",
        kind="painting",
        thumbnail="thumb.jpg",
        style_image="style.png",
        folder=folder,
    )
    stylizer, options = FastStylizer(), FastOptions()
    own = FastStyle("trained", weights_file=str(folder / "johnson.safetensors"))
    arbitrary = stylizer.resolve([(card, 1.0)], johnson=False)
    comparison = compare_fast_networks(
        vgg,
        Image.open(folder / "style.png").convert("RGB"),
        [("astronaut", portrait)],
        lambda photo: stylizer.stylize([photo], [own], options)[0],
        lambda photo: stylizer.stylize([photo], [arbitrary], options)[0],
        size=64,
    )
    card.johnson = JohnsonNetwork(
        weights="johnson.safetensors", steps=0, comparison=comparison, verdict=verdict(comparison, 0)
    )
    write_card(card)
    return card


@pytest.fixture(scope="module")
def models(tmp_path_factory, vgg, portrait) -> Path:
    models = tmp_path_factory.mktemp("models")
    painting_card(models, "red-field", RED, vgg, portrait)
    painting_card(models, "red-field-blue-net", BLUE, vgg, portrait)
    return models


def near(image: Image.Image | np.ndarray, expected: np.ndarray, levels: float) -> bool:
    return bool(np.abs(np.asarray(image, np.float32) - expected).mean() <= levels)


def test_the_network_that_wins_is_offered_and_the_one_that_loses_is_not(models, portrait):
    catalogue = Catalogue.load(models)
    winner, loser = catalogue.get("red-field"), catalogue.get("red-field-blue-net")
    assert winner.johnson.comparison.johnson_wins
    assert not loser.johnson.comparison.johnson_wins
    assert winner.fast_weights == winner.folder / "johnson.safetensors" and loser.fast_weights is None
    assert winner.johnson.verdict.startswith("default fast network") and loser.johnson.verdict.startswith("not")
    figures = winner.johnson.comparison.portraits[0]
    assert figures.johnson_strength == 1.0 or figures.arbitrary_strength == 1.0  # matched at the lower one

    stylizer, photo = FastStylizer(), portrait.resize((64, 64))
    own = stylizer.resolve([(winner, 1.0)])
    assert own == FastStyle("trained", weights_file=str(winner.fast_weights))
    assert near(stylizer.stylize([photo], [own], FastOptions())[0], painted_by(tinted_net(RED), photo), 1)
    # the loser's painting, blends of paintings and johnson=False keep the arbitrary network
    assert stylizer.resolve([(loser, 1.0)]).family == "arbitrary"
    assert stylizer.resolve([(winner, 0.5), (loser, 0.5)]).family == "arbitrary"
    assert stylizer.resolve([(winner, 1.0)], johnson=False).family == "arbitrary"
    arbitrary = stylizer.stylize([photo], [stylizer.resolve([(loser, 1.0)])], FastOptions())[0]
    assert not near(arbitrary, painted_by(tinted_net(BLUE), photo), 20)


def test_a_card_without_a_comparison_keeps_the_arbitrary_network(models):
    card = Catalogue.load(models).get("red-field").model_copy(deep=True)
    card.johnson.comparison = None
    assert card.fast_weights is None


def test_a_card_naming_missing_johnson_weights_is_refused(tmp_path, models):
    card = Catalogue.load(models).get("red-field").model_copy(deep=True)
    card.folder = tmp_path / "paintings" / "red-field"
    card.folder.mkdir(parents=True)
    for name in ("style.png", "thumb.jpg"):
        (card.folder / name).write_bytes((models / "paintings" / "red-field" / name).read_bytes())
    write_card(card)
    with pytest.raises(EngineError, match=r"names johnson\.safetensors, which does not exist"):
        Catalogue.load(tmp_path)


@pytest.mark.slow
def test_cli_and_server_paint_with_the_johnson_network_the_card_selects(models, tmp_path, cache_dir, portrait):
    photo = tmp_path / "me.jpg"
    portrait.resize((96, 96)).save(photo)
    env = {**os.environ, "PORTRAIT_MODELS_DIR": str(models), "PORTRAIT_CACHE_DIR": str(cache_dir)}
    script = str(Path(sys.executable).parent / "style-server")
    out = tmp_path / "out.png"
    done = subprocess.run(
        [script, "stylize", str(photo), "-o", str(out), "--style", "red-field"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    expected = painted_by(tinted_net(RED), Image.open(photo).convert("RGB"))
    assert near(Image.open(out).convert("RGB"), expected, 1)

    server = ServerProcess(tmp_path / "data", cache_dir, free_port(), models_dir=models).start()
    try:
        with server.client() as client:
            response = client.post(
                "/v1/jobs",
                files={"portrait": ("me.jpg", photo.read_bytes(), "image/jpeg")},
                data={"style": "red-field", "options": json.dumps({"face_protect": False})},
            )
            assert response.status_code == 201, response.text
            job = response.json()
            wait_for_state(client, job, {"done"})
            result = client.get(f"/v1/jobs/{job['id']}/result", headers={"X-Job-Token": job["token"]})
        assert result.status_code == 200
        assert near(Image.open(io.BytesIO(result.content)).convert("RGB"), expected, 3)  # a JPEG: within 3 levels
    finally:
        server.stop()


def test_the_content_photos_are_reproducible_and_hold_out_the_comparison_portraits(tmp_path):
    from scripts.johnson import HELD_OUT, build_dataset

    first, second = build_dataset(tmp_path / "a", frames=3), build_dataset(tmp_path / "b", frames=3)
    assert first == second  # same files, same SHA-256: the training set is a function of the installed packages
    sources = [p["source"] for p in first["photos"]]
    assert sum(s.startswith("booth_client demo video") for s in sources) == 3
    assert not {f"skimage.data.{name}" for name in HELD_OUT} & set(sources)
    assert all(min(p["size"]) >= 128 for p in first["photos"])  # every photo gives a full training crop
