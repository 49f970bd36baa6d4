"""The compose files as ``docker compose`` reads them, for the tests: YAML (anchors and ``<<`` merge keys),
variables interpolated by the Compose specification's rules, ``-f a -f b`` files merged. The result is what the
compose-spec JSON schema validates (deploy/compose-spec.schema.json) and what the containers get."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT

BASE = ROOT / "docker-compose.yml"
SCALE = ROOT / "compose.scale.yaml"
SCHEMA = ROOT / "deploy" / "compose-spec.schema.json"
# $$, ${NAME}, ${NAME<op>arg} with op one of :- - :? ? :+ +, or $NAME (the Compose specification, "Interpolation")
_VARIABLE = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


class InterpolationError(ValueError):
    pass


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def _substitute(text: str, env: dict[str, str]) -> str:
    def one(match: re.Match) -> str:
        escaped, name, op, arg, bare = match.groups()
        if escaped:
            return "$"
        name = name or bare
        value = env.get(name)
        unset = value is None or (op is not None and op.startswith(":") and value == "")
        if op in ("?", ":?") and unset:
            raise InterpolationError(f"required variable {name} is missing a value: {arg}")
        if op in ("-", ":-"):
            return arg if unset else value
        if op in ("+", ":+"):
            return "" if unset else arg
        return value or ""

    return _VARIABLE.sub(one, text)


def interpolate(model: Any, env: dict[str, str]) -> Any:
    """Every string value with the variables filled in (keys stay as written), as compose does before validating."""
    if isinstance(model, dict):
        return {key: interpolate(value, env) for key, value in model.items()}
    if isinstance(model, list):
        return [interpolate(value, env) for value in model]
    return _substitute(model, env) if isinstance(model, str) else model


def merge(base: Any, override: Any) -> Any:
    """``-f base -f override``: mappings merged key by key, anything else replaced by the override."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{key: merge(base.get(key), value) for key, value in override.items()}}
    return override


def model(env: dict[str, str], *files: Path) -> dict[str, Any]:
    """The project compose builds from ``files`` with the environment ``env`` (raises InterpolationError)."""
    merged: dict[str, Any] = {}
    for path in files:
        merged = merge(merged, interpolate(load(path), env))
    return merged


def schema_problems(folder: Path, **models: dict[str, Any]) -> str:
    """check-jsonschema's verdict on each model against the vendored compose-spec schema ("" when all valid)."""
    paths = []
    for name, value in models.items():
        path = folder / f"{name}.json"
        path.write_text(json.dumps(value))
        paths.append(str(path))
    beside = Path(sys.executable).parent / "check-jsonschema"  # the test environment's, from the dev extra
    checker = str(beside) if beside.exists() else shutil.which("check-jsonschema") or "check-jsonschema"
    result = subprocess.run(
        [checker, "--schemafile", str(SCHEMA), *paths], capture_output=True, text=True, timeout=120, check=False
    )
    return "" if result.returncode == 0 else result.stdout + result.stderr


def docker_compose() -> list[str] | None:
    """A Compose v2 CLI if this machine has one (``docker compose`` or a v2 ``docker-compose``); it needs no engine
    for ``config``."""
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        found = subprocess.run([*command, "version"], capture_output=True, text=True, timeout=30, check=False)
        if found.returncode == 0 and re.search(r"\bv?2\.\d+", found.stdout):
            return command
    return None
