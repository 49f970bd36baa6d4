"""Crashes and faults, against a real server (uvicorn on 127.0.0.1) and a real SMTP inbox (aiosmtpd).

Crash tests use the server's testing-only fault injection (``PORTRAIT_FAULT_POINT``): the process SIGKILLs
itself at a named point, then the test restarts it like an operator would.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from shared.protocol import MIN_PORTRAIT_SIDE
from style_server.service.faults import FAIL_STAGES
from tests.harness import (
    API_KEY,
    Inbox,
    ServerProcess,
    free_port,
    job_status,
    one_place_server,
    wait_for_state,
    wait_until_nothing_left_to_send,
)
from tests.test_server import _portrait_bytes, post_job


def _png(width: int, height: int, colour=None) -> bytes:
    buf = io.BytesIO()
    if colour is None:
        from skimage import data

        Image.fromarray(data.astronaut()).resize((width, height)).save(buf, "PNG")
    else:
        Image.new("RGB", (width, height), colour).save(buf, "PNG")
    return buf.getvalue()


def _wait_for_exit(server: ServerProcess, timeout: float = 120) -> int:
    """The server killed itself at its fault point; returns its exit status (-9 for SIGKILL)."""
    return server.proc.wait(timeout)


# -- 1. one photo must not fail a whole batch ---------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("stage", FAIL_STAGES)
def test_a_failing_job_fails_alone_whatever_fails(stage, tmp_path, cache_dir):
    """Three visitors' jobs share one fast pass; one of them fails at one stage of it (fault injection): reading its
    inputs, the shared forward pass, or keeping its painting. Only that job fails (before, a failure while reading
    one job's inputs or keeping its painting failed the whole batch)."""
    server = ServerProcess(
        tmp_path / "data", cache_dir, free_port(), fault_point=f"{stage}:palette-05", fast_batch_window_ms=3000
    ).start()
    try:
        with server.client() as c:
            jobs: dict[str, dict] = {}

            def submit(style: str) -> None:
                jobs[style] = post_job(c, _portrait_bytes(), style=style).json()

            threads = [threading.Thread(target=submit, args=(s,)) for s in ("palette-01", "palette-05", "palette-02")]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            final = {style: wait_for_state(c, job, {"done", "failed"}) for style, job in jobs.items()}
        assert final["palette-05"]["state"] == "failed"
        assert final["palette-05"]["error"] == "internal error while painting"
        assert final["palette-01"]["state"] == "done" and final["palette-02"]["state"] == "done", final
        if stage == "paint":
            assert "a batch of 3 fast jobs failed" in server.log.read_text(), "the three jobs did not share a pass"
    finally:
        server.stop()


@pytest.mark.parametrize("size", [(64, 4000), (4000, 64)])
def test_the_cli_refuses_a_portrait_the_networks_cannot_paint(size, tmp_path, cache_dir):
    photo, out = tmp_path / "thin.png", tmp_path / "out.png"
    photo.write_bytes(_png(*size))
    result = _cli("stylize", str(photo), "-o", str(out), "--style", "palette-01", cache_dir=cache_dir)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "aspect ratio" in line, line
    assert not out.exists()


@pytest.mark.parametrize("size", [(16, 16), (40, 300), (63, 63), (300, 63)])
def test_a_photo_too_small_to_paint_is_refused_at_upload(server, size):
    """A 16-63 px photo, if accepted (201), would fail its whole Instant batch: it gets 422 at once, and the
    smallest size the networks paint well is accepted."""
    with server.client() as c:
        r = post_job(c, _png(*size), style="palette-05")
        assert r.status_code == 422, r.text
        assert f"at least {MIN_PORTRAIT_SIDE} px on each side" in r.json()["detail"], r.text
        assert post_job(c, _png(MIN_PORTRAIT_SIDE, MIN_PORTRAIT_SIDE), style="palette-05").status_code == 201


def _cli(*args: str, cache_dir: Path) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "style-server"
    env = {**os.environ, "PORTRAIT_CACHE_DIR": str(cache_dir)}
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=300, env=env)


# -- 2. blend weights; a one-colour result is never mailed --------------------------------------------------

BAD_WEIGHTS = [
    "palette-01:nan",
    "palette-01:inf",
    "palette-01:1e308,palette-02:1e308",
    "palette-01:0",
    "palette-01:101",
]


