"""The portrait e-mail itself: Date, a Message-ID on the sender's own domain, ``lang``
on the HTML, a styled template with the painting, the credit and the retention note, in English and German;
drawn by a real headless browser."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import numpy as np
import pytest
from PIL import Image

from scripts.render_mail import find_browser, screenshot, standalone_html
from style_server.config import Settings
from style_server.engine.catalogue import Catalogue
from style_server.service.mailer import build_message, sender_domain
from tests.conftest import MODELS
from tests.harness import ServerProcess, wait_for_state
from tests.test_server import post_job

SENDER = "Portrait Booth <booth@museum.example>"


@pytest.fixture(scope="module")
def jpeg(portrait) -> bytes:
    buf = io.BytesIO()
    portrait.resize((256, 256)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def message(jpeg: bytes, language: str, **settings):
    attribution = Catalogue.load(MODELS).get("starry-night").attribution_in(language)
    s = Settings(mail_from=SENDER, retention_hours=24, **settings)
    return build_message(s, "visitor@example.org", "job-1", language, attribution, jpeg)


def test_headers_date_and_a_message_id_on_the_senders_domain(jpeg):
    first, again = message(jpeg, "en"), message(jpeg, "en")
    assert first["Message-ID"] == again["Message-ID"] == "<portrait-job-1@museum.example>"  # stable per job
    sent = parsedate_to_datetime(first["Date"])
    assert sent.tzinfo is not None and abs((datetime.now(UTC) - sent).total_seconds()) < 24 * 3600
    assert first["Content-Language"] == "en"
    inline = [p for p in first.walk() if p.get("Content-ID")]
    assert len(inline) == 1 and inline[0]["Content-ID"].endswith("@museum.example>")


def test_sender_domain_falls_back_without_a_usable_address():
    assert sender_domain("booth@Museum.Example") == "museum.example"
    assert sender_domain("Portrait Booth") == "portrait-booth"
    assert sender_domain("booth@[127.0.0.1]") == "portrait-booth"  # an address literal names no domain


@pytest.mark.parametrize(
    ("language", "sentence", "retention"),
    [
        ("en", "painted in the style of The Starry Night by Vincent van Gogh, 1889", "for 24 hours only"),
        ("de", "gemalt im Stil von Die Sternennacht von Vincent van Gogh, 1889 (gemeinfrei)", "nur 24 Stunden"),
    ],
)
def test_the_text_and_the_html_in_the_visitors_language(jpeg, language, sentence, retention):
    mail = message(jpeg, language)
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert sentence in text and retention in text
    assert f'<html lang="{language}">' in html
    assert sentence in html and retention in html and 'src="cid:' in html
    assert "style=" in html and "<style" not in html  # inline CSS only: what mail programs keep


def test_a_german_job_gets_a_german_mail_through_the_real_server(tmp_path, cache_dir, inbox, portrait):
    before = len(inbox.messages())
    server = ServerProcess(tmp_path / "data", cache_dir, inbox.port, mail_from=SENDER).start()
    try:
        with server.client() as client:
            buf = io.BytesIO()
            portrait.resize((160, 160)).save(buf, "JPEG")
            job = post_job(
                client, buf.getvalue(), style="starry-night", email="de@example.org", consent=True, language="de"
            ).json()
            wait_for_state(client, job, {"done"})
            deadline = time.monotonic() + 60
            while len(inbox.messages()) <= before and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        server.stop()
    [mail] = [m for m in inbox.messages() if m["To"] == "de@example.org"]
    assert mail["Message-ID"] == f"<portrait-{job['id']}@museum.example>"
    assert mail["Date"] and mail["Subject"] == "Ihr Gemälde aus der Portrait Booth"
    assert "gemalt im Stil von Die Sternennacht von Vincent van Gogh" in mail.get_body(("plain",)).get_content()
    assert '<html lang="de">' in mail.get_body(("html",)).get_content()


def colourful_pixels(img: Image.Image) -> int:
    hsv = np.asarray(img.convert("HSV"))
    return int(((hsv[..., 1] > 60) & (hsv[..., 2] > 90)).sum())  # the navy header band is darker


@pytest.mark.skipif(find_browser() is None, reason="no chromium to render the mail (apt-get install -y chromium)")
def test_the_mail_renders_in_a_headless_browser(jpeg, tmp_path):
    shots = {lang: screenshot(standalone_html(message(jpeg, lang)), tmp_path / f"{lang}.png") for lang in ("en", "de")}
    for lang, shot in shots.items():
        assert shot.size == (680, 1200)
        navy = np.all(np.abs(np.asarray(shot, np.int16) - (0x1F, 0x2A, 0x44)) < 6, axis=-1).sum()
        assert navy > 20_000, f"{lang}: the header band is missing"
        assert colourful_pixels(shot) > 50_000, f"{lang}: the painting is not shown"  # 516x516 CSS px
    assert np.asarray(shots["en"]).tolist() != np.asarray(shots["de"]).tolist()
    # without its inline image the mail shows no painting: the check above sees the difference
    broken = message(jpeg, "en").get_body(("html",)).get_content()
    assert colourful_pixels(screenshot(broken, tmp_path / "broken.png")) < 5_000
