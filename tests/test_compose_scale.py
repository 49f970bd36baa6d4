"""The scaled-out booth (compose.scale.yaml on top of docker-compose.yml): its structure, read strictly
as compose builds it, and its NATS configuration (deploy/nats/booth.conf) run for real: three nats-server nodes on
loopback, with the certificates of scripts/scale_certs.py, only the ports and paths changed."""

from __future__ import annotations

import asyncio
import functools
import os
import re
import secrets
import socket
import ssl
import string
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nats
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from portrait_booth.scaleout import nats_server_binary, wait_healthy
from scripts.scale_certs import make_certs
from shared.protocol import JobOptions
from style_server.config import Settings
from tests.compose_model import BASE, SCALE, interpolate, load, merge
from tests.harness import GRACE_SECONDS, free_port

NATS_CONF = BASE.parent / "deploy" / "nats" / "booth.conf"
REQUIRED = re.compile(r"\$\{(PORTRAIT_[A-Z_]+):\?[^}]+\}")  # ${VAR:?message}: compose stops with the message
PASSWORD = "-2024-06-01$x_s3cret"  # unquoted, nats-server would read a number, then a date, then a variable
ENV = {
    "PORTRAIT_API_KEYS": '{"kiosk-1": "k1-0123456789abcdefghijklmnop"}',
    "PORTRAIT_NATS_PASSWORD": PASSWORD,
    "PORTRAIT_SCALE_CERTS": "/srv/booth-certs",
}
SCALE_SERVICES = {"nats-1", "nats-2", "nats-3", "api-1", "api-2", "worker-1", "worker-2", "mailer"}
OWN_CERTS = {  # what each kind of container mounts from the certificates' folder, and nothing more
    "nats": {"ca.pem", "nats.pem", "nats-key.pem"},
    "api": {"ca.pem", "api.pem", "api-key.pem"},
    "worker": {"ca.pem"},
    "mailer": {"ca.pem"},
}


def _compose() -> dict:
    """``-f docker-compose.yml -f compose.scale.yaml`` as written (variables not filled in)."""
    return merge(load(BASE), load(SCALE))


def _interpolated(value, env: dict[str, str] = ENV):
    """A compose value with the operator's variables filled in (as ``docker compose`` does)."""
    return interpolate(value, env)


def _settings(monkeypatch, env: dict[str, str]) -> Settings:
    """The settings a container with this environment reads (the operator's variables filled in)."""
    with monkeypatch.context() as m:
        for name, value in env.items():
            if name.startswith("PORTRAIT_"):
                m.setenv(name, _interpolated(value))
        return Settings()


def _cert_mounts(service: dict) -> dict[str, dict]:
    """The service's mounts from PORTRAIT_SCALE_CERTS, by file name."""
    mounts = [v for v in service.get("volumes", []) if isinstance(v, dict)]
    found = {}
    for mount in mounts:
        source = mount["source"]
        if "PORTRAIT_SCALE_CERTS" in source:
            found[source.rsplit("/", 1)[1]] = mount
    return found


def test_one_host_stays_as_it_was_and_the_scale_file_adds_the_rest():
    base = load(BASE)["services"]
    assert set(base) == {"style-server", "mail"} and "PORTRAIT_NATS" not in BASE.read_text()
    assert "profiles" not in base["style-server"] and "profiles" not in base["mail"]
    assert base["style-server"]["environment"]["PORTRAIT_TLS"] == "auto"
    assert "PORTRAIT_BACKEND" not in base["style-server"]["environment"]  # sqlite, the default
    services = _compose()["services"]
    assert set(services) == SCALE_SERVICES | {"style-server", "mail"}
    # with the scale file a plain `up` leaves the one-host server off (it would take a GPU and port 8000)
    assert services["style-server"]["profiles"] == ["one-host"] and "profiles" not in services["mail"]
    assert not any("profiles" in services[name] for name in SCALE_SERVICES)
    assert "./models" not in SCALE.read_text()  # the models ship inside the image


