"""Render the booth's e-mail (English and German) in a headless browser: docs/images/mail.png for the README.

Run on purpose (the picture is committed): ``.venv/bin/python -m scripts.render_mail``. It needs Debian's
``chromium`` (``apt-get install -y chromium``). Tests use the same functions and write to a temporary folder.
"""

from __future__ import annotations

import base64
import io
import shutil
import subprocess
import sys
import tempfile
from email.message import EmailMessage
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
PICTURE = ROOT / "docs" / "images" / "mail.png"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def standalone_html(message: EmailMessage) -> str:
    """The message's HTML part with its inline images (``cid:``) turned into data URLs, as a mail program shows it."""
    body = message.get_body(("html",))
    assert body is not None, "the message has no HTML part"
    text = body.get_content()
    for part in message.walk():
        cid = part.get("Content-ID")
        if cid:
            data = base64.b64encode(part.get_payload(decode=True)).decode()
            text = text.replace(f"cid:{cid.strip('<>')}", f"data:{part.get_content_type()};base64,{data}")
    return text


def screenshot(html: str, out: Path, width: int = 680, height: int = 1200) -> Image.Image:
    """The page as a headless Chromium draws it, ``width`` x ``height`` CSS pixels."""
    browser = find_browser()
    if browser is None:
        raise RuntimeError("no chromium found: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "mail.html"
        page.write_text(html, encoding="utf-8")
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",  # root in containers and CI
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={tmp}/profile",
                f"--window-size={width},{height}",
                f"--screenshot={out}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    return Image.open(out).convert("RGB")


def sample_messages() -> dict[str, EmailMessage]:
    """The mail of one job in each language, with a real painting of the test portrait."""
    from skimage import data

    from style_server.config import Settings
    from style_server.engine.catalogue import Catalogue
    from style_server.service.mailer import build_message

    settings = Settings(mail_from="Portrait Booth <booth@museum.example>", retention_hours=24)
    starry = Catalogue.load(ROOT / "style_server" / "models").get("starry-night")
    painting = Image.open(ROOT / "docs" / "images" / "gatys.png").convert("RGB")
    if painting.size[0] < 64:  # pragma: no cover - the committed picture is large
        painting = Image.fromarray(data.astronaut())
    buf = io.BytesIO()
    painting.save(buf, "JPEG", quality=88)
    return {
        lang: build_message(
            settings, "visitor@example.org", "sample-job", lang, starry.attribution_in(lang), buf.getvalue()
        )
        for lang in ("en", "de")
    }


def main() -> None:
    shots = []
    with tempfile.TemporaryDirectory() as tmp:
        for lang, message in sample_messages().items():
            shots.append(screenshot(standalone_html(message), Path(tmp) / f"{lang}.png", height=940))
    sheet = Image.new("RGB", (sum(s.width for s in shots) + 20 * (len(shots) - 1), max(s.height for s in shots)))
    sheet.paste((255, 255, 255), (0, 0, *sheet.size))
    x = 0
    for shot in shots:
        sheet.paste(shot, (x, 0))
        x += shot.width + 20
    sheet.save(PICTURE, optimize=True)
    print(f"wrote {PICTURE.relative_to(ROOT)} ({sheet.width}x{sheet.height})")


if __name__ == "__main__":
    sys.exit(main())
