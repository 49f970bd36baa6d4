"""Shared fixtures: a real portrait, a real painting, the real offline VGG and the real catalogue."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "style_server" / "models"


@pytest.fixture(scope="session")
def portrait() -> Image.Image:
    """scikit-image's astronaut: a real, public-domain portrait (512 x 512)."""
    from skimage import data

    return Image.fromarray(data.astronaut())


@pytest.fixture(scope="session")
def small_portrait(portrait) -> Image.Image:
    return portrait.resize((128, 128), Image.Resampling.LANCZOS)


@pytest.fixture(scope="session")
def starry_night() -> Image.Image:
    return Image.open(MODELS / "paintings" / "starry-night" / "style.jpg").convert("RGB")


@pytest.fixture(scope="session")
def video(tmp_path_factory) -> Path:
    """The kiosk's camera in tests: the demo video of a real portrait, opened like a webcam."""
    from booth_client.demo import make_demo_video

    return make_demo_video(tmp_path_factory.mktemp("camera") / "webcam.avi")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def engine(cache_dir):
    from style_server.engine.runtime import Engine

    return Engine(MODELS, cache_dir, device="cpu")


@pytest.fixture(scope="session")
def vgg(engine):
    return engine.vgg()[0]


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    """A real SMTP server (aiosmtpd) on loopback, one per test module."""
    from tests.harness import Inbox

    box = Inbox(tmp_path_factory.mktemp("inbox")).start()
    yield box
    box.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, cache_dir, inbox):
    """A real style server (uvicorn on 127.0.0.1) delivering to ``inbox``, one per test module."""
    from tests.harness import ServerProcess

    proc = ServerProcess(tmp_path_factory.mktemp("data"), cache_dir, inbox.port).start()
    yield proc
    proc.stop()
