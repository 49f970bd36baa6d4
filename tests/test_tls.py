"""HTTPS and the open-by-default guard, with the real ``style-server serve`` process on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import ssl
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from shared.tls import fingerprint, normalise_fingerprint, peer_certificate
from style_server.config import Settings, is_loopback
from style_server.service.tls import make_self_signed
from tests.conftest import ROOT
from tests.harness import ServerProcess, free_port

STYLE_SERVER = str(Path(sys.executable).parent / "style-server")
STRONG_KEY = secrets.token_urlsafe(32)
ANNOUNCED = re.compile(r"^TLS certificate SHA-256 fingerprint: ([0-9A-F:]{95})$", re.M)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, cache_dir):
    server = ServerProcess(tmp_path_factory.mktemp("tls-data"), cache_dir, free_port(), tls=True).start()
    yield server
    server.stop()


def test_https_works_with_the_pinned_certificate_only(tls_server):
    assert tls_server.url.startswith("https://127.0.0.1:")
    with tls_server.client() as client:  # trusts exactly the server's certificate
        assert client.get("/v1/styles").status_code == 200
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{tls_server.url}/healthz")  # the system's CAs do not know a self-signed certificate


def test_plain_http_to_the_tls_port_gets_no_answer(tls_server):
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{tls_server.port}/healthz", timeout=10)


def test_the_printed_fingerprint_is_the_served_certificates(tls_server):
    served = fingerprint(peer_certificate("127.0.0.1", tls_server.port))
    assert ANNOUNCED.findall(tls_server.log.read_text()) == [served]  # on stdout
    logged = [json.loads(line) for line in tls_server.log.read_text().splitlines() if line.startswith("{")]
    assert f"TLS certificate SHA-256 fingerprint: {served}" in [e["message"] for e in logged]  # structured log
    assert served == tls_server.fingerprint
    operator = subprocess.run(
        [STYLE_SERVER, "tls-fingerprint"], env=tls_server.env, capture_output=True, text=True, timeout=60
    )
    assert operator.returncode == 0, operator.stderr
    assert ANNOUNCED.findall(operator.stdout) == [served]


def test_the_certificate_names_this_machine_and_its_key_is_private(tls_server):
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(tls_server.cert_file.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", socket.gethostname()} <= set(names.get_values_for_type(x509.DNSName))
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1", "::1"}
    key = tls_server.cert_file.with_name("key.pem")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_a_strict_verifier_accepts_the_self_signed_certificate(tls_server):
    """A kiosk verifying as Python 3.13 does by default (VERIFY_X509_STRICT) with the server's own certificate as
    its only trust; the certificate carries what strict verifiers look for (before: no key identifiers)."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    strict = ssl.create_default_context(cafile=str(tls_server.cert_file))
    strict.verify_flags |= ssl.VERIFY_X509_STRICT
    with httpx.Client(verify=strict) as client:
        assert client.get(f"{tls_server.url}/healthz").status_code == 200
    ext = x509.load_pem_x509_certificate(tls_server.cert_file.read_bytes()).extensions
    key_id = ext.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == key_id  # its own
    constraints = ext.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca
    usage = ext.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]


@pytest.mark.slow
def test_a_restart_serves_the_same_certificate(tmp_path, cache_dir):
    server = ServerProcess(tmp_path / "data", cache_dir, free_port(), tls=True).start()
    try:
        first = fingerprint(peer_certificate("127.0.0.1", server.port))
        key_before = server.cert_file.with_name("key.pem").read_bytes()
        server.stop()
        server.start()
        assert fingerprint(peer_certificate("127.0.0.1", server.port)) == first
        assert server.cert_file.with_name("key.pem").read_bytes() == key_before
        assert ANNOUNCED.findall(server.log.read_text()) == [first, first]
        with server.client() as client:
            assert client.get("/readyz").status_code == 200
    finally:
        server.stop()


