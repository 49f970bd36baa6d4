"""Errors a person can act on, and a quiet stop: a NATS URL that cannot be reached is named in
one line (exit 2, no traceback); SIGTERM, as a service manager sends it, stops every service within its grace
period with exit status 0 and no ERROR line (serve, a worker, the mailer, ``portrait-booth up``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from portrait_booth.loopback import wait_ready
from tests.harness import GRACE_SECONDS, ServerProcess, free_port, nats_booth

SCRIPTS = Path(sys.executable).parent


def _errors(log: str) -> list[str]:
    """ERROR lines: the server's structured ones and plain tracebacks."""
    return [line for line in log.splitlines() if '"level": "error"' in line or line.startswith(("ERROR", "Traceback"))]


def _stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(GRACE_SECONDS)


def test_serve_stops_cleanly_on_sigterm(tmp_path, cache_dir, inbox):
    server = ServerProcess(tmp_path / "data", cache_dir, inbox.port).start()
    assert _stop(server.proc) == 0
    assert _errors(server.log.read_text()) == []


@pytest.mark.slow
def test_an_api_node_a_worker_and_the_mailer_stop_cleanly_on_sigterm(tmp_path, cache_dir, inbox):
    booth = nats_booth(tmp_path, cache_dir, inbox.port)
    try:
        for proc in [*booth.workers, *booth.mailers, *booth.api_nodes]:
            assert _stop(proc.proc) == 0, proc.log.read_text()[-2000:]
            assert _errors(proc.log.read_text()) == [], proc.log
    finally:
        booth.stop()


def test_portrait_booth_up_stops_cleanly_on_sigterm(tmp_path):
    log = tmp_path / "up.log"
    port = free_port()
    ports = ["--port", str(port), "--smtp-port", str(free_port())]
    up = subprocess.Popen(
        [SCRIPTS / "portrait-booth", "up", "--headless", *ports, "--data", str(tmp_path / "booth")],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if not k.startswith("PORTRAIT_")},
    )
    wait_ready(f"http://127.0.0.1:{port}", up, 180)
    assert _stop(up) == 0, log.read_text()[-3000:]
    assert _errors(log.read_text()) == []


@pytest.mark.parametrize("command", [["serve", "--backend", "nats"], ["worker"], ["mailer"]])
@pytest.mark.parametrize(
    "url",
    ["nats://127.0.0.1:{closed}", "tls://booth:s3cret-pw@booth-host.invalid:4222"],
    ids=["refused", "unresolvable"],
)
def test_a_nats_url_that_cannot_be_reached_is_named_in_one_line(tmp_path, command, url):
    url = url.format(closed=free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTRAIT_")}
    env |= {"PORTRAIT_NATS_URL": url, "PORTRAIT_DATA_DIR": str(tmp_path), "PORTRAIT_PORT": str(free_port())}
    done = subprocess.run(
        [SCRIPTS / "style-server", *command], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    host = url.rsplit("@", 1)[-1].split("//")[-1]
    assert line.startswith("error: ") and host in line and "PORTRAIT_NATS_URL" in line, line
    assert "s3cret-pw" not in line  # the password is not printed
