"""``style-server study`` end to end at a tiny size: real portrait, real networks, real VGG, real face detector."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from research.study import CELL_HEADER, SUMMARY_HEADER
from style_server.cli import main
from style_server.engine.transformer import TransformNet, save_transform_net
from tests.conftest import MODELS

pytestmark = pytest.mark.slow  # end to end: started first when the tests run in parallel

FACE_RATE = re.compile(r"^(\d\.\d\d) \((\d+)/(\d+)\)$")


@pytest.fixture
def study_env(tmp_path, cache_dir, portrait, monkeypatch) -> dict[str, Path]:
    """A portraits folder with the astronaut and a models folder with two of the catalogue's paintings, one with
    a Johnson network."""
    portraits = tmp_path / "portraits"
    portraits.mkdir()
    portrait.resize((160, 160)).save(portraits / "astronaut.jpg")
    (portraits / "notes.txt").write_text("not a portrait: left alone")
    models = tmp_path / "models"
    for painting in ("starry-night", "the-scream"):
        folder = shutil.copytree(MODELS / "paintings" / painting, models / "paintings" / painting)
        card = json.loads((folder / "card.json").read_text())
        card.pop("johnson", None)
        if painting == "starry-night":  # a Johnson network of its own (small, untrained): the-scream has none
            torch.manual_seed(0)
            save_transform_net(TransformNet(width=8), folder / "johnson.safetensors")
            card["johnson"] = {"weights": "johnson.safetensors", "steps": 0}
        (folder / "card.json").write_text(json.dumps(card))
    monkeypatch.setenv("PORTRAIT_MODELS_DIR", str(models))
    monkeypatch.setenv("PORTRAIT_CACHE_DIR", str(cache_dir))
    from style_server.config import get_settings

    get_settings.cache_clear()
    yield {"portraits": portraits, "models": models, "out": tmp_path / "report"}
    get_settings.cache_clear()


def markdown_table(text: str, heading: str) -> tuple[list[str], list[list[str]]]:
    lines = text.split(f"## {heading}\n\n", 1)[1].split("\n")
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    header, rule, *body = rows
    assert rule == ["---"] * len(header)
    return header, body


def test_study_paints_every_portrait_style_and_method_and_writes_the_table(study_env, capsys, monkeypatch):
    from style_server.config import get_settings

    out = study_env["out"]
    common = ["study", "--portraits", str(study_env["portraits"]), "-o", str(out)]
    code = main([*common, "--styles", "starry-night,the-scream", "--sizes", "96", "--iterations", "5"])
    assert code == 0
    assert "report:" in capsys.readouterr().out
    # a second, smaller run added to the same report (how the committed study adds its 512 px set)
    monkeypatch.setenv("PORTRAIT_GATYS_ITERATIONS", "4")  # the server's masterpiece iterations, unless given
    get_settings.cache_clear()
    code = main([*common, "--styles", "starry-night", "--sizes", "128", "--methods", "arbitrary,gatys", "--append"])
    assert code == 0

    report = json.loads((out / "study.json").read_text())
    assert len(report["runs"]) == 2
    assert report["runs"][0]["gatys"]["iterations"] == 5
    assert report["runs"][0]["gatys"]["face_protect"] is True  # the booth's default
    assert report["runs"][1]["gatys"]["iterations"] == 4
    cells = report["cells"]
    assert [(c["size"], c["style"], c["method"]) for c in cells] == [
        (96, "starry-night", "arbitrary"),
        (96, "starry-night", "johnson"),
        (96, "starry-night", "gatys"),
        (96, "the-scream", "arbitrary"),
        (96, "the-scream", "johnson"),
        (96, "the-scream", "gatys"),
        (128, "starry-night", "arbitrary"),
        (128, "starry-night", "gatys"),
    ]
    for cell in cells:
        assert cell["portrait"] == "astronaut"
        assert cell["face_in_photo"] is True  # the real detector finds her face at 96 and 128 px
        if (cell["style"], cell["method"]) == ("the-scream", "johnson"):  # no Johnson network for this one
            assert cell["status"] == "not trained"
            assert cell["seconds"] is cell["style_loss"] is cell["face_in_result"] is cell["image"] is None
            continue
        assert cell["status"] == "ok"
        assert 0 < cell["seconds"] < 600
        assert math.isfinite(cell["content_loss"]) and cell["content_loss"] > 0
        assert math.isfinite(cell["style_loss"]) and cell["style_loss"] > 0
        if cell["method"] != "johnson":  # really painted: far closer to the painting's statistics than the photo
            assert cell["style_loss"] < 0.5 * cell["photo_style_loss"]
        with Image.open(out / cell["image"]) as painted:
            assert max(painted.size) == cell["size"]

    summary = [(s["method"], s["size"], s["runs"], s["not_trained"]) for s in report["summary"]]
    assert summary == [
        ("arbitrary", 96, 2, 0),
        ("johnson", 96, 1, 1),
        ("gatys", 96, 2, 0),
        ("arbitrary", 128, 1, 0),
        ("gatys", 128, 1, 0),
    ]
    for row in report["summary"]:
        painted = [c for c in cells if (c["method"], c["size"], c["status"]) == (row["method"], row["size"], "ok")]
        assert row["faces_in_photos"] == len(painted)
        assert row["faces_kept"] == sum(c["face_in_result"] for c in painted)
        assert 0 <= row["face_rate"] <= 1
        assert row["face_rate"] == row["faces_kept"] / row["faces_in_photos"]
        seconds = sorted(c["seconds"] for c in painted)
        assert seconds[0] <= row["median_seconds"] <= seconds[-1]

    md = (out / "study.md").read_text()
    header, rows = markdown_table(md, "Medians per method and size")
    assert header == SUMMARY_HEADER
    assert [r[:3] for r in rows] == [
        ["arbitrary fast", "96", "2"],
        ["Johnson fast", "96", "1 (+1 not trained)"],
        ["Gatys", "96", "2"],
        ["arbitrary fast", "128", "1"],
        ["Gatys", "128", "1"],
    ]
    for row in rows:
        assert len(row) == len(SUMMARY_HEADER)
        assert all(math.isfinite(float(v)) and float(v) > 0 for v in row[3:6])
        rate, kept, found = FACE_RATE.match(row[6]).groups()
        assert 0 <= float(rate) <= 1 and int(kept) <= int(found) == int(row[2].split()[0])
        assert row[7] == "-"  # the likeness judge has not run (bench/judge_study.py)
    header, rows = markdown_table(md, "Every painting")
    assert header == CELL_HEADER and len(rows) == len(cells)
    assert rows[4] == ["astronaut", "the-scream", "96", "Johnson fast", *["not trained"] * 5]
    assert all(r[-1] == "-" for r in rows if r[4] != "not trained")
    assert [r[3] for r in rows[:3]] == ["arbitrary fast", "Johnson fast", "Gatys"]
    assert "not trained" not in rows[1]
    assert "2 runs" not in md and md.count("Run of ") == 2

    page = (out / "study.html").read_text()
    assert page.count("<tr>") == 1 + len(rows) + 1 + len(report["summary"])
    for size, columns, pairs in ((96, 5, 2), (128, 4, 1)):  # photo, painting, then one column per method
        assert f'src="contact-{size}.jpg"' in page and f"(contact-{size}.jpg)" in md
        with Image.open(out / f"contact-{size}.jpg") as sheet:
            assert sheet.size == (6 + columns * (160 + 6), 6 + pairs * (160 + 30 + 6))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--portraits", "{empty}"], "no portraits"),
        (["--sizes", "256,big"], "--sizes takes whole numbers"),
        (["--sizes", "32"], "--sizes must be between 64"),
        (["--methods", "arbitrary,magic"], "--methods: choose from arbitrary, johnson, gatys"),
        (["--tile", "0"], "--tile must be between 32"),
        (["--styles", "palette-01"], "unknown style 'palette-01'"),
        (["--styles", "starry-night", "--iterations", "0"], "iterations"),
    ],
)
def test_study_refuses_bad_input_with_one_clear_message(args, message, study_env, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [a.replace("{empty}", str(empty)) for a in args]
    if "--portraits" not in args:
        args = ["--portraits", str(study_env["portraits"]), *args]
    assert main(["study", *args, "-o", str(study_env["out"])]) == 2
    assert message in capsys.readouterr().err
    assert not study_env["out"].exists()  # nothing written
