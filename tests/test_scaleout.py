"""A scaled-out booth (PORTRAIT_BACKEND=nats) under faults: real nats-server processes (one, or a 3-node JetStream
cluster with replicas 3), API nodes, workers and a mailer, each its own process on 127.0.0.1, killed with SIGKILL.

Leases last 3 s here (``nats_booth``), so a killed worker's jobs come back to another worker within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from portrait_booth.scaleout import BoothProcess, NatsServer, ScaledBooth
from tests.harness import (
    DEMO_PHOTO,
    STORE_CREATE,
    Inbox,
    ServerProcess,
    always_during,
    free_port,
    job_status,
    nats_booth,
    wait_for_state,
    wait_until,
    wait_until_nats_holds_no_work,
)
from tests.nats_inspect import nats_contents

pytestmark = pytest.mark.slow  # end to end: started first when the tests run in parallel


@pytest.fixture
def box(tmp_path):
    inbox = Inbox(tmp_path / "inbox", free_port()).start()
    yield inbox
    inbox.stop()


def post(client: httpx.Client, address: str, key: str | None = None, **fields) -> dict:
    """A job as a kiosk sends it: a retry with the same Idempotency-Key until the booth accepts it."""
    key = key or uuid.uuid4().hex
    data = {"style": "palette-04", "email": address, "consent": "true", **fields}
    deadline = time.monotonic() + 60
    while True:
        try:
            r = client.post(
                "/v1/jobs",
                files={"portrait": ("me.jpg", DEMO_PHOTO, "image/jpeg")},
                data=data,
                headers={"Idempotency-Key": key},
            )
            if r.status_code in (200, 201):
                return r.json()
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the booth stopped accepting jobs"
        time.sleep(0.5)


def mails_per_job(inbox: Inbox) -> Counter:
    return Counter(mail["Message-ID"] for mail in inbox.messages())


def assert_done_once(
    booth: ScaledBooth,
    client: httpx.Client,
    inbox: Inbox,
    jobs: list[dict],
    timeout: float = 180,
    previous: int = 0,  # mails the inbox held before, each for a job of its own
) -> None:
    """Every job ends done, and its mail arrives exactly once (one Message-ID, one mail)."""
    for job in jobs:
        assert wait_for_state(client, job, {"done", "failed"}, timeout)["state"] == "done"
    inbox.wait_for(previous + len(jobs), timeout=60)
    wait_until_nats_holds_no_work(booth.nats.url)  # nothing is left that could send a second copy
    per_job = mails_per_job(inbox)
    assert len(per_job) == previous + len(jobs) and set(per_job.values()) == {1}, per_job


def test_a_worker_killed_mid_masterpiece_loses_nothing(tmp_path, cache_dir, box):
    booth = nats_booth(tmp_path, cache_dir, box.port, gatys_iterations=150, gatys_size=64)
    try:
        with booth.api_nodes[0].client() as client:
            job = post(client, "painter@example.org", method="gatys", style="starry-night")
            deadline = time.monotonic() + 120
            while (status := job_status(client, job))["progress"] <= 0.02:
                assert time.monotonic() < deadline, status
                time.sleep(0.2)
            booth.workers[0].kill9()
            assert job_status(client, job)["state"] == "running"
            booth.add_worker()
            assert_done_once(booth, client, box, [job], timeout=300)
    finally:
        booth.stop()


@contextlib.contextmanager
def masterpiece_painting(
    tmp_path, cache_dir, box, address: str, iterations: int, side: int
) -> Iterator[tuple[ScaledBooth, httpx.Client, dict]]:
    """A booth on NATS with one worker, painting a masterpiece (``iterations`` steps at ``side`` px) for
    ``address``; yields (booth, client, job) once the job runs, and stops the booth after."""
    booth = nats_booth(tmp_path, cache_dir, box.port, gatys_iterations=iterations, gatys_size=side)
    try:
        with booth.api_nodes[0].client() as client:
            job = post(client, address, method="gatys", style="starry-night")
            wait_for_state(client, job, {"running"}, 120)
            yield booth, client, job
    finally:
        booth.stop()


def test_a_worker_rides_out_a_nats_outage_mid_masterpiece(tmp_path, cache_dir, box):
    """NATS goes away while a worker paints a masterpiece and stays away until every call the worker makes after
    the painting has timed out (publishing it, giving it back, reading the queue depth). Once NATS is back the
    job is painted again and mailed once. The failed depth read must not end the worker's lane: the process would
    stay up and paint nothing more."""
    with masterpiece_painting(tmp_path, cache_dir, box, "outage@example.org", 60, 96) as (booth, client, job):
        worker = booth.workers[0]
        booth.nats.kill9()
        deadline = time.monotonic() + 120
        lines = (f"job {job['id']} goes back to the queue", "the queue depth could not be read")
        # the painting's publish (then its give-back) and the depth read after its pass, side by side: each
        # waited out its 10 s NATS request timeout
        while not all(line in worker.log.read_text(errors="replace") for line in lines):
            assert time.monotonic() < deadline, worker.log.read_text()[-3000:]
            time.sleep(0.2)
        booth.nats.start()
        assert_done_once(booth, client, box, [job], timeout=180)


def test_a_masterpiece_cancelled_while_it_paints_leaves_nothing_in_nats(tmp_path, cache_dir, box):
    """The visitor cancels while the worker paints: the painting stops and its work message is let go at once.
    Before, the painter only stopped, and the worker held and renewed the message for as long as it lived: the job
    counted in the queue's depth (against its limit) until the worker's next stop."""
    with masterpiece_painting(tmp_path, cache_dir, box, "cancelled@example.org", 2000, 128) as (booth, client, job):
        worker = booth.workers[0]
        assert client.delete(f"/v1/jobs/{job['id']}", headers={"X-Job-Token": job["token"]}).status_code == 204
        wait_until_nats_holds_no_work(booth.nats.url, timeout=60)
        assert worker.proc.poll() is None  # let go by the living worker, not at its stop
        assert job_status(client, job)["state"] == "cancelled"
        assert f"job {job['id']} done" not in worker.log.read_text(errors="replace")


class HeldInbox(Inbox):
    """The real inbox, whose SMTP server holds the first mail's DATA until the test lets it through."""

    def start(self) -> HeldInbox:
        super().start()
        handler = self.controller.handler
        self.arrived, self.gate, accept = threading.Event(), threading.Event(), handler.handle_DATA

        async def held(server, session, envelope) -> str:
            self.arrived.set()
            while not self.gate.is_set():
                await asyncio.sleep(0.05)
            return await accept(server, session, envelope)

        handler.handle_DATA = held
        return self


