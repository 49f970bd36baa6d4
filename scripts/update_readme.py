"""Regenerate the generated parts of README.md (configuration tables) from the settings objects."""

from __future__ import annotations

import re
from pathlib import Path

from booth_client.config import config_reference
from style_server.config import settings_reference

README = Path(__file__).resolve().parent.parent / "README.md"
SECTIONS = {"settings": settings_reference, "kiosk": config_reference}


def render(text: str) -> str:
    for name, make in SECTIONS.items():
        text = re.sub(
            rf"<!-- {name}:begin -->\n.*?<!-- {name}:end -->",
            lambda _m, n=name, f=make: f"<!-- {n}:begin -->\n{f()}\n<!-- {n}:end -->",
            text,
            flags=re.S,
        )
    return text


if __name__ == "__main__":
    README.write_text(render(README.read_text()))