def test_every_container_mounts_only_its_own_certificates_never_the_ca_key():
    services = _compose()["services"]
    for name in SCALE_SERVICES:
        kind = re.sub(r"-\d$", "", name)
        mounts = _cert_mounts(services[name])
        assert set(mounts) == OWN_CERTS[kind], name
        assert all(m["read_only"] and m["target"] == f"/certs/{f}" for f, m in mounts.items()), name
        assert not any(isinstance(v, str) and ":/certs" in v for v in services[name]["volumes"]), name
    assert "ca-key" not in SCALE.read_text().split("\nx-certs:", 1)[1]  # never mounted anywhere


def test_scale_profile_is_a_3_node_cluster_2_api_nodes_a_worker_per_gpu_and_a_mailer(monkeypatch):
    compose = _compose()
    services = compose["services"]
    nodes = {name: services[name] for name in ("nats-1", "nats-2", "nats-3")}
    conf = NATS_CONF.read_text()
    # one configuration for every node: JetStream on, routed to all three, named by its environment
    assert re.search(r"^jetstream \{", conf, re.M) and "server_name: $NATS_NODE_NAME" in conf
    assert set(re.findall(r'"nats-route://(nats-\d):6222"', conf)) == set(nodes)
    for name, node in nodes.items():
        assert node["command"] == ["--config", "/etc/nats/booth.conf"]
        assert "./deploy/nats/booth.conf:/etc/nats/booth.conf:ro" in node["volumes"]
        assert f"{name}-data:/data" in node["volumes"] and f"{name}-data" in compose["volumes"]
        assert node["environment"]["NATS_NODE_NAME"] == name
        quoted = node["environment"]["NATS_BOOTH_PASSWORD"]  # a NATS string literal: '<password>'
        assert quoted.startswith("'") and quoted.endswith("'") and REQUIRED.fullmatch(quoted[1:-1])
        assert "healthcheck" in node
    # the booth's processes: every node over TLS with the password, 3 replicas, the booth's CA
    booth = {name: services[name] for name in ("api-1", "api-2", "worker-1", "worker-2", "mailer")}
    for name, service in booth.items():
        env = service["environment"]
        urls = _interpolated(env["PORTRAIT_NATS_URL"]).split(",")
        assert urls == [f"tls://booth:{PASSWORD}@nats-{i}:4222" for i in (1, 2, 3)], name
        assert REQUIRED.search(env["PORTRAIT_NATS_URL"]), name  # no password: compose refuses to start
        assert env["PORTRAIT_BACKEND"] == "nats" and env["PORTRAIT_NATS_REPLICAS"] == "3", name
        assert env["PORTRAIT_NATS_CA_FILE"] == "/certs/ca.pem" and "ca.pem" in _cert_mounts(service)
        assert set(service["depends_on"]) >= set(nodes), name
        assert all(service["depends_on"][n]["condition"] == "service_healthy" for n in nodes), name
        settings = _settings(monkeypatch, env)
        assert settings.storage.nats_problems() == [] and settings.storage.nats_replicas == 3, name
    for name in ("api-1", "api-2"):
        api = services[name]
        assert api["command"] == ["style-server", "serve", "--backend", "nats"]
        env = {k: _interpolated(v) for k, v in api["environment"].items()}
        assert REQUIRED.fullmatch(api["environment"]["PORTRAIT_API_KEYS"])
        settings = _settings(monkeypatch, api["environment"])
        assert settings.server.host == "0.0.0.0" and settings.exposure_problems() == []  # strong keys and TLS
        assert env["PORTRAIT_TLS_CERT_FILE"] == "/certs/api.pem"  # one certificate: kiosks pin one fingerprint
    gpus = []
    for name in ("worker-1", "worker-2"):
        worker = services[name]
        assert worker["command"][:2] == ["style-server", "worker"] and "--device" in worker["command"]
        [device] = worker["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia" and "gpu" in device["capabilities"] and "count" not in device
        [gpu] = device["device_ids"]  # exactly one GPU each
        gpus.append(gpu)
    assert len(set(gpus)) == len(gpus)  # and never the same one
    assert services["mailer"]["command"] == ["style-server", "mailer"]
    for name in ("style-server", *booth):  # SIGTERM gets the time tests/test_shutdown.py gives it
        assert services[name]["stop_grace_period"] == f"{GRACE_SECONDS}s", name
    assert not any("deploy" in services[name] for name in ("api-1", "api-2", "mailer"))  # no GPU for them


def test_nothing_of_the_scale_profile_listens_in_clear_beyond_the_compose_network():
    services = load(SCALE)["services"]
    published = {}
    for name, service in services.items():
        for port in service.get("ports", []):
            published[name] = [*published.get(name, []), int(str(port).rsplit(":", 1)[1])]
    # clients' NATS port (TLS + password) and the API nodes' HTTPS; never routes (6222) or monitoring (8222)
    assert published == {"nats-1": [4222], "nats-2": [4222], "nats-3": [4222], "api-1": [8000], "api-2": [8000]}
    conf = NATS_CONF.read_text()
    assert re.search(r'^http: "127\.0\.0\.1:8222"', conf, re.M)  # monitoring: the container's loopback only
    client_tls = re.search(r"^tls \{(.*?)^\}", conf, re.M | re.S).group(1)
    assert "/certs/nats.pem" in client_tls and "/certs/nats-key.pem" in client_tls
    assert re.search(r"^authorization \{\s*user: booth\s*password: \$NATS_BOOTH_PASSWORD\s*\}", conf, re.M)
    cluster = re.search(r"^cluster \{(.*)^\}", conf, re.M | re.S).group(1)
    assert re.search(r"tls \{[^}]*verify: true", cluster)  # routes: mutual TLS with the booth's CA
    assert "demo-key" not in SCALE.read_text() + BASE.read_text()


# -- the NATS configuration, run ----------------------------------------------------------------------------------


def _node_conf(folder: Path, certs: Path, ports: dict[str, tuple[int, int, int]], name: str) -> Path:
    """deploy/nats/booth.conf for one node on loopback: only its ports, the routes' ports and the paths differ."""
    client, route, monitor = ports[name]
    text = NATS_CONF.read_text()
    text = text.replace('"0.0.0.0:4222"', f'"127.0.0.1:{client}"').replace('"0.0.0.0:6222"', f'"127.0.0.1:{route}"')
    text = text.replace('"127.0.0.1:8222"', f'"127.0.0.1:{monitor}"').replace('"/certs/', f'"{certs}/')
    text = text.replace('"/data/jetstream"', f'"{folder / name}"')
    for other, (_, other_route, _) in ports.items():
        text = text.replace(f'"nats-route://{other}:6222"', f'"nats-route://127.0.0.1:{other_route}"')
    path = folder / f"{name}.conf"
    path.write_text(text)
    return path


def _node_env(name: str, password: str) -> dict[str, str]:
    """The environment compose gives a NATS node when the operator's password is ``password``."""
    return _interpolated(_scale()["services"][name]["environment"], ENV | {"PORTRAIT_NATS_PASSWORD": password})


@functools.cache
def _scale() -> dict:
    return load(SCALE)


@pytest.fixture
def booth_conf_cluster(tmp_path):
    certs = tmp_path / "certs"
    make_certs(certs, [])
    ports = {f"nats-{i}": (free_port(), free_port(), free_port()) for i in (1, 2, 3)}
    procs = []
    for name in ports:
        env = _node_env(name, PASSWORD)
        conf = _node_conf(tmp_path, certs, ports, name)
        log = (tmp_path / f"{name}.log").open("ab")
        procs.append(subprocess.Popen([nats_server_binary(), "-c", str(conf)], env=env, stdout=log, stderr=log))
    try:
        deadline = time.monotonic() + 60
        for (name, (_, _, monitor)), proc in zip(ports.items(), procs, strict=True):
            wait_healthy(monitor, deadline, tmp_path / f"{name}.log", proc, name)
        yield certs, [ports[n][0] for n in ports], tmp_path
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)