def test_an_operator_certificate_is_served_as_given(tmp_path, cache_dir):
    cert_pem, key_pem = make_self_signed(["127.0.0.1", "booth.example.org"])
    (tmp_path / "own.crt").write_bytes(cert_pem)
    (tmp_path / "own.key").write_bytes(key_pem)
    server = ServerProcess(
        tmp_path / "data", cache_dir, free_port(), tls_cert_file=tmp_path / "own.crt", tls_key_file=tmp_path / "own.key"
    ).start()
    try:
        expected = fingerprint(ssl.PEM_cert_to_DER_cert(cert_pem.decode()))
        assert fingerprint(peer_certificate("127.0.0.1", server.port)) == expected
        assert ANNOUNCED.findall(server.log.read_text()) == [expected]
        assert not (tmp_path / "data" / "tls").exists()  # no self-signed certificate was made
    finally:
        server.stop()


# -- open by default ------------------------------------------------------------------------------------------


def _serve(env: dict, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([STYLE_SERVER, "serve", *args], env=env, capture_output=True, text=True, timeout=timeout)


def _public_env(tmp_path: Path, cache_dir: Path, **settings: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTRAIT_")}
    env.update(
        PORTRAIT_HOST="0.0.0.0",
        PORTRAIT_PORT=str(free_port()),
        PORTRAIT_DATA_DIR=str(tmp_path / "data"),
        PORTRAIT_CACHE_DIR=str(cache_dir),
        PORTRAIT_DEVICE="cpu",
    )
    env.update({f"PORTRAIT_{k.upper()}": v for k, v in settings.items()})
    return env


def test_a_public_address_with_the_demo_key_is_refused(tmp_path, cache_dir):
    refused = _serve(_public_env(tmp_path, cache_dir, tls="auto"))  # the default keys: the demo key
    assert refused.returncode == 2
    assert "refusing to listen on 0.0.0.0" in refused.stderr
    assert "demo-kiosk" in refused.stderr and "demo key" in refused.stderr
    assert "PORTRAIT_API_KEYS" in refused.stderr and "secrets.token_urlsafe(32)" in refused.stderr
    assert "demo-key" not in refused.stderr  # names the kiosk, never prints a key
    assert not (tmp_path / "data").exists()  # refused before anything was made


def test_a_short_key_or_no_tls_is_refused_too(tmp_path, cache_dir):
    short = _serve(_public_env(tmp_path, cache_dir, tls="auto", api_keys='{"kiosk-1": "only-23-characters-long"}'))
    assert short.returncode == 2 and "shorter than 24 characters" in short.stderr
    in_clear = _serve(_public_env(tmp_path, cache_dir, api_keys=json.dumps({"kiosk-1": STRONG_KEY})))
    assert in_clear.returncode == 2 and "--tls" in in_clear.stderr and "PORTRAIT_TLS=auto" in in_clear.stderr
    assert "shorter" not in in_clear.stderr


@pytest.mark.slow
def test_a_public_address_with_a_strong_key_and_tls_starts(tmp_path, cache_dir):
    env = _public_env(tmp_path, cache_dir, api_keys=json.dumps({"kiosk-1": STRONG_KEY}))
    port = env["PORTRAIT_PORT"]
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([STYLE_SERVER, "serve", "--tls"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        cert = tmp_path / "data" / "tls" / "cert.pem"
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "server not ready"
            try:
                context = ssl.create_default_context(cafile=str(cert))
                answer = httpx.get(f"https://127.0.0.1:{port}/readyz", verify=context, timeout=2)
                if answer.status_code == 200:
                    break
            except (FileNotFoundError, httpx.TransportError):
                pass
            time.sleep(0.2)
        headers = {"Authorization": f"Bearer {STRONG_KEY}"}
        assert httpx.get(f"https://127.0.0.1:{port}/v1/styles", headers=headers, verify=context).status_code == 200
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"tls": "yes"}, "tls: Input should be 'off' or 'auto'"),
        ({"tls_cert_file": "/nowhere/cert.pem"}, "set both PORTRAIT_TLS_CERT_FILE and PORTRAIT_TLS_KEY_FILE"),
        ({"tls_cert_file": "/nowhere/cert.pem", "tls_key_file": "/nowhere/key.pem"}, "/nowhere/cert.pem"),
    ],
)
def test_bad_tls_settings_give_one_clear_error(settings, message, tmp_path, cache_dir):
    env = _public_env(tmp_path, cache_dir, host="127.0.0.1", **settings)
    for command in ("serve", "tls-fingerprint"):
        run = subprocess.run([STYLE_SERVER, command], env=env, capture_output=True, text=True, timeout=60)
        assert run.returncode == 2 and run.stderr.startswith("error: ") and message in run.stderr
        assert "Traceback" not in run.stderr and run.stderr.count("\n") == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_addresses_need_no_setup(host):
    assert is_loopback(host)
    assert (
        Settings(host=host, api_keys={"demo-kiosk": "demo-key"}, tls="off").exposure_problems() == []
    )  # the demo key, plain HTTP: `portrait-booth up`


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "10.0.0.5", "booth.local", ""])
def test_other_addresses_are_public(host):
    assert not is_loopback(host)
    assert (
        len(Settings(host=host, api_keys={"demo-kiosk": "demo-key"}, tls="off").exposure_problems()) == 2
    )  # weak key and no TLS


