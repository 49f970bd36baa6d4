"""The compose files checked by real validators: the official compose-spec JSON schema (vendored in
deploy/compose-spec.schema.json) with check-jsonschema, on the model compose builds (variables interpolated, files
merged); and ``docker compose config`` too where this machine has a Compose v2 CLI (it needs no engine).

One host (docker-compose.yml) needs only PORTRAIT_API_KEYS; the scaled-out booth (docker-compose.yml +
compose.scale.yaml) needs its own variables and stops with a line naming the one that is missing."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.compose_model import (
    BASE,
    SCALE,
    InterpolationError,
    docker_compose,
    interpolate,
    load,
    model,
    schema_problems,
)

KEYS = {"PORTRAIT_API_KEYS": '{"kiosk-1": "k1-0123456789abcdefghijklmnop"}'}
SCALE_VARS = {"PORTRAIT_NATS_PASSWORD": "-12-3$x_pw", "PORTRAIT_SCALE_CERTS": "/srv/booth-certs"}


def test_one_host_needs_only_an_api_key_and_is_valid(tmp_path):
    one_host = model(KEYS, BASE)  # before: stopped on PORTRAIT_SCALE_CERTS, a scale-out variable
    assert set(one_host["services"]) == {"style-server", "mail"}
    assert schema_problems(tmp_path, one_host=one_host) == ""
    with pytest.raises(InterpolationError, match="PORTRAIT_API_KEYS is missing a value: set PORTRAIT_API_KEYS"):
        model({}, BASE)


def test_the_scaled_out_booth_is_valid_with_its_variables(tmp_path):
    env = KEYS | SCALE_VARS
    scale_alone = interpolate(load(SCALE), env)  # compose validates each file, then the merged project
    assert schema_problems(tmp_path, scale_alone=scale_alone, merged=model(env, BASE, SCALE)) == ""


@pytest.mark.parametrize("missing", ["PORTRAIT_NATS_PASSWORD", "PORTRAIT_SCALE_CERTS", "PORTRAIT_API_KEYS"])
def test_the_scaled_out_booth_without_a_variable_stops_with_a_clear_line(missing):
    env = {k: v for k, v in (KEYS | SCALE_VARS).items() if k != missing}
    with pytest.raises(InterpolationError, match=f"required variable {missing} is missing a value: set {missing}"):
        model(env, BASE, SCALE)


def test_the_schema_check_refuses_a_broken_file(tmp_path):
    broken = model(KEYS, BASE)
    broken["services"]["style-server"]["enviroment"] = {"PORTRAIT_DEVICE": "cuda"}  # a typo compose refuses
    assert "enviroment" in schema_problems(tmp_path, broken=broken)


def _compose_config(env: dict[str, str], *files) -> subprocess.CompletedProcess:
    command = docker_compose()
    if command is None:
        pytest.skip("no Compose v2 CLI on this machine (the schema tests above validate the files)")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PORTRAIT_", "COMPOSE_"))}
    args = [arg for path in files for arg in ("-f", str(path))]
    return subprocess.run(
        [*command, *args, "config", "-q"], env=clean | env, capture_output=True, text=True, timeout=60, check=False
    )


def test_docker_compose_config_accepts_one_host_with_only_a_key():
    assert _compose_config(KEYS, BASE).returncode == 0


def test_docker_compose_config_accepts_the_scaled_out_booth():
    result = _compose_config(KEYS | SCALE_VARS, BASE, SCALE)
    assert result.returncode == 0, result.stderr


def test_docker_compose_config_names_the_missing_scale_variable():
    result = _compose_config(KEYS | {"PORTRAIT_SCALE_CERTS": "/srv/booth-certs"}, BASE, SCALE)
    assert result.returncode != 0 and "PORTRAIT_NATS_PASSWORD is missing a value" in result.stderr