def test_the_booth_nats_config_forms_a_tls_cluster_that_refuses_strangers(booth_conf_cluster):
    certs, ports, folder = booth_conf_cluster

    async def refused(url: str, **kw) -> bool:
        try:
            nc = await nats.connect(url, connect_timeout=3, max_reconnect_attempts=0, allow_reconnect=False, **kw)
        except Exception:
            return True
        await nc.close()
        return False

    trusted = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    trusted.verify_flags |= ssl.VERIFY_X509_STRICT  # as Python 3.13 does by default
    assert asyncio.run(refused(f"nats://127.0.0.1:{ports[0]}"))  # no TLS, no password
    assert asyncio.run(refused(f"nats://booth:{PASSWORD}@127.0.0.1:{ports[0]}"))  # the password, in clear
    assert asyncio.run(refused(f"tls://127.0.0.1:{ports[0]}", tls=trusted))  # TLS, no password
    assert asyncio.run(refused(f"tls://booth:wrong@127.0.0.1:{ports[0]}", tls=trusted))
    assert asyncio.run(refused(f"tls://booth:{PASSWORD}@127.0.0.1:{ports[0]}"))  # a CA it does not know
    for port in ports:  # every node's certificate passes a strict verifier
        assert not asyncio.run(refused(f"tls://booth:{PASSWORD}@127.0.0.1:{port}", tls=trusted))

    # the booth as the compose file starts it: every node, tls://booth:<password>@, the booth's CA, 3 replicas
    from style_server.service.nats_backend import NatsStore, lane_stream
    from style_server.service.nats_backend.names import JOBS_KV

    url = ",".join(f"tls://booth:{PASSWORD}@127.0.0.1:{p}" for p in ports)
    settings = Settings(
        backend="nats", nats_url=url, nats_replicas=3, nats_ca_file=certs / "ca.pem", data_dir=folder / "api"
    )
    store = NatsStore(settings, "api")
    try:
        job, created = store.create(
            kiosk="kiosk-1",
            idem_key=None,
            method="fast",
            style="starry-night",
            options=JobOptions(),
            email=None,
            language="en",
            portrait_png=b"\x89PNG not really",
            style_png=None,
        )
        assert created and store.get(job.id).state == "queued"

        async def replicas() -> tuple[int, int]:
            stream = await store.link.js.stream_info(lane_stream("fast"))
            bucket = await store.link.js.stream_info(f"KV_{JOBS_KV}")
            return stream.config.num_replicas, bucket.config.num_replicas

        assert store.link.run(replicas()) == (3, 3)
    finally:
        store.close()


