"""The ``scale`` profile of docker-compose.yml (issue 8): its structure, read strictly, and its NATS configuration
(deploy/nats/booth.conf) run for real: three nats-server nodes on loopback, with the certificates of
scripts/scale_certs.py, only the ports and paths changed."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from pathlib import Path

import nats
import pytest
import yaml

from portrait_booth.scaleout import nats_server_binary, wait_healthy
from scripts.scale_certs import make_certs
from shared.protocol import JobOptions
from style_server.config import Settings
from tests.conftest import ROOT
from tests.harness import free_port

COMPOSE = ROOT / "docker-compose.yml"
NATS_CONF = ROOT / "deploy" / "nats" / "booth.conf"
REQUIRED = re.compile(r"\$\{(PORTRAIT_[A-Z_]+):\?[^}]+\}")  # ${VAR:?message}: compose stops with the message
ENV = {"PORTRAIT_API_KEYS": '{"kiosk-1": "k1-0123456789abcdefghijklmnop"}', "PORTRAIT_NATS_PASSWORD": "s3cret-pw"}


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _interpolated(value: str) -> str:
    """A compose value with the operator's variables filled in (as ``docker compose`` does)."""
    return re.sub(r"\$\{([A-Z_]+)(?::\?[^}]*)?\}", lambda m: ENV.get(m.group(1), "/srv/booth-certs"), value)


def _settings(monkeypatch, env: dict[str, str]) -> Settings:
    """The settings a container with this environment reads (the operator's variables filled in)."""
    with monkeypatch.context() as m:
        for name, value in env.items():
            if name.startswith("PORTRAIT_"):
                m.setenv(name, _interpolated(value))
        return Settings()


def test_the_single_host_services_stay_as_they_were():
    services = _compose()["services"]
    assert "profiles" not in services["style-server"] and "profiles" not in services["mail"]
    assert services["style-server"]["environment"]["PORTRAIT_TLS"] == "auto"
    assert "PORTRAIT_BACKEND" not in services["style-server"]["environment"]  # sqlite, the default
    scale = {name for name, service in services.items() if "scale" in service.get("profiles", [])}
    assert scale == {"nats-1", "nats-2", "nats-3", "api-1", "api-2", "worker-1", "worker-2", "mailer"}
    assert set(services) - scale == {"style-server", "mail"}


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
        assert any(v.endswith(":/certs:ro") for v in node["volumes"]) and f"{name}-data:/data" in node["volumes"]
        assert node["environment"]["NATS_NODE_NAME"] == name and f"{name}-data" in compose["volumes"]
        assert REQUIRED.fullmatch(node["environment"]["PORTRAIT_NATS_PASSWORD"])
        assert "healthcheck" in node
    # the booth's processes: every node over TLS with the password, 3 replicas, the booth's CA
    booth = {name: services[name] for name in ("api-1", "api-2", "worker-1", "worker-2", "mailer")}
    for name, service in booth.items():
        env = service["environment"]
        urls = _interpolated(env["PORTRAIT_NATS_URL"]).split(",")
        assert urls == [f"tls://booth:s3cret-pw@nats-{i}:4222" for i in (1, 2, 3)], name
        assert REQUIRED.search(env["PORTRAIT_NATS_URL"]), name  # no password: compose refuses to start
        assert env["PORTRAIT_BACKEND"] == "nats" and env["PORTRAIT_NATS_REPLICAS"] == "3", name
        assert env["PORTRAIT_NATS_CA_FILE"] == "/certs/ca.pem" and any(
            v.endswith(":/certs:ro") for v in service["volumes"]
        )
        assert set(service["depends_on"]) >= set(nodes), name
        assert all(service["depends_on"][n]["condition"] == "service_healthy" for n in nodes), name
        settings = _settings(monkeypatch, env)
        assert settings.nats_problems() == [] and settings.nats_replicas == 3, name
    for name in ("api-1", "api-2"):
        api = services[name]
        assert api["command"] == ["style-server", "serve", "--backend", "nats"]
        env = {k: _interpolated(v) for k, v in api["environment"].items()}
        assert REQUIRED.fullmatch(api["environment"]["PORTRAIT_API_KEYS"])
        settings = _settings(monkeypatch, api["environment"])
        assert settings.host == "0.0.0.0" and settings.exposure_problems() == []  # strong keys and TLS
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
    assert not any("deploy" in services[name] for name in ("api-1", "api-2", "mailer"))  # no GPU for them


def test_nothing_of_the_scale_profile_listens_in_clear_beyond_the_compose_network():
    services = _compose()["services"]
    published = {}
    for name, service in services.items():
        if "scale" in service.get("profiles", []):
            for port in service.get("ports", []):
                published[name] = [*published.get(name, []), int(str(port).rsplit(":", 1)[1])]
    # clients' NATS port (TLS + password) and the API nodes' HTTPS; never routes (6222) or monitoring (8222)
    assert published == {"nats-1": [4222], "nats-2": [4222], "nats-3": [4222], "api-1": [8000], "api-2": [8000]}
    conf = NATS_CONF.read_text()
    assert re.search(r'^http: "127\.0\.0\.1:8222"', conf, re.M)  # monitoring: the container's loopback only
    client_tls = re.search(r"^tls \{(.*?)^\}", conf, re.M | re.S).group(1)
    assert "/certs/nats.pem" in client_tls and "/certs/nats-key.pem" in client_tls
    assert re.search(r"^authorization \{\s*user: booth\s*password: \$PORTRAIT_NATS_PASSWORD\s*\}", conf, re.M)
    cluster = re.search(r"^cluster \{(.*)^\}", conf, re.M | re.S).group(1)
    assert re.search(r"tls \{[^}]*verify: true", cluster)  # routes: mutual TLS with the booth's CA
    assert "demo-key" not in COMPOSE.read_text()


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


@pytest.fixture
def booth_conf_cluster(tmp_path):
    certs = tmp_path / "certs"
    make_certs(certs, [])
    ports = {f"nats-{i}": (free_port(), free_port(), free_port()) for i in (1, 2, 3)}
    procs = []
    for name in ports:
        env = {"NATS_NODE_NAME": name, "PORTRAIT_NATS_PASSWORD": ENV["PORTRAIT_NATS_PASSWORD"]}
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

    import ssl

    trusted = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    assert asyncio.run(refused(f"nats://127.0.0.1:{ports[0]}"))  # no TLS, no password
    assert asyncio.run(refused(f"nats://booth:s3cret-pw@127.0.0.1:{ports[0]}"))  # the password, in clear
    assert asyncio.run(refused(f"tls://127.0.0.1:{ports[0]}", tls=trusted))  # TLS, no password
    assert asyncio.run(refused(f"tls://booth:wrong@127.0.0.1:{ports[0]}", tls=trusted))
    assert asyncio.run(refused(f"tls://booth:s3cret-pw@127.0.0.1:{ports[0]}"))  # a CA it does not know

    # the booth as the compose file starts it: every node, tls://booth:<password>@, the booth's CA, 3 replicas
    from style_server.service.nats_store import JOBS_KV, NatsStore, lane_stream

    url = ",".join(f"tls://booth:s3cret-pw@127.0.0.1:{p}" for p in ports)
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
