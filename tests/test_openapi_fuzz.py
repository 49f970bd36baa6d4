"""Schemathesis explores every operation of the OpenAPI schema of a live server: nothing may cause a 5xx."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.harness import API_KEY, ServerProcess, free_port


def test_schemathesis_finds_no_server_error(tmp_path, cache_dir):
    server = ServerProcess(tmp_path / "data", cache_dir, free_port(), rate_limit_per_minute=100_000).start()
    try:
        st = Path(sys.executable).parent / "st"
        result = subprocess.run(
            [
                str(st),
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                "not_a_server_error",
                "-H",
                f"Authorization: Bearer {API_KEY}",
                "--max-examples",
                "10",
                "--request-timeout",
                "60",
                "--max-time",
                "90",
                "--no-color",
                "--phases",
                "examples,coverage,fuzzing",
            ],
            capture_output=True,
            text=True,
            timeout=400,
            cwd=tmp_path,  # schemathesis keeps a cache folder in its working directory
        )
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        assert "No issues found" in result.stdout or "passed" in result.stdout.lower()
        assert httpx.get(f"{server.url}/healthz").status_code == 200
    finally:
        server.stop()
