"""A style server and a mail inbox on this machine: ``style-server serve`` in its own process, waited for until
ready, and the dev inbox. Used by ``portrait-booth up``, the tests (``tests/harness.py``) and the benchmarks."""

from __future__ import annotations

import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from shared.tls import pem_fingerprint
from style_server.dev_inbox import read_inbox, start_inbox

API_KEY = "test-key"  # kiosk-a's key on a ServerProcess (loopback only)


class ServerExited(RuntimeError):
    """The server process ended before it was ready."""


def free_port() -> int:
    """A free port on 127.0.0.1 that this process has not handed out before, below the kernel's range for
    outgoing connections: a port from that range (what binding port 0 gives) can be taken by any client's
    connection between choosing it and the server binding it. ``PORTRAIT_FREE_PORTS=low-high`` narrows the
    choice: test processes running side by side each get their own slice, so two never pick the same port."""
    low, high = _port_range()
    for _ in range(500):
        port = _random.randrange(low, high)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise OSError(f"no free port on 127.0.0.1 in {low}-{high}")


_random = random.SystemRandom()  # never the same sequence in two processes started alike
_handed_out: set[int] = set()  # chosen but perhaps not bound yet (a cluster picks all its ports first)


def _port_range() -> tuple[int, int]:
    if chosen := os.environ.get("PORTRAIT_FREE_PORTS"):
        low, high = (int(part) for part in chosen.split("-"))
        return low, high
    return server_ports()


def server_ports() -> tuple[int, int]:
    """From 10000 up to the kernel's range for outgoing connections."""
    return 10000, max(_outgoing_ports()[0], 11000)


def _outgoing_ports() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 49152, 65535  # IANA's dynamic range (macOS, Windows)


def wait_ready(
    url: str,
    process: subprocess.Popen,
    timeout: float,
    verify: Callable[[], ssl.SSLContext | bool] = lambda: True,
    every: float = 0.2,
) -> None:
    """Poll ``<url>/readyz`` until it answers 200. ``verify`` gives httpx's TLS trust at each try (a server's
    self-signed certificate appears only once it has started). Raises ServerExited if the process ends first,
    TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerExited(f"the style server stopped during start-up (exit code {process.returncode})")
        try:
            if httpx.get(f"{url}/readyz", timeout=2, verify=verify()).status_code == 200:
                return
        except (httpx.TransportError, FileNotFoundError):  # not listening yet, or no certificate yet
            pass
        time.sleep(every)
    raise TimeoutError(f"the style server did not become ready within {timeout:.0f} s")


class ServerProcess:
    """``style-server serve`` on 127.0.0.1, started and killed like an operator (or a crash) would; its output
    goes to ``<data_dir>/server-<port>.log``. ``settings`` become ``PORTRAIT_<NAME>`` variables.

    With ``tls=True`` it serves HTTPS with its self-signed certificate (``<data_dir>/tls/cert.pem``, made on the
    first start and kept), and ``client()`` trusts exactly that certificate.
    """

    def __init__(
        self, data_dir: Path, cache_dir: Path, smtp_port: int, tls: bool = False, script: Path | None = None, **settings
    ) -> None:
        self.port = free_port()
        self.script = script or Path(sys.executable).parent / "style-server"  # another installation's, for tests
        self.data_dir = data_dir
        self.own_cert = Path(settings["tls_cert_file"]) if "tls_cert_file" in settings else None  # an operator's
        self.tls = tls or self.own_cert is not None
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"
        env = {
            "PORTRAIT_DATA_DIR": str(data_dir),
            "PORTRAIT_CACHE_DIR": str(cache_dir),
            "PORTRAIT_PORT": str(self.port),
            "PORTRAIT_SMTP_PORT": str(smtp_port),
            "PORTRAIT_API_KEYS": f'{{"kiosk-a": "{API_KEY}", "kiosk-b": "other-key"}}',
            "PORTRAIT_DEVICE": "cpu",
        }
        if tls:
            env["PORTRAIT_TLS"] = "auto"
        env.update({f"PORTRAIT_{k.upper()}": str(v) for k, v in settings.items()})
        self.env = {**os.environ, **env}
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log = data_dir / f"server-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> ServerProcess:
        self.proc = subprocess.Popen(
            [str(self.script), "serve"],
            env=self.env,
            cwd=self.data_dir,  # nothing of the caller's folder (a checkout, a .env) leaks into the server
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(self.url, self.proc, timeout, self.verify)
        except ServerExited:
            raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}") from None
        except TimeoutError:
            raise TimeoutError(f"server not ready: {self.log.read_text()[-2000:]}") from None
        return self

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill9()

    @property
    def cert_file(self) -> Path:
        """The server's certificate: the operator's file, else the self-signed one (made on the first start)."""
        return self.own_cert or self.data_dir / "tls" / "cert.pem"

    @property
    def fingerprint(self) -> str:
        """SHA-256 fingerprint of the certificate, as ``shared.tls.fingerprint`` writes it."""
        return pem_fingerprint(self.cert_file.read_text())

    def verify(self) -> ssl.SSLContext | bool:
        """What httpx should verify against: exactly this server's certificate with TLS, nothing without."""
        return ssl.create_default_context(cafile=str(self.cert_file)) if self.tls else True

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30, verify=self.verify()
        )


class Inbox:
    """aiosmtpd on loopback, the same handler as ``style-server dev-inbox``."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder, self.port = folder, port or free_port()
        self.controller = None

    def start(self) -> Inbox:
        self.controller = start_inbox(self.folder, port=self.port, echo=False)
        return self

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()
            self.controller = None

    def messages(self):
        return read_inbox(self.folder)

    def wait_for(self, count: int, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages()) >= count:
                return self.messages()
            time.sleep(0.1)
        raise TimeoutError(f"expected {count} mails, got {len(self.messages())}")
