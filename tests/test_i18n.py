"""The kiosk's catalogues (booth_client/i18n): every text id in every language with the same placeholders, every
text of the operator panel's generated form in German, and no id that the kiosk's code never names."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path
from typing import get_args

from booth_client.config import GROUPS, KioskConfig, panel_hints
from booth_client.i18n import CATALOGUES, settings_texts, tr
from booth_client.printing import CONDITIONS, PrinterStateName
from shared.lanes import LANES

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "booth_client", ROOT / "portrait_booth"]  # the code that shows the texts
CATALOGUE_FILES = {ROOT / "booth_client" / "i18n" / f"{language}.py" for language in CATALOGUES}
DOTTED_ID = re.compile(r"^(panel|group|printer|frame)\.[a-z_]+$")  # the panel's ids, told apart from other strings


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def source_strings() -> set[str]:
    """Every string literal in the kiosk's code, the catalogues left out."""
    found = set()
    for folder in SOURCES:
        for path in folder.rglob("*.py"):
            if path in CATALOGUE_FILES:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    found.add(node.value)
    return found


def test_every_id_is_in_every_language_with_the_same_placeholders():
    english = CATALOGUES["en"]
    assert set(CATALOGUES) == {"en", "de"}
    for language, texts in CATALOGUES.items():
        assert sorted(set(english) - set(texts)) == [], f"missing in {language}"
        assert sorted(set(texts) - set(english)) == [], f"only in {language}"
        for text_id, text in texts.items():
            assert text.strip(), (language, text_id)
            assert placeholders(text) == placeholders(english[text_id]), (language, text_id)


def test_every_text_of_the_generated_panel_has_an_id_and_german():
    """A setting added with ``config.panel(...)`` needs its German label (and choice names) in ``de.py``."""
    german = CATALOGUES["de"]
    shown = settings_texts()
    for name, field in KioskConfig.model_fields.items():
        hints = panel_hints(field)
        if hints is None:
            continue
        assert hints["group"] in GROUPS, name
        assert shown[f"{name}.description"] == field.description  # the English stays the setting's own
        assert f"{name}.description" in german, name
        if hints.get("choices_translated", True):
            for value, label in hints.get("choices", {}).items():
                assert shown[f"{name}.choice.{value}"] == label and f"{name}.choice.{value}" in german
    for group in GROUPS:
        assert f"group.{group}" in german and f"group.{group}" in CATALOGUES["en"]
    assert tr("default_method.choice.gatys", "de") == "Meisterwerk"
    assert tr("language.description", "de") == "Sprache der Bildschirme und der E-Mail."


def test_every_id_is_named_by_the_code_and_every_named_panel_id_exists():
    """Ids are written out where they are shown, except the families built from a table: the settings'
    (``settings_texts``), the groups (``GROUPS``), the printer's conditions (``printing.CONDITIONS``) and the
    lanes' buttons (``shared.lanes.LANES``)."""
    literals = source_strings()
    built = set(settings_texts()) | {f"group.{group}" for group in GROUPS}
    built |= {f"printer.{c}" for _, c in CONDITIONS} | {f"printer.{s}" for s in get_args(PrinterStateName)}
    built |= {lane.button_text for lane in LANES.values()}
    unused = sorted(set(CATALOGUES["en"]) - literals - built)
    assert unused == [], f"ids no code names: {unused}"
    unknown = sorted(s for s in literals | built if DOTTED_ID.match(s) and s not in CATALOGUES["en"])
    assert unknown == [], f"ids named in the code but in no catalogue: {unknown}"