def test_blend_weights_must_be_finite_positive_and_bounded_on_the_server(server):
    with server.client() as c:
        for style in BAD_WEIGHTS:
            r = post_job(c, _portrait_bytes(), style=style)
            assert r.status_code == 422, (style, r.text)
            assert "must be a number above 0 and at most 100" in r.json()["detail"], r.text
        assert post_job(c, _portrait_bytes(), style="palette-01:100,palette-02:0.5").status_code == 201


@pytest.mark.parametrize("style", ["palette-01:nan", "palette-01:-inf", "palette-01:1e308,palette-02:1e308"])
def test_blend_weights_must_be_finite_positive_and_bounded_in_the_cli(style, tmp_path, cache_dir):
    photo, out = tmp_path / "me.png", tmp_path / "out.png"
    photo.write_bytes(_png(96, 96))
    result = _cli("stylize", str(photo), "-o", str(out), "--style", style, cache_dir=cache_dir)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "style weight" in line, line
    assert not out.exists()


def test_a_result_of_one_flat_colour_fails_and_is_never_mailed(server, inbox):
    """A blank photo (lens cover on) painted at strength 0 is one flat colour: the job fails, nothing is mailed."""
    before = len(inbox.messages())
    with server.client() as c:
        r = c.post(
            "/v1/jobs",
            files={"portrait": ("blank.png", _png(128, 128, (90, 90, 90)), "image/png")},
            data={"style": "palette-03", "email": "flat@example.org", "consent": "true", "options": '{"strength": 0}'},
        )
        assert r.status_code == 201, r.text
        job = r.json()
        status = wait_for_state(c, job, {"done", "failed"})
        assert status["state"] == "failed" and "one flat colour" in status["error"], status
        assert status["email_status"] == "none"
        assert c.get(f"/v1/jobs/{job['id']}/result", headers={"X-Job-Token": job["token"]}).status_code == 409
    wait_until_nothing_left_to_send(server)
    assert all(m["To"] != "flat@example.org" for m in inbox.messages()[before:])


# -- 3. mail crash gaps ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _crashed_with_mail(tmp_path: Path, cache_dir: Path, point: str, style: str, email: str):
    """A server that SIGKILLs itself at ``point`` while handling a job with an address: yields the inbox, the
    (dead) server and the job once it has crashed; stops both at the end."""
    box = Inbox(tmp_path / "inbox").start()
    server = ServerProcess(tmp_path / "data", cache_dir, box.port, fault_point=point).start()
    try:
        with server.client() as c:
            job = post_job(c, _portrait_bytes(), style=style, email=email, consent=True).json()
        assert _wait_for_exit(server) == -9
        yield box, server, job
    finally:
        server.stop()
        box.stop()


def _restart_without_fault(server: ServerProcess) -> None:
    del server.env["PORTRAIT_FAULT_POINT"]
    server.start()


def test_crash_right_after_finishing_a_job_still_mails_it_exactly_once(tmp_path, cache_dir):
    """SIGKILL the moment the job is recorded done: its mail was queued in the same transaction."""
    with _crashed_with_mail(tmp_path, cache_dir, "after_finish", "palette-06", "gap1@example.org") as crash:
        box, server, job = crash
        _restart_without_fault(server)
        with server.client() as c:
            assert wait_for_state(c, job, {"done", "failed"})["state"] == "done"
            [mail] = box.wait_for(1)
            wait_until_nothing_left_to_send(server)
            assert len(box.messages()) == 1 and mail["To"] == "gap1@example.org"
            assert job_status(c, job)["email_status"] == "sent"


def test_crash_between_smtp_acceptance_and_recording_sends_at_most_twice_with_one_message_id(tmp_path, cache_dir):
    """The documented duplicate window: the SMTP server has the mail, the outbox has not recorded it yet."""
    with _crashed_with_mail(tmp_path, cache_dir, "after_smtp_accept", "palette-07", "gap2@example.org") as crash:
        box, server, job = crash
        assert len(box.messages()) == 1  # accepted before the crash
        _restart_without_fault(server)
        with server.client() as c:
            deadline = time.monotonic() + 30
            while job_status(c, job)["email_status"] != "sent":
                assert time.monotonic() < deadline
                time.sleep(0.2)
            wait_until_nothing_left_to_send(server)
        mails = box.messages()
        assert 1 <= len(mails) <= 2
        assert {m["Message-ID"] for m in mails} == {f"<portrait-{job['id']}@localhost>"}
        print(f"mails after a crash in the duplicate window: {len(mails)}, one Message-ID")