# -- every password the README's recipe makes --------------------------------------------------------------------


def _passwords(count: int = 2000) -> list[str]:
    """``secrets.token_urlsafe(32)`` as the README says, with many in the shapes nats-server misreads unquoted:
    a leading "-", digits, digits then "-" (a date), and "$" (a variable)."""
    made = [secrets.token_urlsafe(32) for _ in range(count)]
    for i in range(0, count, 5):
        made[i] = "-" + made[i][1:]
    for i in range(1, count, 5):
        made[i] = str(secrets.randbelow(10**8)) + "-" + made[i][:20]
    for i in range(2, count, 10):
        made[i] = str(secrets.randbelow(10**12))
    for i in range(3, count, 5):
        at = secrets.randbelow(len(made[i]))
        made[i] = made[i][:at] + "$" + secrets.choice(string.ascii_uppercase + "{") + made[i][at:]
    made[4:14] = ["2024-01-01", "2024-01-01T00:00:00Z", "12", "1e5", "0x1F", "true", "-", "$HOME", "${HOME}", "1MB"]
    return made


def test_every_password_the_recipe_makes_is_a_valid_nats_configuration(tmp_path):
    """2,000 passwords through the real path: compose's environment for a node, then `nats-server -t` on
    booth.conf (before: 2 % of plain token_urlsafe passwords, and every one shaped like a number or date, failed)."""
    certs = tmp_path / "certs"
    make_certs(certs, [])
    conf = _node_conf(tmp_path, certs, {"nats-1": (4222, 6222, 8222)}, "nats-1")

    def problem(password: str) -> str:
        env = _node_env("nats-1", password)
        done = subprocess.run([nats_server_binary(), "-t", "-c", str(conf)], env=env, capture_output=True, text=True)
        return "" if done.returncode == 0 else f"{password!r}: {done.stderr.strip()}"

    # the check itself tells a good configuration from a bad one: the same password substituted unquoted
    unquoted = {**_node_env("nats-1", "x"), "NATS_BOOTH_PASSWORD": "-12-3"}
    refused = subprocess.run([nats_server_binary(), "-t", "-c", str(conf)], env=unquoted, capture_output=True)
    assert refused.returncode != 0
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        problems = [p for p in pool.map(problem, _passwords()) if p]
    assert problems == []


