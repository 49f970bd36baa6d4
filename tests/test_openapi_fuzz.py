"""Schemathesis explores every operation of the OpenAPI schema of a live server: nothing may cause a 5xx."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.harness import API_KEY, ServerProcess, free_port

pytestmark = pytest.mark.slow  # end to end: started first when the tests run in parallel


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
                "60",
                "--no-color",
                "--phases",
                "examples,coverage,fuzzing",
            ],
            capture_output=True,
            text=True,
            timeout=400,
            cwd=tmp_path,  # schemathesis keeps a cache folder in its working directory
        )
        report = result.stdout[-4000:] + result.stderr[-2000:]
        assert result.returncode == 0, report
        # the summary must say every generated case passed: "Test cases: N generated, N passed" and nothing else
        counts = re.search(r"Test cases:\s*\n\s*(\d+) generated, (\d+) passed(.*)", result.stdout)
        assert counts, report
        generated, passed, rest = int(counts[1]), int(counts[2]), counts[3]
        assert generated == passed and generated >= 100 and not rest.strip(), report
        assert not re.search(r"(?im)^\s*(failures|errors):|\bfailed\b|\berrored\b", result.stdout), report
        assert httpx.get(f"{server.url}/healthz").status_code == 200
    finally:
        server.stop()
