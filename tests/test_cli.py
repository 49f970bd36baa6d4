"""``style-server`` as a user runs it: real console script, real files, one clear error per bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from style_server.cli import main
from tests.conftest import MODELS, ROOT
from tests.test_imageio import jpeg_bytes, png_header

SCRIPT = Path(sys.executable).parent / "style-server"


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})}
    )


@pytest.fixture(scope="module")
def photo(tmp_path_factory, portrait) -> Path:
    path = tmp_path_factory.mktemp("in") / "astronaut.jpg"
    portrait.resize((160, 160)).save(path)
    return path


@pytest.fixture(autouse=True)
def isolated_cache(cache_dir, monkeypatch):
    monkeypatch.setenv("PORTRAIT_CACHE_DIR", str(cache_dir))
    from style_server.config import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.slow
def test_stylize_fast_and_gatys_paint_the_portrait(photo, tmp_path, cache_dir):
    fast = tmp_path / "fast.png"
    result = run_cli("stylize", str(photo), "-o", str(fast), "--style", "starry-night")
    assert result.returncode == 0, result.stderr
    assert Image.open(fast).size == (160, 160)
    gatys = tmp_path / "gatys.jpg"
    result = run_cli(
        "stylize",
        str(photo),
        "-o",
        str(gatys),
        "--method",
        "gatys",
        "--style",
        "the-scream",
        "--size",
        "96",
        "--iterations",
        "5",
        "--face-protect",
    )
    assert result.returncode == 0, result.stderr
    assert Image.open(gatys).size == (96, 96)
    assert "painting" in result.stderr  # the progress bar


def test_styles_lists_the_catalogue_as_text_and_json():
    result = run_cli("styles", "--json")
    styles = {s["id"]: s for s in json.loads(result.stdout)}
    assert styles["starry-night"]["artist"] == "Vincent van Gogh"
    assert styles["palette-01"]["methods"] == ["fast"]


@pytest.mark.slow
def test_compare_writes_a_report_with_both_methods(photo, tmp_path):
    out = tmp_path / "report"
    code = main(
        [
            "compare",
            str(photo),
            "--style",
            "starry-night",
            "--size",
            "96",
            "--iterations",
            "20",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    report = json.loads((out / "comparison.json").read_text())
    fast, gatys = report["methods"]["fast"], report["methods"]["gatys"]
    assert gatys["seconds"] > fast["seconds"] > 0
    for method in (fast, gatys):  # both really paint: far closer to the painting's statistics than the photo
        assert 0 < method["style_loss"] < 0.5 * report["photo_style_loss"]
        assert method["content_loss"] > 0
    assert Image.open(out / "comparison.png").width > 3 * 96
    assert "Fast network vs Gatys" in (out / "comparison.html").read_text()


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, portrait) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad")
    jpeg = jpeg_bytes(portrait)
    files = {
        "empty.jpg": b"",
        "text.jpg": b"just some words",
        "truncated.jpg": jpeg[: len(jpeg) // 3],
        "bomb.png": png_header(60000, 60000),
    }
    for name, payload in files.items():
        (folder / name).write_bytes(payload)
    return {name: folder / name for name in files}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{bad:empty.jpg}", "--style", "starry-night"], "empty"),
        (["{bad:text.jpg}", "--style", "starry-night"], "not an image"),
        (["{bad:truncated.jpg}", "--style", "starry-night"], "truncated"),
        (["{bad:bomb.png}", "--style", "starry-night"], "too large"),
        (["/no/such/file.jpg", "--style", "starry-night"], "file not found"),
        (["{photo}", "--style", "mona-lisa"], "unknown style 'mona-lisa'"),
        (["{photo}"], "choose a style"),
        (["{photo}", "--style", "starry-night", "--size", "5"], "--size must be between"),
        (["{photo}", "--style", "starry-night", "--strength", "1.5"], "strength"),
        (["{photo}", "--style", "palette-01", "--method", "gatys"], "cannot run as a masterpiece"),
        (["{photo}", "--style", "starry-night,palette-01"], "cannot be blended"),
        (["{photo}", "--style", "starry-night", "--method", "gatys", "--iterations", "0"], "iterations"),
        (["{photo}", "--style-image", "{bad:text.jpg}"], "not an image"),
    ],
)
def test_bad_input_gives_one_clear_error_and_writes_nothing(args, message, photo, bad_files, tmp_path, capsys):
    out = tmp_path / "out.png"
    args = [a.replace("{photo}", str(photo)) for a in args]
    args = [str(bad_files[a[5:-1]]) if a.startswith("{bad:") else a for a in args]
    assert main(["stylize", *args, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_bad_output_name_is_refused(photo, tmp_path, capsys):
    assert main(["stylize", str(photo), "--style", "starry-night", "-o", str(tmp_path / "out.bmp")]) == 2
    assert "must end in .png" in capsys.readouterr().err


@pytest.mark.slow
def test_train_command_exports_a_style_the_catalogue_serves(tmp_path, monkeypatch, capsys):
    from skimage import data

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("astronaut", "coffee"):
        Image.fromarray(getattr(data, name)()).save(photos / f"{name}.jpg")
    style = MODELS / "paintings" / "the-scream" / "style.jpg"
    monkeypatch.setenv("PORTRAIT_MODELS_DIR", str(tmp_path / "models"))
    from style_server.config import get_settings

    get_settings.cache_clear()
    args = [
        "train",
        "--style",
        str(style),
        "--content-dir",
        str(photos),
        "--id",
        "scream-test",
        "--name",
        "Scream",
        "--artist",
        "Edvard Munch",
        "--iterations",
        "3",
        "--image-size",
        "64",
        "--width",
        "8",
        "--batch-size",
        "1",
        "--work-dir",
        str(tmp_path / "work"),
    ]
    assert main(args) == 0
    assert "trained scream-test: 3 steps" in capsys.readouterr().out
    assert main(["styles", "--json"]) == 0
    styles = {s["id"]: s for s in json.loads(capsys.readouterr().out)}
    assert styles["scream-test"]["kind"] == "trained" and styles["scream-test"]["training"]["iterations"] == 3
    out = tmp_path / "painted.png"
    assert (
        main(
            [
                "stylize",
                str(ROOT / "booth_client" / "assets" / "demo_portrait.jpg"),
                "-o",
                str(out),
                "--style",
                "scream-test",
                "--size",
                "64",
            ]
        )
        == 0
    )
    assert Image.open(out).size == (64, 64)


def test_gatys_and_training_options_are_built_from_their_parameter_models(capsys):
    """Every scalar field of GatysParams / TrainParams is an option with its description as help, and parsed
    options become those fields (declared once: the models)."""
    from style_server.cli import build_parser
    from style_server.cli.options import GATYS_OWN_OPTIONS, gatys_params, model_values
    from style_server.engine.params import GatysParams, TrainParams

    parser = build_parser()
    args = parser.parse_args(
        ["stylize", "in.jpg", "-o", "out.png", "--early-stop-patience", "3", "--no-multiscale", "--optimizer", "adam"]
    )
    params = gatys_params(args, 96)
    assert (params.early_stop_patience, params.multiscale, params.optimizer, params.size) == (3, False, "adam", 96)
    assert params.iterations == GatysParams().iterations  # not given: the model's default
    required = ["--style", "s.jpg", "--content-dir", "c", "--id", "x", "--name", "n", "--artist", "a"]
    train = parser.parse_args(["train", *required, "--batch-size", "2", "--seed", "5"])
    assert model_values(train, TrainParams) == {"batch_size": 2, "seed": 5}
    with pytest.raises(SystemExit):
        parser.parse_args(["stylize", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for name, field in GatysParams.model_fields.items():
        if name not in GATYS_OWN_OPTIONS and field.annotation in (int, float, bool):
            assert f"--{name.replace('_', '-')}" in help_text
            assert field.description and " ".join(field.description.split()) in help_text