def test_clients_log_in_with_every_password_the_recipe_makes(tmp_path):
    """One node of booth.conf (TLS with the booth's certificates) whose single user becomes 2,000, each with a
    password substituted the same way; each client connects with the URL compose gives the booth's processes."""
    certs = tmp_path / "certs"
    make_certs(certs, [])
    client, monitor = free_port(), free_port()
    text = _node_conf(tmp_path, certs, {"nats-1": (client, free_port(), monitor)}, "nats-1").read_text()
    text = re.sub(r"^cluster \{.*^\}", "", text, flags=re.M | re.S)  # one node: no routes to wait for
    passwords = _passwords()
    users = "\n".join(f"    {{user: u{i}, password: $P{i}}}" for i in range(len(passwords)))
    text, found = re.subn(
        r"^authorization \{.*?^\}", f"authorization {{\n  users = [\n{users}\n  ]\n}}", text, count=1, flags=re.M | re.S
    )
    assert found == 1
    (tmp_path / "many.conf").write_text(text)
    env = {"NATS_NODE_NAME": "nats-1"}
    for i, password in enumerate(passwords):
        env[f"P{i}"] = _node_env("nats-1", password)["NATS_BOOTH_PASSWORD"]
    log = tmp_path / "many.log"
    proc = subprocess.Popen(
        [nats_server_binary(), "-c", str(tmp_path / "many.conf")],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_healthy(monitor, time.monotonic() + 60, log, proc)
        api = _scale()["services"]["api-1"]["environment"]
        urls = []
        for i, password in enumerate(passwords):
            [first, *_] = Settings(
                nats_url=_interpolated(api["PORTRAIT_NATS_URL"], ENV | {"PORTRAIT_NATS_PASSWORD": password})
            ).storage.nats_servers
            urls.append(
                first.replace("tls://booth:", f"tls://u{i}:", 1).replace("@nats-1:4222", f"@127.0.0.1:{client}")
            )
        trusted = ssl.create_default_context(cafile=str(certs / "ca.pem"))

        async def logs_in(url: str) -> str:
            try:
                nc = await nats.connect(
                    url, tls=trusted, connect_timeout=10, allow_reconnect=False, max_reconnect_attempts=0
                )
            except Exception as exc:
                return f"{url}: {exc}"
            await nc.close()
            return ""

        async def all_of_them() -> list[str]:
            failures = []
            for start in range(0, len(urls), 50):
                failures += [f for f in await asyncio.gather(*map(logs_in, urls[start : start + 50])) if f]
            return failures

        assert asyncio.run(all_of_them()) == []
        assert asyncio.run(logs_in(urls[0].replace(passwords[0], passwords[1], 1)))  # a wrong password: refused
    finally:
        proc.terminate()
        proc.wait(10)


# -- the booth's certificates ----------------------------------------------------------------------------------------


def _strict_handshake(server: tuple[Path, Path], ca: Path, client: tuple[Path, Path] | None = None) -> None:
    """A real TLS handshake on loopback, both sides verifying with ``VERIFY_X509_STRICT`` (mutual with ``client``)."""
    serving = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    serving.load_cert_chain(*server)
    if client is not None:  # a route: the connecting node shows its certificate too
        serving.verify_mode = ssl.CERT_REQUIRED
        serving.load_verify_locations(ca)
        serving.verify_flags |= ssl.VERIFY_X509_STRICT
    connecting = ssl.create_default_context(cafile=str(ca))
    connecting.verify_flags |= ssl.VERIFY_X509_STRICT
    if client is not None:
        connecting.load_cert_chain(*client)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        with ThreadPoolExecutor(1) as pool:

            def accept() -> None:
                conn, _ = listener.accept()
                with serving.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)

            accepted = pool.submit(accept)
            with connecting.wrap_socket(
                socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1"
            ) as s:
                s.sendall(b"x")
            accepted.result(10)


