"""Real parts for integration tests: a style server in its own process, an SMTP inbox on loopback."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

from shared.tls import pem_fingerprint
from style_server.dev_inbox import read_inbox, start_inbox

API_KEY = "test-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``style-server serve`` on 127.0.0.1, started and killed like an operator (or a crash) would.

    With ``tls=True`` it serves HTTPS with its self-signed certificate (``<data_dir>/tls/cert.pem``, made on the
    first start and kept), and ``client()`` trusts exactly that certificate.
    """

    def __init__(self, data_dir: Path, cache_dir: Path, smtp_port: int, tls: bool = False, **settings) -> None:
        self.port = free_port()
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
            "PORTRAIT_MAIL_RETRY_BASE_SECONDS": "0.3",
            "PORTRAIT_MAIL_RETRY_MAX_SECONDS": "1",
            "PORTRAIT_FAST_SIZE": "256",
            "PORTRAIT_GATYS_SIZE": "96",
            "PORTRAIT_GATYS_ITERATIONS": "8",
            "PORTRAIT_PREVIEW_EVERY": "2",
        }
        if tls:
            env["PORTRAIT_TLS"] = "auto"
        env.update({f"PORTRAIT_{k.upper()}": str(v) for k, v in settings.items()})
        self.env = {**os.environ, **env}
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log = data_dir / f"server-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> ServerProcess:
        script = Path(sys.executable).parent / "style-server"
        self.proc = subprocess.Popen(
            [str(script), "serve"], env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2, verify=self.verify()).status_code == 200:
                    return self
            except (httpx.TransportError, FileNotFoundError):  # not listening yet, or no certificate yet
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            time.sleep(0.2)
        raise TimeoutError(f"server not ready: {self.log.read_text()[-2000:]}")

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


def wait_for_state(client: httpx.Client, job: dict, states: set[str], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/v1/jobs/{job['id']}", headers={"X-Job-Token": job["token"]}).json()
        if status["state"] in states:
            return status
        time.sleep(0.1)
    raise TimeoutError(f"job never reached {states}: {status}")
