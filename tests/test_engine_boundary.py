"""The engine takes what it needs as arguments: only the CLI and the service read settings."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import MODELS, ROOT

ENGINE = ROOT / "style_server" / "engine"
READS_SETTINGS = re.compile(
    r"\bconfig\b.*\bimport\b|\bimport\b.*\bconfig\b|get_settings|\bPORTRAIT_|\benviron\b|getenv"
)


def test_no_engine_module_reads_settings_or_the_environment():
    offenders = []
    for path in sorted(ENGINE.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if READS_SETTINGS.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


POISONED_RUN = """
import importlib, pkgutil, sys
from pathlib import Path
import style_server.engine as engine_package
for module in pkgutil.walk_packages(engine_package.__path__, "style_server.engine."):
    importlib.import_module(module.name)
assert "style_server.config" not in sys.modules, "the engine imported the server's settings"
from style_server.engine.runtime import Engine
engine = Engine(Path(sys.argv[1]), Path(sys.argv[2]), device="cpu")
net, source = engine.vgg()
assert "style_server.config" not in sys.modules, "the engine imported the server's settings"
print(engine.device.type, source.origin)
"""


def test_the_engine_uses_its_arguments_in_a_poisoned_environment(tmp_path):
    """Every PORTRAIT_ variable points somewhere wrong: an engine that read them would fail or write there."""
    poison = tmp_path / "poison"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTRAIT_", "TORCH_HOME"))}
    env.update(
        PORTRAIT_CACHE_DIR=str(poison / "cache"),
        PORTRAIT_MODELS_DIR=str(poison / "models"),
        PORTRAIT_DEVICE="cuda:99",
        PORTRAIT_VGG_WEIGHTS=str(poison / "vgg.safetensors"),
        PORTRAIT_API_KEYS="not json",  # the settings object itself would refuse to load
        TORCH_HOME=str(tmp_path / "torch-home"),  # torch's own cache: empty, so the offline VGG is converted
    )
    cache = tmp_path / "cache"
    run = subprocess.run(
        [sys.executable, "-c", POISONED_RUN, str(MODELS), str(cache)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.startswith("cpu ")
    assert [p.name for p in cache.iterdir()]  # the converted loss network went where the caller said
    assert not poison.exists()