def test_a_mailer_rides_out_a_stalled_nats_mid_batch(tmp_path, cache_dir):
    """NATS stalls (SIGSTOP: connections stay open, nothing answers) while the mailer sends the first of three
    mails it took in one pass, until recording that mail as sent has timed out. Once NATS answers again every
    mail arrives once. The timeout must not end the pass with the other two still held by the mailer, their
    leases renewed: they would never be sent. Leases of 60 s here: a
    stall shorter than a lease, as a cluster's election is."""
    box = HeldInbox(tmp_path / "inbox").start()
    booth = nats_booth(tmp_path, cache_dir, box.port, mailers=0, nats_ack_wait_seconds=60)
    nats = booth.nats.proc
    try:
        with booth.api_nodes[0].client() as client:
            jobs = [post(client, f"batch{i}@example.org") for i in range(3)]
            for job in jobs:
                assert wait_for_state(client, job, {"done"}, 120)
            mailer = booth.add_mailer()
            assert box.arrived.wait(60), mailer.log.read_text()[-3000:]
            nats.send_signal(signal.SIGSTOP)
            box.gate.set()  # the first mail is accepted while NATS is stalled
            deadline = time.monotonic() + 60
            while '"level": "warning", "logger": "style_server.mail"' not in mailer.log.read_text(errors="replace"):
                assert time.monotonic() < deadline, mailer.log.read_text()[-3000:]
                time.sleep(0.2)
            nats.send_signal(signal.SIGCONT)
            assert_done_once(booth, client, box, jobs, timeout=120)
    finally:
        nats.send_signal(signal.SIGCONT)
        booth.stop()
        box.stop()