def test_fingerprints_are_read_the_way_operators_write_them():
    canonical = fingerprint(b"any certificate bytes")
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", canonical)
    bare = canonical.replace(":", "")
    for written in (canonical, canonical.lower(), bare, bare.lower(), f"SHA256:{bare}", f"  {canonical} \n"):
        assert normalise_fingerprint(written) == canonical
    for wrong in ("", "AB:CD", bare[:-1], bare + "00", "ZZ" + bare[2:]):
        with pytest.raises(ValueError, match="64 hexadecimal digits"):
            normalise_fingerprint(wrong)


# -- the GPU host's container files ----------------------------------------------------------------------------


def _compose_server() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["style-server"]


def test_compose_requires_real_keys_and_turns_tls_on():
    env = _compose_server()["environment"]
    # ${VAR:?message}: compose stops with the message when the operator has not set the keys; no demo default
    assert re.fullmatch(r"\$\{PORTRAIT_API_KEYS:\?set PORTRAIT_API_KEYS [^}]+\}", env["PORTRAIT_API_KEYS"])
    assert env["PORTRAIT_TLS"] == "auto" and env["PORTRAIT_HOST"] == "0.0.0.0"
    assert "demo-key" not in (ROOT / "docker-compose.yml").read_text()
    [image_env] = re.findall(r"^ENV (?:.*\\\n)*.*$", (ROOT / "Dockerfile").read_text(), re.M)
    assert "PORTRAIT_TLS=auto" in image_env and "PORTRAIT_HOST" not in image_env  # the image alone: loopback


def test_the_container_healthchecks_pass_against_a_tls_server(tls_server):
    """The healthcheck commands of docker-compose.yml and the Dockerfile, run as written (port aside)."""
    kind, *compose_check = _compose_server()["healthcheck"]["test"]
    assert kind == "CMD" and compose_check[0] == "python"
    compose_check = [sys.executable, *(a.replace(":8000/", f":{tls_server.port}/") for a in compose_check[1:])]
    assert subprocess.run(compose_check, capture_output=True, timeout=30).returncode == 0
    [docker_check] = re.findall(r"^\s*CMD (python .+)$", (ROOT / "Dockerfile").read_text(), re.M)
    docker_check = docker_check.replace("python", sys.executable, 1).replace(":8000/", f":{tls_server.port}/")
    assert subprocess.run(docker_check, shell=True, capture_output=True, timeout=30).returncode == 0
