"""The style server over real HTTP (uvicorn on 127.0.0.1) with a real SMTP inbox (aiosmtpd)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.harness import (
    Inbox,
    ServerProcess,
    free_port,
    job_status,
    metric,
    nats_booth,
    one_place_server,
    wait_for_state,
    wait_until,
    wait_until_nothing_left_to_send,
)
from tests.nats_inspect import nats_contents


@pytest.fixture(scope="module", params=["sqlite", "nats"])
def backend(request) -> str:
    """The API suite runs against both backends: kiosks must not be able to tell them apart."""
    return request.param


@pytest.fixture(scope="module")
def server(backend, tmp_path_factory, cache_dir, inbox):
    """A real style server delivering to ``inbox``: one process (SQLite), or an API node of a scaled-out booth
    with a worker and a mailer on a real NATS JetStream server."""
    if backend == "sqlite":
        proc = ServerProcess(tmp_path_factory.mktemp("data"), cache_dir, inbox.port).start()
        yield proc
        proc.stop()
        return
    booth = nats_booth(tmp_path_factory.mktemp("booth"), cache_dir, inbox.port)
    booth.api_nodes[0].booth = booth
    yield booth.api_nodes[0]
    booth.stop()


@pytest.fixture(scope="module")
def client(server):
    with server.client() as c:
        yield c


@pytest.fixture(scope="module")
def portrait_jpeg(portrait) -> bytes:
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # camera make: must not survive the upload
    portrait.resize((192, 192)).save(buf, "JPEG", exif=exif.tobytes())
    return buf.getvalue()


def post_job(client, portrait: bytes, key: str | None = None, **fields) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    data = {
        k: (json.dumps(v) if k == "options" else str(v).lower() if isinstance(v, bool) else v)
        for k, v in fields.items()
    }
    return client.post("/v1/jobs", files={"portrait": ("me.jpg", portrait, "image/jpeg")}, data=data, headers=headers)


def events(client, job) -> list[dict]:
    out, kind = [], None
    with client.stream("GET", f"/v1/jobs/{job['id']}/events", params={"token": job["token"]}, timeout=120) as r:
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                out.append({"event": kind, **json.loads(line[6:])})
    return out


def test_health_and_catalogue(server, client):
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok", "detail": ""}
    styles = client.get("/v1/styles").json()
    by_id = {s["id"]: s for s in styles["styles"]}
    assert by_id["starry-night"]["methods"] == ["fast", "gatys"]
    assert "Vincent van Gogh" in by_id["starry-night"]["attribution"]
    thumb = httpx.get(server.url + by_id["palette-01"]["thumbnail_url"])
    assert Image.open(io.BytesIO(thumb.content)).size == (256, 256)


def test_fast_job_is_painted_mailed_once_and_idempotent(server, client, inbox, portrait_jpeg):
    before = len(inbox.messages())
    first = post_job(
        client, portrait_jpeg, key="visit-1", style="starry-night", email="ada@example.org", consent=True, language="de"
    )
    assert first.status_code == 201, first.text
    job = first.json()
    retry = post_job(
        client, portrait_jpeg, key="visit-1", style="starry-night", email="ada@example.org", consent=True, language="de"
    )
    assert retry.status_code == 200 and retry.json()["id"] == job["id"]

    stream = events(client, job)
    assert stream[-1]["event"] == "done" and stream[-1]["status"]["result_url"]
    result = client.get(stream[-1]["status"]["result_url"], headers={"X-Job-Token": job["token"]})
    assert result.headers["content-type"] == "image/jpeg"
    painted = Image.open(io.BytesIO(result.content))
    assert painted.size == (192, 192) and "exif" not in painted.info

    [mail] = inbox.wait_for(before + 1)[before:]
    assert mail["To"] == "ada@example.org" and "Gemälde" in mail["Subject"]
    body = mail.get_body(("plain",)).get_content()
    assert "Vincent van Gogh" in body and "24 Stunden" in body
    [attachment] = [p for p in mail.iter_attachments() if p.get_filename() == "portrait.jpg"]
    assert attachment.get_content() == result.content  # the mail carries exactly the stylised image
    assert "cid:" in mail.get_body(("html",)).get_content()
    status = wait_for_state(client, job, {"done"})
    wait_until_nothing_left_to_send(server)
    assert job_status(client, job)["email_status"] == "sent"
    assert len(inbox.messages()) == before + 1, "exactly one mail"
    assert status["state"] == "done"


def test_masterpiece_streams_progress_and_previews(client, portrait_jpeg):
    job = post_job(client, portrait_jpeg, style="the-scream", method="gatys", options={"face_protect": False}).json()
    stream = events(client, job)
    kinds = [e["event"] for e in stream]
    assert "preview" in kinds and kinds[-1] == "done"
    progress = [e["status"]["progress"] for e in stream if e["event"] in ("progress", "done")]
    assert progress == sorted(progress) and progress[-1] == 1.0
    preview = next(e for e in stream if e["event"] == "preview")["preview_jpeg_base64"]
    import base64

    assert Image.open(io.BytesIO(base64.b64decode(preview))).format == "JPEG"


def test_own_style_image_and_blends(client, portrait_jpeg, starry_night):
    buf = io.BytesIO()
    starry_night.save(buf, "PNG")
    files = {
        "portrait": ("me.jpg", portrait_jpeg, "image/jpeg"),
        "style_image": ("art.png", buf.getvalue(), "image/png"),
    }
    job = client.post("/v1/jobs", files=files, data={"method": "fast"}).json()
    assert wait_for_state(client, job, {"done", "failed"})["state"] == "done"
    blend = post_job(client, portrait_jpeg, style="palette-04:0.5,palette-17:0.5", options={"strength": 0.7}).json()
    assert wait_for_state(client, blend, {"done", "failed"})["state"] == "done"


def test_cancel_erases_everything(backend, server, client, portrait_jpeg):
    job = post_job(
        client, portrait_jpeg, style="starry-night", method="gatys", email="bo@example.org", consent=True
    ).json()
    assert client.delete(f"/v1/jobs/{job['id']}", headers={"X-Job-Token": job["token"]}).status_code == 204
    status = job_status(client, job)
    assert status["state"] == "cancelled"
    if backend == "sqlite":
        assert not (Path(server.env["PORTRAIT_DATA_DIR"]) / "jobs" / job["id"]).exists()
    else:
        objects, values = nats_contents(server.env["PORTRAIT_NATS_URL"])
        assert not [name for name in objects if name.startswith(job["id"])]
        assert not [v for v in values if b"bo@example.org" in v], "the address is still in the Key-Value store"
    assert client.get(f"/v1/jobs/{job['id']}/result", headers={"X-Job-Token": job["token"]}).status_code == 409


def test_metrics_expose_queue_latency_and_mail(backend, server, client, inbox, portrait_jpeg):
    if backend == "nats":
        pytest.skip("scaled out, painting and mail are counted by the worker and mailer processes")
    done = metric(server.url, "booth_jobs_total", method="fast", state="done")
    latencies = metric(server.url, "booth_job_seconds_count", method="fast")
    sent = metric(server.url, "booth_emails_total", outcome="sent")
    job = post_job(client, portrait_jpeg, style="palette-05", email="metrics@example.org", consent=True).json()
    wait_for_state(client, job, {"done"})
    deadline = time.monotonic() + 30
    while metric(server.url, "booth_emails_total", outcome="sent") < sent + 1:
        assert time.monotonic() < deadline, "the sent mail was not counted"
        time.sleep(0.2)
    assert metric(server.url, "booth_jobs_total", method="fast", state="done") == done + 1
    assert metric(server.url, "booth_job_seconds_count", method="fast") == latencies + 1
    assert metric(server.url, "booth_queue_depth", method="fast") == 0
    text = httpx.get(f"{server.url}/metrics").text  # read after this test's own job (it runs alone too)
    for name in ("booth_queue_depth", "booth_job_seconds_bucket", "booth_emails_total", "booth_gpu_memory_bytes"):
        assert name in text


def bad_requests(portrait: bytes) -> list[tuple[str, dict, int, str]]:
    """(name, request kwargs, expected status, words of the message)."""
    jpeg_half = portrait[: len(portrait) // 2]
    from tests.test_imageio import png_header

    def form(**fields):
        data = {"style": "starry-night", **fields}
        return {"files": {"portrait": ("me.jpg", portrait, "image/jpeg")}, "data": data}

    def upload(payload: bytes, name="me.jpg"):
        return {"files": {"portrait": (name, payload, "image/jpeg")}, "data": {"style": "starry-night"}}

    return [
        ("no key", {**form(), "headers": {"Authorization": ""}}, 401, "API key"),
        ("wrong key", {**form(), "headers": {"Authorization": "Bearer nope"}}, 401, "API key"),
        ("basic auth", {**form(), "headers": {"Authorization": "Basic dGVzdA=="}}, 401, "API key"),
        ("empty file", upload(b""), 422, "empty"),
        ("text file", upload(b"hello world, not a picture"), 415, "JPEG, PNG or WebP"),
        ("pdf", upload(b"%PDF-1.7\n1 0 obj"), 415, "JPEG, PNG or WebP"),
        ("gif", upload(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"), 415, "JPEG, PNG or WebP"),
        ("svg", upload(b"<svg xmlns='http://www.w3.org/2000/svg'/>"), 415, "JPEG, PNG or WebP"),
        ("truncated jpeg", upload(jpeg_half), 422, "truncated"),
        ("jpeg magic only", upload(b"\xff\xd8\xff\xe0" + b"\x00" * 50), 422, "portrait"),
        ("60000x60000 png", upload(png_header(60000, 60000), "bomb.png"), 413, "too large"),
        ("tiny image", upload(_jpeg(8, 8)), 422, "too small"),
        ("no portrait", {"data": {"style": "starry-night"}}, 422, "portrait"),
        ("unknown style", form(style="mona-lisa"), 422, "unknown style"),
        ("no style", form(style=""), 422, "choose a style"),
        ("bad blend weight", form(style="starry-night:abc"), 422, "bad style weight"),
        ("negative blend", form(style="starry-night:-1"), 422, "negative"),
        ("mixed families", form(style="starry-night,palette-01"), 422, "cannot be blended"),
        ("palette masterpiece", form(style="palette-01", method="gatys"), 422, "cannot run as a masterpiece"),
        ("unknown method", form(method="slow"), 422, "method"),
        ("bad address", form(email="not-an-address", consent="true"), 422, "email"),
        ("header injection", form(email="a@example.org\r\nBcc: all@example.org", consent="true"), 422, "line breaks"),
        ("address list", form(email="a@example.org, b@example.org", consent="true"), 422, "email"),
        ("no consent", form(email="a@example.org"), 422, "consent"),
        ("consent not a bool", form(consent="perhaps"), 422, "consent"),
        ("bad language", form(language="fr"), 422, "language"),
        ("options not json", form(options="{strength"), 422, "options"),
        ("strength too big", form(options='{"strength": 3}'), 422, "strength"),
        ("size too small", form(options='{"size": 3}'), 422, "size"),
        ("unknown option", form(options='{"sharpen": true}'), 422, "sharpen"),
        ("oversized body", upload(b"\xff\xd8\xff" + b"\x00" * 40_000_000), 413, "larger than"),
        ("idempotency key too long", {**form(), "headers": {"Idempotency-Key": "k" * 500}}, 422, "Idempotency-Key"),
        ("empty idempotency key", {**form(), "headers": {"Idempotency-Key": ""}}, 422, "Idempotency-Key"),
        ("64x4000 png", upload(_png(64, 4000), "thin.png"), 422, "aspect ratio"),
        ("4000x64 png", upload(_png(4000, 64), "wide.png"), 422, "aspect ratio"),
        ("16x4000 png", upload(_png(16, 4000), "thin.png"), 422, "too small to paint"),
        ("40x40 png", upload(_png(40, 40), "tiny.png"), 422, "too small to paint"),
        ("nan blend weight", form(style="palette-01:nan"), 422, "style weight"),
        ("inf blend weight", form(style="palette-01:inf"), 422, "style weight"),
        ("overflowing blend", form(style="palette-01:1e308,palette-02:1e308"), 422, "at most 100"),
        ("empty language", form(language=""), 422, "language: the field is empty"),
        ("empty method", form(method=""), 422, "method: the field is empty"),
    ]


def _jpeg(w, h) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h)).save(buf, "JPEG")
    return buf.getvalue()


def _png(w, h) -> bytes:
    buf = io.BytesIO()
    Image.linear_gradient("L").convert("RGB").resize((w, h)).save(buf, "PNG")
    return buf.getvalue()


def test_bad_inputs_get_a_clear_4xx_and_the_server_stays_healthy(server, client, portrait_jpeg):
    cases = bad_requests(portrait_jpeg)
    assert len(cases) >= 30
    failures = []
    for name, kwargs, status, words in cases:
        response = client.post("/v1/jobs", **kwargs)
        detail = response.json().get("detail", "") if response.headers.get("content-type") == "application/json" else ""
        if response.status_code != status or words.lower() not in str(detail).lower():
            failures.append(f"{name}: {response.status_code} {detail!r}")
    assert not failures, "\n".join(failures)
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_job_access_needs_the_token(client, portrait_jpeg):
    job = post_job(client, portrait_jpeg, style="palette-02").json()
    last = job["token"][-1]
    # One character changed: never the token's own last character (that was the real token 1 time in 64).
    for token in (None, "wrong", job["token"][:-1] + ("x" if last != "x" else "y")):
        headers = {"X-Job-Token": token} if token else {}
        assert client.get(f"/v1/jobs/{job['id']}", headers=headers).status_code == 404
        assert client.get(f"/v1/jobs/{job['id']}/result", headers=headers).status_code == 404
        assert client.delete(f"/v1/jobs/{job['id']}", headers=headers).status_code == 404
    assert client.get("/v1/jobs/does-not-exist", headers={"X-Job-Token": job["token"]}).status_code == 404


@pytest.mark.slow
@pytest.mark.parametrize("how", ["kill -9", "SIGTERM"])
def test_restart_mid_job_finishes_with_one_mail(tmp_path, cache_dir, how):
    """A crash (kill -9) or a service manager's stop (SIGTERM) while a masterpiece is being painted."""
    box = Inbox(tmp_path / "inbox").start()
    server = ServerProcess(tmp_path / "data", cache_dir, box.port, gatys_iterations=400, gatys_size=128).start()
    try:
        with server.client() as c:
            job = post_job(
                c,
                _portrait_bytes(),
                key="restart-1",
                style="starry-night",
                method="gatys",
                email="cy@example.org",
                consent=True,
            ).json()
            deadline = time.monotonic() + 60
            while job_status(c, job)["progress"] <= 0:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        if how == "kill -9":
            server.kill9()
        else:
            started = time.monotonic()
            server.stop()
            assert time.monotonic() - started < 15
            assert "Application shutdown complete" in server.log.read_text()  # uvicorn then re-raises SIGTERM
        server.env["PORTRAIT_GATYS_ITERATIONS"] = "10"  # the rerun need not take as long
        server.start()
        with server.client() as c:
            assert wait_for_state(c, job, {"done", "failed"}, timeout=180)["state"] == "done"
        [mail] = box.wait_for(1)
        assert mail["To"] == "cy@example.org"
        wait_until_nothing_left_to_send(server)
        assert len(box.messages()) == 1
    finally:
        server.stop()
        box.stop()