def test_a_job_that_kills_every_worker_is_given_up_and_the_visitor_told(tmp_path, cache_dir, box):
    """After ``max_deliveries`` deliveries the job goes to the dead-letter subject, is marked failed and
    the visitor gets one mail saying so; the next jobs are painted."""
    booth = nats_booth(tmp_path, cache_dir, box.port, workers=0, max_deliveries=2)
    try:
        with booth.api_nodes[0].client() as client:
            job = post(client, "unlucky@example.org", language="en")
            for _ in range(2):
                worker = booth.add_worker(fault_point="in_fast_batch")
                worker.proc.wait(60)
            booth.add_worker()
            status = wait_for_state(client, job, {"done", "failed"}, 60)
            assert status["state"] == "failed" and "given up" in status["error"]
            [mail] = box.wait_for(1)
            assert "could not be painted" in mail.get_content() and mail["To"] == "unlucky@example.org"
            later = post(client, "lucky@example.org")
            assert wait_for_state(client, later, {"done", "failed"}, 60)["state"] == "done"
    finally:
        booth.stop()


def test_two_api_nodes_one_job_followed_on_the_other(tmp_path, cache_dir, box):
    """Two kiosks on two API nodes: a masterpiece posted on one streams its progress, previews and end on the
    other (events relayed over NATS), and its status is the same on both. The end carries its download link with
    the API nodes' public address in front (the worker that ended the job knows none)."""
    public = "https://booth.example.org"
    booth = nats_booth(
        tmp_path, cache_dir, box.port, api_nodes=2, gatys_iterations=40, gatys_size=96, public_url=public
    )
    try:
        first, second = booth.api_nodes
        with first.client() as one, second.client() as other:
            job = post(one, "twice@example.org", method="gatys", style="the-scream")
            seen, data = [], []
            with other.stream("GET", f"/v1/jobs/{job['id']}/events", params={"token": job["token"]}) as r:
                for line in r.iter_lines():
                    if line.startswith("event: "):
                        seen.append(line[7:])
                    elif line.startswith("data: "):
                        data.append(json.loads(line[6:]))
            assert seen[-1] == "done" and "progress" in seen and "preview" in seen, seen
            link = data[-1]["status"]["download_url"]
            assert link.startswith(f"{public}/v1/download/") and link == job_status(other, job)["download_url"]
            box.wait_for(1)  # the mail goes out between two reads otherwise: compare once it is sent
            deadline = time.monotonic() + 30
            while job_status(one, job)["email_status"] != "sent":
                assert time.monotonic() < deadline, job_status(one, job)
                time.sleep(0.1)
            assert job_status(one, job) == job_status(other, job)
            assert other.get(f"/v1/jobs/{job['id']}/result", headers={"X-Job-Token": job["token"]}).status_code == 200
    finally:
        booth.stop()


def test_a_cluster_node_killed_under_load_loses_no_job_image_or_mail(tmp_path, cache_dir, box):
    """Three JetStream nodes, replicas 3. Kiosks keep posting while one node is SIGKILLed: every job is accepted
    (a kiosk retries with its Idempotency-Key, as the real one does), painted once and mailed once."""
    booth = nats_booth(tmp_path, cache_dir, box.port, cluster=True, workers=2)
    try:
        jobs: list[dict] = []
        with booth.api_nodes[0].client() as client:
            stop = threading.Event()

            def kiosk(n: int) -> None:
                with booth.api_nodes[0].client() as own:
                    i = 0
                    while not stop.is_set():
                        jobs.append(post(own, f"k{n}-{i}@example.org"))
                        i += 1
                        time.sleep(0.3)

            kiosks = [threading.Thread(target=kiosk, args=(n,)) for n in range(2)]
            for thread in kiosks:
                thread.start()
            wait_until(lambda: len(jobs) >= 3, lambda: f"{len(jobs)} jobs posted", 60)
            booth.nats.nodes[0].kill9()
            before = len(jobs)
            wait_until(lambda: len(jobs) >= before + 6, lambda: f"{len(jobs) - before} jobs since the kill", 90)
            stop.set()
            for thread in kiosks:
                thread.join(90)
            assert len(jobs) >= 6
            assert_done_once(booth, client, box, jobs)
            objects, _ = nats_contents(",".join(n.url for n in booth.nats.nodes[1:]))
            for job in jobs:  # no image lost: each portrait and its painting are still in the Object Store
                assert {f"{job['id']}/portrait.png", f"{job['id']}/result.jpg"} <= set(objects)
    finally:
        booth.stop()


