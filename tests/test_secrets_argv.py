"""No secret on a command line: anyone on the machine reads every process's argv (``ps``, /proc/<pid>/cmdline).
The NATS password and the kiosks' keys travel in 0600 files or the environment; these tests start the processes
for real and read the command line of each, and of everything they started."""

from __future__ import annotations

import os
import secrets
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from portrait_booth.loopback import wait_ready
from portrait_booth.scaleout import NatsCluster, NatsServer, ScaledBooth
from scripts.scale_certs import make_certs
from tests.harness import ServerProcess, free_port

pytestmark = pytest.mark.slow  # end to end: started first when the tests run in parallel

PASSWORD = "-12-3$" + secrets.token_urlsafe(24)  # unquoted in a nats configuration, a number, a date, a variable


def _family(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += parents.get(current, [])
    return found


def _command_lines(pids: list[int]) -> dict[int, str]:
    lines = {}
    for root in pids:
        for pid in _family(root):
            try:
                lines[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
    return lines


def test_a_secure_nats_cluster_and_the_booths_processes_show_no_password(tmp_path):
    certs = tmp_path / "certs"
    make_certs(certs, [])
    secure = (certs / "nats.pem", certs / "nats-key.pem", "booth", PASSWORD)
    single = NatsServer(tmp_path / "single", secure=secure).start()
    cluster = NatsCluster(tmp_path / "cluster", secure=secure).start()
    booth = ScaledBooth(cluster, [])
    try:
        common = {"backend": "nats", "nats_url": cluster.url, "nats_ca_file": certs / "ca.pem", "nats_replicas": 3}
        booth.api_nodes.append(ServerProcess(tmp_path / "api", tmp_path / "cache", free_port(), **common).start())
        booth.add_worker()
        booth.add_mailer()
        nodes = [single, *cluster.nodes]
        processes = [node.proc.pid for node in nodes] + [p.pid for p in [*booth.workers, *booth.mailers]]
        processes.append(booth.api_nodes[0].proc.pid)
        lines = _command_lines(processes)
        assert len(lines) >= 7 and all(line for line in lines.values())  # every process read
        assert [line for line in lines.values() if PASSWORD in line or "--pass" in line] == []
        for node in nodes:  # where the password is instead: a file only its owner reads
            [config] = [arg for arg in node.proc.args if arg.endswith(".conf")]
            assert stat.S_IMODE(os.stat(config).st_mode) == 0o600 and PASSWORD in Path(config).read_text()
    finally:
        booth.stop()
        single.stop()


def test_portrait_booth_up_shows_no_key_on_a_command_line(tmp_path, cache_dir):
    """The launcher hands the server its settings in the environment (this held before too)."""
    key = secrets.token_urlsafe(32)
    port = free_port()
    env = {
        **os.environ,
        "PORTRAIT_CACHE_DIR": str(cache_dir),
        "PORTRAIT_API_KEYS": f'{{"kiosk-1": "{key}"}}',
        "PORTRAIT_SMTP_PASSWORD": PASSWORD,
    }
    launcher = Path(sys.executable).parent / "portrait-booth"
    args = [str(launcher), "up", "--headless", "--port", str(port), "--smtp-port", str(free_port())]
    proc = subprocess.Popen([*args, "--data", str(tmp_path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc, 180)
        lines = _command_lines([proc.pid])
        assert any("style-server" in line and "serve" in line for line in lines.values())  # the server was read
        assert [line for line in lines.values() if key in line or PASSWORD in line] == []
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
