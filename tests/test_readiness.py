"""``/readyz`` says whether this node can accept a job now; ``/healthz`` only that the process answers. On a
3-node NATS cluster with two nodes stopped (no quorum: no stream can be written) an API node is not ready, and
says why; once the nodes are back it is ready again. A node that said ready throughout would keep getting jobs
from a load balancer, each answered 503."""

from __future__ import annotations

import time

import httpx

from tests.harness import free_port, nats_booth


def wait_for_readiness(client: httpx.Client, status: int, timeout: float) -> dict:
    """Poll ``/readyz`` until it answers ``status``; its body."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get("/readyz")
        if r.status_code == status:
            return r.json()
        assert time.monotonic() < deadline, f"/readyz still answers {r.status_code}: {r.text}"
        time.sleep(0.2)


def test_readyz_follows_the_nats_quorum_and_healthz_does_not(tmp_path, cache_dir):
    booth = nats_booth(tmp_path, cache_dir, free_port(), cluster=True, workers=0, mailers=0)
    try:
        with httpx.Client(base_url=booth.api_nodes[0].url, timeout=30) as client:
            assert wait_for_readiness(client, 200, 30)["status"] == "ready"
            for node in booth.nats.nodes[1:]:
                node.stop()
            body = wait_for_readiness(client, 503, 60)
            assert body["status"] == "not ready" and body["detail"].startswith("NATS: "), body
            assert client.get("/healthz").status_code == 200  # alive: nothing to restart
            for node in booth.nats.nodes[1:]:
                node.start(wait=False)
            assert wait_for_readiness(client, 200, 120)["status"] == "ready"
    finally:
        booth.stop()