def test_retention_empties_the_object_store_and_leaves_no_address_in_kv(tmp_path, cache_dir, box):
    retention_hours = 6 / 3600  # six seconds
    booth = nats_booth(tmp_path, cache_dir, box.port, retention_hours=retention_hours)
    try:
        with booth.api_nodes[0].client() as client:
            job = post(client, "fleeting@example.org")
            wait_for_state(client, job, {"done"}, 60)
            box.wait_for(1)
            url = booth.api_nodes[0].env["PORTRAIT_NATS_URL"]
            objects, values = nats_contents(url)
            assert any(name.startswith(job["id"]) for name in objects)
            record = f"job.{job['id']}=".encode()
            assert any(v.startswith(record) and b'"sealed": "' in v for v in values)  # the address is sealed
            assert not any(b"fleeting@example.org" in v for v in values)
            deadline = time.monotonic() + 30
            while True:
                objects, values = nats_contents(url)
                records = [json.loads(v.split(b"=", 1)[1]) for v in values if v.startswith(record)]
                erased = all(r["sealed"] is None for r in records)  # the record is rewritten after the objects go
                gone = not objects and erased and not any(b"fleeting@example.org" in v for v in values)
                if gone:
                    break
                assert time.monotonic() < deadline, (objects, [v[:80] for v in values])
                time.sleep(1)
            assert job_status(client, job)["state"] == "expired"
            record = next(json.loads(v.split(b"=", 1)[1]) for v in values if v.startswith(record))
            assert record["sealed"] is None and "email" not in record and "download_code" not in record
    finally:
        booth.stop()


def test_nats_beyond_loopback_needs_tls_and_credentials(tmp_path):
    """Jobs, portraits and addresses travel over NATS: a worker or API node refuses a remote server in clear or
    without credentials, before it connects, with one line that says what to do (and never the password)."""
    script = Path(sys.executable).parent / "style-server"
    env = {**os.environ, "PORTRAIT_DATA_DIR": str(tmp_path)}
    for command, url in (
        ("worker", "nats://10.1.2.3:4222"),
        ("mailer", "tls://10.1.2.3:4222"),
        ("serve", "nats://booth:hunter2@10.1.2.3:4222"),
    ):
        args = [str(script), command, "--nats-url", url] + (["--backend", "nats"] if command == "serve" else [])
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        assert "tls://<user>:<password>@host:port" in done.stderr and "hunter2" not in done.stderr


def test_a_booth_on_a_tls_nats_server_with_a_password(tmp_path, cache_dir, box):
    """The secure way: NATS over TLS (its certificate verified with PORTRAIT_NATS_CA_FILE) with a user and
    password; a wrong password is refused."""
    from style_server.service.tls import make_self_signed

    cert_pem, key_pem = make_self_signed(["127.0.0.1"])
    cert, key = tmp_path / "nats-cert.pem", tmp_path / "nats-key.pem"
    cert.write_bytes(cert_pem)
    key.write_bytes(key_pem)
    server = NatsServer(tmp_path / "nats", secure=(cert, key, "booth", "s3cret-pass")).start()
    try:
        booth = ScaledBooth(server, [])
        node = ServerProcess(
            tmp_path / "api", cache_dir, box.port, backend="nats", nats_url=server.url, nats_ca_file=cert
        )
        booth.api_nodes.append(node.start())
        booth.add_worker()
        booth.add_mailer()
        with node.client() as client:
            job = post(client, "secure@example.org")
            assert wait_for_state(client, job, {"done", "failed"}, 120)["state"] == "done"
        box.wait_for(1)
        wrong = BoothProcess(node, "worker", nats_url=server.url.replace("s3cret-pass", "wrong"))
        with pytest.raises(RuntimeError, match="exited"):
            wrong.start(timeout=60)
    finally:
        booth.stop()


@pytest.fixture
def nats_settings(tmp_path):
    """A NATS JetStream server on loopback, and backend settings that use it."""
    from style_server.config import Settings

    server = NatsServer(tmp_path / "nats").start()
    yield Settings(backend="nats", nats_url=server.url, data_dir=tmp_path / "data")
    server.stop()


def beside(settings, act) -> None:
    """``act(jetstream)`` on a NATS connection of its own, as another process (a dying node, an operator)."""
    import nats as nats_client

    async def run() -> None:
        nc = await nats_client.connect(settings.storage.nats_servers)
        try:
            await act(nc.jetstream())
        finally:
            await nc.close()

    asyncio.run(run())