def test_smtp_outage_delays_mail_but_sends_it_exactly_once(tmp_path, cache_dir):
    port = free_port()  # nothing listens here yet: the mail server is down
    server = ServerProcess(tmp_path / "data", cache_dir, port).start()
    box = Inbox(tmp_path / "inbox", port)
    try:
        with server.client() as c:
            job = post_job(c, _portrait_bytes(), style="palette-03", email="di@example.org", consent=True).json()
            wait_for_state(c, job, {"done"})
            wait_until(
                lambda: metric(server.url, "booth_emails_total", outcome="retry") >= 2,
                lambda: "no try failed twice",
                60,
            )
            assert job_status(c, job)["email_status"] == "pending"
            box.start()
            [mail] = box.wait_for(1)
            wait_until_nothing_left_to_send(server)
            assert len(box.messages()) == 1 and mail["To"] == "di@example.org"
            assert job_status(c, job)["email_status"] == "sent"
    finally:
        server.stop()
        box.stop()


def test_limits_backpressure_and_retention(tmp_path, cache_dir):
    server = one_place_server(tmp_path / "data", cache_dir, rate_limit_per_minute=4, retention_hours=0.001)
    try:
        with server.client() as c:
            slow = post_job(c, _portrait_bytes(), style="starry-night", method="gatys").json()
            full = post_job(c, _portrait_bytes(), style="palette-01")
            assert full.status_code == 503 and full.headers["Retry-After"]
            c.delete(f"/v1/jobs/{slow['id']}", headers={"X-Job-Token": slow["token"]})
            done = post_job(c, _portrait_bytes(), style="palette-01", email="ed@example.org", consent=True).json()
            wait_for_state(c, done, {"done"})
            assert wait_for_state(c, done, {"expired"}, timeout=60)["state"] == "expired"  # retention: 3.6 s
            assert not (tmp_path / "data" / "jobs" / done["id"]).exists()
            codes = []  # 2 of 4 accepted so far; the 503 above did not count: only accepted jobs keep a place
            for _ in range(3):
                r = post_job(c, _portrait_bytes(), style="palette-01")
                codes.append(r.status_code)
                if r.status_code == 201:
                    wait_for_state(c, r.json(), {"done"})  # keep the queue (of 1) free
            assert codes == [201, 201, 429]
    finally:
        server.stop()


