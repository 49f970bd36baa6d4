"""``portrait-booth up`` on a machine like a new user's: no GPU, no webcam, no internet."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import ROOT
from tests.harness import free_port, wait_until


@pytest.mark.slow
def test_one_command_brings_up_server_inbox_and_kiosk_with_demo_camera(tmp_path, cache_dir):
    port, smtp = free_port(), free_port()
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "DISPLAY": os.environ.get("DISPLAY", ":0"),
        "PORTRAIT_CACHE_DIR": str(cache_dir),
        "PORTRAIT_KIOSK_CONFIG": str(tmp_path / "named" / "kiosk.json"),  # honoured, as booth-client does
    }
    launcher = Path(sys.executable).parent / "portrait-booth"
    proc = subprocess.Popen(
        [str(launcher), "up", "--port", str(port), "--smtp-port", str(smtp), "--data", str(tmp_path / "data")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        kiosk = tmp_path / "named" / "kiosk.json"
        while not kiosk.is_file():
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline
            time.sleep(0.3)
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
        config = json.loads(kiosk.read_text())
        assert config["server_url"] == f"http://127.0.0.1:{port}"
        assert config["camera"].endswith("demo-camera.avi") and "Demo mode" in config["demo_note"]
        styles = tmp_path / "data" / "styles-cache" / "styles.json"  # the kiosk window is up and heard the server
        wait_until(lambda: styles.is_file() or proc.poll() is not None, lambda: "the kiosk never loaded the styles")
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=40)
    assert proc.returncode == 0, output[-3000:]
    assert not (tmp_path / "data" / "kiosk.json").exists()  # only the named file is written, none in the data folder
    assert "no webcam found" in output and "style server: ready" in output


def test_compose_file_describes_the_gpu_host():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    server = compose["services"]["style-server"]
    [device] = server["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert "healthcheck" in server and "healthcheck" in compose["services"]["mail"]
    assert any(v.endswith(":/data") for v in server["volumes"])
    assert not any("models" in v for v in server["volumes"])  # the styles ship inside the installed package
    assert server["depends_on"]["mail"]["condition"] == "service_healthy"
    assert (ROOT / server["build"]["dockerfile"]).is_file()


def test_a_second_booth_on_the_same_ports_says_so_in_one_line(tmp_path):
    """``portrait-booth up`` twice: the second one names the busy port and what to do, no traceback."""
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        busy = held.getsockname()[1]
        launcher = Path(sys.executable).parent / "portrait-booth"
        args = ["up", "--headless", "--port", str(free_port()), "--smtp-port", str(busy), "--data", str(tmp_path)]
        done = subprocess.run([str(launcher), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"port {busy} (inbox) is already in use" in done.stderr and "Traceback" not in done.stderr + done.stdout
