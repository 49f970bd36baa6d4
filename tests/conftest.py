"""Shared fixtures: a real portrait, a real painting, the real offline VGG and the real catalogue."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# README's command runs six test processes on two cores: one compute thread each (and in the servers they start),
# so torch's threads do not spin against each other.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _own_port_slice() -> None:
    """Each xdist worker picks server ports from its own slice of 10000 up to the kernel's outgoing range: two
    workers starting servers at once never choose the same port between choosing and binding it."""
    from portrait_booth.loopback import server_ports

    worker, count = os.environ.get("PYTEST_XDIST_WORKER", ""), os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if not worker.startswith("gw") or not count:
        return
    low, high = server_ports()
    size = (high - low) // int(count)
    start = low + int(worker[2:]) * size
    os.environ["PORTRAIT_FREE_PORTS"] = f"{start}-{start + size}"


_own_port_slice()
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


# -- running in parallel (pytest-xdist, README's test command) -------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: an end-to-end test of half a minute or more on 2 cores; its module runs first"
    )


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that share a module's fixture (a server, an inbox) run on one worker, so each module starts its
    fixtures once; the slow tests go first, so the long ones do not end the run alone."""
    for item in items:
        if _shares_module_fixtures(item):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
    slow_modules = {item.module for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.module not in slow_modules)  # stable: a module's tests stay together


def _shares_module_fixtures(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(d.scope in ("module", "class") for defs in info.name2fixturedefs.values() for d in defs)