def _portrait_bytes() -> bytes:
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).resize((160, 160)).save(buf, "JPEG")
    return buf.getvalue()


def test_results_are_real_paintings(client, portrait_jpeg):
    job = post_job(client, portrait_jpeg, style="palette-04", options={"face_protect": False}).json()
    wait_for_state(client, job, {"done"})
    result = client.get(f"/v1/jobs/{job['id']}/result", headers={"X-Job-Token": job["token"]}).content
    painted = np.asarray(Image.open(io.BytesIO(result)), np.float32)
    photo = np.asarray(Image.open(io.BytesIO(portrait_jpeg)), np.float32)
    assert np.abs(painted - photo).mean() > 20


def test_the_job_form_is_one_model_both_ways():
    """The kiosk sends ``JobRequest.to_form()``; the server reads ``JobRequest.from_form()`` and documents
    ``form_schema()``: a request survives the trip, and empty or bad fields get a readable refusal."""
    from shared.protocol import JobFormError, JobOptions, JobRequest

    sent = JobRequest(
        style="starry-night:0.7,the-scream:0.3",
        method="gatys",
        email="visitor@example.org",
        consent=True,
        language="de",
        options=JobOptions(strength=0.5, preserve_color=True, size=512),
    )
    assert JobRequest.from_form(sent.to_form()) == sent
    assert JobRequest.from_form({**JobRequest().to_form(), "portrait": object()}) == JobRequest()  # files aside
    assert JobRequest.from_form({"style": "", "email": ""}) == JobRequest()  # empty style / address: none
    for name in ("method", "language", "consent", "options"):
        with pytest.raises(JobFormError, match=rf"^{name}: the field is empty"):
            JobRequest.from_form({name: ""})
    with pytest.raises(JobFormError, match="consent"):
        JobRequest.from_form({"email": "visitor@example.org"})
    with pytest.raises(JobFormError, match=r"^strength: "):
        JobRequest.from_form({"options": '{"strength": 3}'})
    schema = JobRequest.form_schema()
    assert set(schema["properties"]) == {*JobRequest.model_fields, "portrait", "style_image"}
    assert schema["required"] == ["portrait"]