def test_the_booths_certificates_pass_a_strict_verifier(tmp_path):
    """Each carries the Authority Key Identifier that OpenSSL's strict mode (Python 3.13's default) requires."""
    make_certs(tmp_path, ["booth.example.org"])
    ca = tmp_path / "ca.pem"
    _strict_handshake((tmp_path / "api.pem", tmp_path / "api-key.pem"), ca)  # a kiosk to an API node
    _strict_handshake((tmp_path / "nats.pem", tmp_path / "nats-key.pem"), ca)  # a worker to a NATS node
    nats_pair = (tmp_path / "nats.pem", tmp_path / "nats-key.pem")
    _strict_handshake(nats_pair, ca, client=nats_pair)  # a route: mutual TLS between two nodes
    authority = x509.load_pem_x509_certificate(ca.read_bytes())
    ca_id = authority.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    constraints = authority.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    assert authority.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    server, client = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH
    for stem, usages in (("api", {server}), ("nats", {server, client})):
        cert = x509.load_pem_x509_certificate((tmp_path / f"{stem}.pem").read_bytes())
        ext = cert.extensions
        assert ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == ca_id
        assert ext.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        constraints = ext.get_extension_for_class(x509.BasicConstraints)
        assert constraints.critical and not constraints.value.ca
        key_usage = ext.get_extension_for_class(x509.KeyUsage)
        assert key_usage.critical and key_usage.value.digital_signature and not key_usage.value.key_cert_sign
        assert set(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == usages


def test_scale_certs_keeps_existing_certificates_unless_forced(tmp_path):
    script = [sys.executable, str(BASE.parent / "scripts" / "scale_certs.py"), str(tmp_path / "certs")]
    assert subprocess.run(script, capture_output=True, timeout=60).returncode == 0
    made = {p.name: p.read_bytes() for p in (tmp_path / "certs").iterdir()}
    assert len(made) == 6 and all(
        (tmp_path / "certs" / f"{s}-key.pem").stat().st_mode & 0o077 == 0 for s in ("ca", "nats", "api")
    )
    again = subprocess.run(script, capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1 and "--force" in again.stderr
    assert {p.name: p.read_bytes() for p in (tmp_path / "certs").iterdir()} == made  # untouched
    assert subprocess.run([*script, "--force"], capture_output=True, timeout=60).returncode == 0
    assert (tmp_path / "certs" / "ca.pem").read_bytes() != made["ca.pem"]