# -- 4, 5. idempotency keys ------------------------------------------------------------------------------


def _folders(server: ServerProcess) -> set[str]:
    return set(os.listdir(Path(server.env["PORTRAIT_DATA_DIR"]) / "jobs"))


def test_empty_idempotency_key_is_refused_and_leaves_nothing_behind(server):
    with server.client() as c:
        before = _folders(server)
        for key in ("", "k" * 201, "two words"):
            for _ in range(2):
                r = c.post(
                    "/v1/jobs",
                    files={"portrait": ("me.jpg", _portrait_bytes(), "image/jpeg")},
                    data={"style": "palette-01"},
                    headers={"Idempotency-Key": key},
                )
                assert r.status_code == 422 and "Idempotency-Key" in r.json()["detail"], (key, r.text)
        assert _folders(server) == before
        assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_store_create_never_recurses_and_a_failed_create_leaves_no_folder(tmp_path):
    from shared.protocol import JobOptions
    from style_server.service.store import Store

    store = Store(tmp_path)
    fields = dict(kiosk="k", method="fast", style="palette-01", options=JobOptions(), email=None, language="en")
    job, created = store.create(idem_key="", portrait_png=_png(64, 64), style_png=None, **fields)
    again, created_again = store.create(idem_key="", portrait_png=_png(64, 64), style_png=None, **fields)
    assert created and not created_again and again.id == job.id  # a replay, not a recursion
    with pytest.raises(TypeError):
        store.create(idem_key="other", portrait_png=None, style_png=None, **fields)  # fails after mkdir
    assert os.listdir(tmp_path / "jobs") == [job.id]
    store.close()


def test_idempotent_replay_must_repeat_the_same_request(server):
    with server.client() as c:
        photo = _portrait_bytes()
        first = post_job(c, photo, key="same-visit", style="palette-08", email="rep@example.org", consent=True)
        assert first.status_code == 201
        job = first.json()
        again = post_job(c, photo, key="same-visit", style="palette-08", email="rep@example.org", consent=True)
        assert again.status_code == 200 and again.json()["id"] == job["id"]
        other_photo = _png(160, 160, (200, 10, 10))
        for changed in (
            {"portrait": photo, "style": "palette-09", "email": "rep@example.org"},
            {"portrait": photo, "style": "palette-08", "email": "someone-else@example.org"},
            {"portrait": other_photo, "style": "palette-08", "email": "rep@example.org"},
        ):
            photo_bytes = changed.pop("portrait")
            r = post_job(c, photo_bytes, key="same-visit", consent=True, **changed)
            assert r.status_code == 409 and "different request" in r.json()["detail"], r.text
        assert c.delete(f"/v1/jobs/{job['id']}", headers={"X-Job-Token": job["token"]}).status_code == 204
        after = post_job(c, photo, key="same-visit", style="palette-08", email="rep@example.org", consent=True)
        assert after.status_code == 409 and "cancelled" in after.json()["detail"], after.text


# -- 6. the rate limit counts accepted jobs only ------------------------------------------------------------


def test_refused_requests_do_not_spend_the_rate_limit(tmp_path, cache_dir):
    server = one_place_server(tmp_path / "data", cache_dir, rate_limit_per_minute=2)
    try:
        with server.client() as c:
            codes = [post_job(c, _portrait_bytes(), style="mona-lisa").status_code for _ in range(4)]
            assert codes == [422] * 4
            slow = post_job(c, _portrait_bytes(), style="starry-night", method="gatys")
            assert slow.status_code == 201  # accepted: 1 of 2
            codes = [post_job(c, _portrait_bytes(), style="palette-01").status_code for _ in range(3)]
            assert codes == [503] * 3  # the queue is full
            slow = slow.json()
            assert c.delete(f"/v1/jobs/{slow['id']}", headers={"X-Job-Token": slow["token"]}).status_code == 204
            assert post_job(c, _portrait_bytes(), style="palette-01").status_code == 201  # accepted: 2 of 2
            over = post_job(c, _portrait_bytes(), style="palette-01")
            assert over.status_code == 429 and over.headers["Retry-After"]
    finally:
        server.stop()


# -- 8. slow clients --------------------------------------------------------------------------------------


