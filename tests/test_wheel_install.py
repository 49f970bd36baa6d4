"""A GPU host installed from the wheel, not the checkout, paints: the wheel carries every file the
server needs at run time (style cards, thumbnails, paintings, trained weights), and ``serve`` refuses to start with
nothing to paint."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.harness import ServerProcess, free_port, post_demo_job, wait_for_state

pytestmark = pytest.mark.slow  # end to end: started first when the tests run in parallel

PACKAGES = ("shared", "style_server", "booth_client", "portrait_booth", "research")


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a fresh shell: no PYTHONPATH, no PORTRAIT_* settings of the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTRAIT_") and k != "PYTHONPATH"}
    return {**env, **extra}


def _run(command: list, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory) -> Path:
    """A virtual environment with the project's wheel installed, built from a copy of the sources (the build never
    writes into the checkout). The heavy dependencies (torch, OpenCV, ...) come from the test environment's
    site-packages through a plain path entry, which does not run that folder's editable-install hook: nothing of the
    checkout is importable there."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", work / "dist", source], check=True)
    [wheel] = (work / "dist").glob("portrait_booth-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    subprocess.run([*pip, "--python", venv / "bin" / "python", "install", "--no-deps", "--no-index", wheel], check=True)
    [site] = (venv / "lib").glob("python3.*/site-packages")
    (site / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_the_wheel_runs_from_its_own_installation(wheel_env, tmp_path):
    """The server and ``research`` (which the CLI's ``compare`` and ``study`` import) both come from the wheel."""
    done = _run(
        [
            wheel_env / "bin" / "python",
            "-c",
            "import style_server, research; print(style_server.__file__, research.__file__)",
        ],
        tmp_path,
        _clean_env(),
    )
    assert done.returncode == 0, done.stderr
    wheres = done.stdout.split()
    assert len(wheres) == 2
    for where in wheres:
        assert Path(where).is_relative_to(wheel_env) and not Path(where).is_relative_to(ROOT)


def test_a_server_installed_from_the_wheel_lists_the_styles_and_paints(wheel_env, tmp_path, cache_dir, inbox):
    listed = _run([wheel_env / "bin" / "style-server", "styles", "--json"], tmp_path, _clean_env())
    assert listed.returncode == 0, listed.stderr
    styles = {card["id"] for card in json.loads(listed.stdout)}
    assert len(styles) >= 30 and {"starry-night", "palette-05"} <= styles
    server = ServerProcess(tmp_path / "data", cache_dir, inbox.port, script=wheel_env / "bin" / "style-server")
    server.env = _clean_env(**{k: v for k, v in server.env.items() if k.startswith("PORTRAIT_")})
    server.start()
    try:
        job = post_demo_job(server, "starry-night").model_dump()
        with server.client() as client:
            assert wait_for_state(client, job, {"done", "failed"})["state"] == "done"
            painting = client.get(f"/v1/jobs/{job['id']}/result", headers={"X-Job-Token": job["token"]})
        assert painting.status_code == 200 and painting.content[:3] == b"\xff\xd8\xff"
    finally:
        server.stop()


@pytest.mark.parametrize("models", ["empty", "missing"])
def test_serve_refuses_to_start_with_nothing_to_paint(tmp_path, models):
    folder = tmp_path / "models"
    if models == "empty":
        folder.mkdir()
    env = _clean_env(PORTRAIT_MODELS_DIR=str(folder), PORTRAIT_DATA_DIR=str(tmp_path / "data"))
    env["PORTRAIT_PORT"] = str(free_port())
    for command in (["serve"], ["worker", "--lanes", "fast"]):
        done = _run([Path(sys.executable).parent / "style-server", *command], tmp_path, env)
        assert done.returncode == 2, done.stderr
        [line] = done.stderr.strip().splitlines()
        assert line.startswith("error: no style to paint") and str(folder) in line


def test_serve_names_a_broken_style_card_in_one_line(tmp_path):
    card = tmp_path / "models" / "broken" / "card.json"
    card.parent.mkdir(parents=True)
    card.write_text('{"id": "broken", "name": "Broken"')  # cut off
    env = _clean_env(PORTRAIT_MODELS_DIR=str(tmp_path / "models"), PORTRAIT_DATA_DIR=str(tmp_path / "data"))
    done = _run(
        [Path(sys.executable).parent / "style-server", "serve"], tmp_path, {**env, "PORTRAIT_PORT": str(free_port())}
    )
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and str(card) in line