def test_an_idempotency_key_left_by_a_dead_api_node_is_taken_over(nats_settings):
    """An API node killed between reserving a key and writing the job leaves the key pointing at nothing: the
    kiosk's retry with that key gets a new job (after a short wait for a parallel create), not an error forever."""
    from style_server.service.nats_backend import NatsStore
    from style_server.service.nats_backend.names import JOBS_KV, idempotency_index

    store = NatsStore(nats_settings, "test")

    async def orphan(js) -> None:
        kv = await js.key_value(JOBS_KV)
        await kv.create(idempotency_index("kiosk-a", "visit-7"), b"0123456789abcdef01234567")

    beside(nats_settings, orphan)
    job, created = store.create(idem_key="visit-7", **STORE_CREATE)
    assert created and store.by_idempotency_key("kiosk-a", "visit-7").id == job.id
    again, created_again = store.create(idem_key="visit-7", **STORE_CREATE)
    assert not created_again and again.id == job.id
    store.close()


def test_a_create_cut_off_before_its_work_message_is_sent_by_the_kiosks_retry(nats_settings):
    """An API node whose create wrote the job but could not send its work message (the lane's stream had no
    leader: a cluster election) answered 503, and the kiosk retried with its key. The retry finds the job and
    sends the message: before, the retry was answered from the job alone and the job stayed queued forever."""
    from style_server.service.jobtypes import BackendUnavailable
    from style_server.service.nats_backend import NatsStore, lane_stream

    api = NatsStore(nats_settings, "api")

    async def lose_the_lane(js) -> None:
        await js.delete_stream(lane_stream("fast"))

    beside(nats_settings, lose_the_lane)
    with pytest.raises(BackendUnavailable):
        api.create(idem_key="visit-8", **STORE_CREATE)
    worker = NatsStore(nats_settings, "worker")  # makes the lane's stream again, as a restarted node would
    job = api.by_idempotency_key("kiosk-a", "visit-8")
    assert job is not None and job.state == "queued"
    assert [taken.id for taken in worker.take("fast", 4, 0.0)] == [job.id]
    assert api.by_idempotency_key("kiosk-a", "visit-8").id == job.id  # a second retry sends nothing more
    worker.requeue(job.id)
    assert [taken.id for taken in worker.take("fast", 4, 0.0)] == [job.id]
    assert worker.take("fast", 4, 0.0) == []
    worker.close()
    api.close()


def test_mails_handed_back_mid_pass_come_again_and_held_ones_stay_held(nats_settings, tmp_path):
    """A mailer's pass that ends early (the store timed out) hands its other mails back: they are due again once
    their lease runs out. A mail the mailer still holds stays its own however long sending takes."""
    from style_server.config import Settings
    from style_server.service.nats_backend import NatsStore

    store = NatsStore(Settings.model_validate({**nats_settings.model_dump(), "nats_ack_wait_seconds": 1}), "mailer")
    painting = tmp_path / "result.jpg"
    for i in range(2):
        job, _ = store.create(idem_key=f"visit-{i}", **{**STORE_CREATE, "email": f"v{i}@example.org"})
        assert [taken.id for taken in store.take("fast", 4, 0.0)] == [job.id]
        painting.write_bytes(DEMO_PHOTO)
        assert store.publish_result(job.id, painting, 0.1, mail=True)
    held = store.due_mail(time.time())
    assert len(held) == 2
    always_during(lambda: store.due_mail(time.time()) == [], 3, "a held mail came again")  # three leases long
    store.mail_released([held[1].job_id])
    again = wait_until(lambda: store.due_mail(time.time()), lambda: "the handed-back mail never came again", 30)
    assert [(task.job_id, task.attempts) for task in again] == [(held[1].job_id, 0)]  # handed back: not tried
    store.close()


def test_images_of_several_chunks_read_back_whole_and_gone_once_erased(nats_settings):
    """Images are read from the Object Store chunk by chunk (128 kB each): a portrait of several chunks comes back
    byte for byte; once the job is erased it is gone."""
    from style_server.service.nats_backend import NatsStore

    store = NatsStore(nats_settings, "api-and-worker")
    portrait = os.urandom(300_000)  # three chunks
    job, _ = store.create(idem_key="visit-9", **{**STORE_CREATE, "portrait_png": portrait})
    assert store.inputs(job) == (portrait, None)
    store.cancel_and_erase(job.id)
    with pytest.raises(FileNotFoundError):
        store.inputs(job)
    store.close()
