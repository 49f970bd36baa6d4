"""Training our own fast style end to end: steps, checkpoints, resume, export, catalogue pick-up."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from style_server.engine.catalogue import Catalogue
from style_server.engine.errors import InvalidParameter
from style_server.engine.fast import FastOptions, FastStylizer
from style_server.engine.training import TrainParams, export_style, train
from style_server.engine.transformer import TransformNet, load_transform_net, save_transform_net

pytestmark = pytest.mark.slow  # end to end: started first when the tests run in parallel


@pytest.fixture(scope="module")
def content_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for name in ("astronaut", "coffee", "chelsea"):
        Image.fromarray(getattr(data, name)()).save(folder / f"{name}.jpg")
    (folder / "notes.txt").write_text("not a photo")
    return folder


PARAMS = TrainParams(iterations=4, batch_size=2, image_size=64, width=8, checkpoint_every=2, preview_every=2)


def test_train_resume_export_and_serve(vgg, starry_night, content_dir, tmp_path):
    work = tmp_path / "work"
    steps = []
    report = train(
        starry_night,
        content_dir,
        work,
        PARAMS,
        vgg,
        torch.device("cpu"),
        on_step=lambda step, losses: steps.append((step, losses["total"])),
    )
    assert [s for s, _ in steps] == [1, 2, 3, 4]
    assert (work / "checkpoint.pt").is_file() and len(list(work.glob("preview_*.jpg"))) == 2

    more = PARAMS.model_copy(update={"iterations": 6})
    resumed = []
    train(
        starry_night,
        content_dir,
        work,
        more,
        vgg,
        torch.device("cpu"),
        resume=True,
        on_step=lambda step, losses: resumed.append(step),
    )
    assert resumed == [5, 6]

    models = tmp_path / "models"
    style_file = tmp_path / "starry.jpg"
    starry_night.save(style_file)
    card = export_style(
        report,
        style_file,
        models,
        "starry-test",
        "Starry Test",
        "Vincent van Gogh",
        "public domain",
        Image.fromarray(data.astronaut()),
        "cpu",
    )
    assert card.training["iterations"] == 4
    found = Catalogue.load(models).get("starry-test")
    assert found.kind == "trained" and found.methods == ["fast", "gatys"]
    stylizer = FastStylizer()
    photo = Image.fromarray(data.astronaut()).resize((64, 64))
    [out] = stylizer.stylize([photo], [stylizer.resolve([(found, 1.0)])], FastOptions())
    with torch.no_grad():
        expected = report.net.cpu()(torch.from_numpy(np.asarray(photo, np.float32) / 255).permute(2, 0, 1)[None])
    assert np.abs(np.asarray(out, np.float32) / 255 - expected[0].permute(1, 2, 0).numpy()).max() < 0.02


def test_exported_weights_round_trip_in_half_precision(tmp_path):
    net = TransformNet(width=8).eval()
    save_transform_net(net, tmp_path / "w.safetensors")
    loaded = load_transform_net(tmp_path / "w.safetensors")
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert (net(x) - loaded(x)).abs().max() < 5e-3


def test_bad_training_input(vgg, starry_night, tmp_path):
    with pytest.raises(InvalidParameter, match="holds no JPEG"):
        train(starry_night, tmp_path, tmp_path / "w", PARAMS, vgg, torch.device("cpu"))
    with pytest.raises(InvalidParameter, match="does not exist"):
        train(starry_night, tmp_path / "missing", tmp_path / "w", PARAMS, vgg, torch.device("cpu"))


def test_an_interrupted_run_resumes_where_it_stopped(vgg, starry_night, content_dir, tmp_path):
    """Stopped after its step-4 checkpoint and resumed (as in a later session), a run ends with exactly the
    weights of an uninterrupted run: the step count, Adam's state and the crop sampler's place all come back
    (before the sampler was restored, a resumed run replayed the crops it had already seen)."""
    tiny = TrainParams(iterations=6, batch_size=2, image_size=32, width=4, checkpoint_every=2, preview_every=100)
    cpu = torch.device("cpu")
    whole = train(starry_night, content_dir, tmp_path / "whole", tiny, vgg, cpu)
    train(starry_night, content_dir, tmp_path / "parts", tiny.model_copy(update={"iterations": 4}), vgg, cpu)
    steps: list[int] = []
    resumed = train(
        starry_night, content_dir, tmp_path / "parts", tiny, vgg, cpu, resume=True, on_step=lambda s, _: steps.append(s)
    )
    assert steps == [5, 6]
    for name, value in whole.net.state_dict().items():
        assert torch.equal(value, resumed.net.state_dict()[name]), name