def _trickle(port: int, head: bytes, payload: bytes, interval: float, give_up: float) -> tuple[float, bytes]:
    """Send ``head`` at once, then ``payload`` one byte per ``interval``; seconds until the server closed."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(interval)
    started, received = time.monotonic(), b""
    try:
        sock.sendall(head)
        for byte in payload:
            if time.monotonic() - started > give_up:
                break
            try:
                sock.sendall(bytes([byte]))
                chunk = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:  # reset or broken pipe: closed
                break
            if not chunk:
                break
            received += chunk
        return time.monotonic() - started, received
    finally:
        sock.close()


def test_slow_clients_are_cut_and_the_server_keeps_serving(tmp_path, cache_dir):
    server = ServerProcess(
        tmp_path / "data", cache_dir, free_port(), header_timeout=2, body_timeout=3, keep_alive_timeout=2
    ).start()
    results: dict[str, tuple[float, bytes]] = {}
    slowloris = b"GET /healthz HTTP/1.1\r\nHost: booth\r\nX-Slow: " + b"a" * 400 + b"\r\n\r\n"
    body_head = (
        b"POST /v1/jobs HTTP/1.1\r\nHost: booth\r\nAuthorization: Bearer " + API_KEY.encode() + b"\r\n"
        b"Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 100000\r\n\r\n"
    )
    body = (
        b'--xyz\r\nContent-Disposition: form-data; name="portrait"; filename="me.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff" + b"\x00" * 1000
    )
    workers = [
        threading.Thread(
            target=lambda: results.__setitem__("headers", _trickle(server.port, b"", slowloris, 0.25, 20))
        ),
        threading.Thread(target=lambda: results.__setitem__("body", _trickle(server.port, body_head, body, 1.0, 20))),
    ]
    try:
        for w in workers:
            w.start()
        healthy = 0
        while any(w.is_alive() for w in workers):
            assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200  # it answers: no bound on speed
            healthy += 1
            time.sleep(0.3)
        header_seconds, _ = results["headers"]
        body_seconds, answer = results["body"]
        print(f"slowloris cut after {header_seconds:.1f} s, slow body after {body_seconds:.1f} s; {healthy} healthz")
        assert header_seconds < 2 + 4, "a connection trickling its headers was never cut"
        assert body_seconds < 3 + 4, "a one-byte-per-second body was never cut"
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert healthy >= 3
    finally:
        server.stop()


# -- 9. /metrics ---------------------------------------------------------------------------------------------


def test_metrics_are_for_this_machine_only_without_a_token(server):
    assert httpx.get(f"{server.url}/metrics").status_code == 200  # loopback
    # a client beyond this machine, as a reverse proxy on this host reports it (uvicorn trusts loopback proxies)
    r = httpx.get(f"{server.url}/metrics", headers={"X-Forwarded-For": "203.0.113.7"})
    assert r.status_code == 403 and "PORTRAIT_METRICS_TOKEN" in r.json()["detail"]


def test_metrics_need_their_token_when_one_is_set(tmp_path, cache_dir):
    server = ServerProcess(tmp_path / "data", cache_dir, free_port(), metrics_token="metrics-secret-1").start()
    try:
        url = f"{server.url}/metrics"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 401  # a kiosk key
        assert httpx.get(url, headers={"Authorization": "Bearer metrics-secret-"}).status_code == 401
        ok = httpx.get(url, headers={"Authorization": "Bearer metrics-secret-1", "X-Forwarded-For": "203.0.113.7"})
        assert ok.status_code == 200 and "booth_jobs_total" in ok.text
    finally:
        server.stop()


@pytest.mark.slow
def test_a_second_server_on_the_same_data_folder_refuses_to_start(tmp_path, cache_dir):
    """A second ``serve`` on a SQLite folder in use would requeue the first one's running jobs (painted and mailed
    twice): it refuses with one line naming the holder. The lock dies with its holder, even killed."""
    data = tmp_path / "data"
    first = ServerProcess(data, cache_dir, free_port()).start()
    try:
        second = ServerProcess(data, cache_dir, free_port())
        script = Path(sys.executable).parent / "style-server"
        refused = subprocess.run(
            [script, "serve"], env=second.env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert refused.returncode == 2, refused.stderr
        [line] = refused.stderr.strip().splitlines()
        assert line.startswith("error: ") and str(data) in line and f"pid {first.proc.pid}" in line, line
        with first.client() as c:
            assert c.get("/readyz").status_code == 200
    finally:
        first.kill9()
    ServerProcess(data, cache_dir, free_port()).start().stop()  # a crashed holder leaves no stale lock
