"""Every word the kiosk shows, by id, one catalogue per language (``en.py``, ``de.py``): the visitor's screens and
the operator panel. The panel's setting labels and choice names keep their English in ``KioskConfig`` (a setting is
described once); ``settings_texts`` gives them their ids."""

from __future__ import annotations

from typing import Any

from ..config import KioskConfig, panel_hints
from . import de, en


def settings_texts() -> dict[str, str]:
    """The English of the panel's generated form, by id: ``<setting>.description`` (its label) and
    ``<setting>.choice.<value>`` (a choice's name, unless the names are alike in every language)."""
    texts = {}
    for name, field in KioskConfig.model_fields.items():
        hints = panel_hints(field)
        if hints is None:
            continue
        texts[f"{name}.description"] = field.description or name
        if hints.get("choices_translated", True):
            texts |= {f"{name}.choice.{value}": label for value, label in hints.get("choices", {}).items()}
    return texts


CATALOGUES: dict[str, dict[str, str]] = {"en": en.TEXTS | settings_texts(), "de": de.TEXTS}


def tr(text_id: str, language: str, **values: Any) -> str:
    """The text ``text_id`` in ``language`` (English for a language the kiosk does not speak), filled in."""
    text = CATALOGUES.get(language, CATALOGUES["en"])[text_id]
    return text.format(**values) if values else text


def translated(text: str, language: str) -> str:
    """A visitor's text we wrote in English (e.g. the demo note the launcher puts in the kiosk's settings) in
    ``language``; any other text (an operator's own note) as it is. The visitor's ids are the plain ones, the
    panel's have a dotted prefix (``panel.``, ``printer.`` ...)."""
    if "{" in text:
        return text
    for text_id, english in CATALOGUES["en"].items():
        if "." not in text_id and english == text:
            return tr(text_id, language)
    return text
