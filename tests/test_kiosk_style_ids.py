"""Style ids become file names (the kiosk's style cache) and URL parts: the protocol allows strict slugs
only, and both sides enforce it: the kiosk refuses a catalogue answer with a bad id, the server refuses to
load a style card with one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from booth_client.app import BoothWindow
from booth_client.config import KioskConfig
from booth_client.i18n import tr
from shared.protocol import StyleList
from style_server.engine.catalogue import Catalogue
from style_server.engine.errors import EngineError
from tests.conftest import MODELS
from tests.harness import free_port

BAD_IDS = ["../x", "..", "a/b", "/etc/passwd", "Starry", "-x", "x" * 65, "x\n", "", "évil", "a b", "a.jpg"]


def listing(style_id: str) -> str:
    style = {
        "id": style_id,
        "name": "A",
        "artist": "B",
        "licence": "public domain",
        "kind": "painting",
        "methods": ["fast"],
        "thumbnail_url": "/v1/styles/x/thumbnail",
        "attribution": "A by B",
    }
    return json.dumps({"styles": [style], "retention_hours": 24})


@pytest.mark.parametrize("bad", BAD_IDS)
def test_the_kiosk_refuses_a_catalogue_answer_with_a_bad_style_id(bad):
    with pytest.raises(ValidationError, match="is not allowed"):
        StyleList.model_validate_json(listing(bad))


def test_slugs_up_to_64_characters_are_style_ids():
    for good in ("starry-night", "palette-01", "0", "a" * 64):
        assert StyleList.model_validate_json(listing(good)).styles[0].id == good


def test_a_kiosk_never_uses_a_cached_catalogue_with_a_bad_id(qtbot, tmp_path):
    cache = tmp_path / "styles-cache"
    cache.mkdir()
    (cache / "styles.json").write_text(listing("../outside"))
    (tmp_path / "outside.jpg").write_bytes(b"not a thumbnail")
    config = KioskConfig(
        server_url=f"http://127.0.0.1:{free_port()}", outbox_dir=tmp_path / "outbox", fullscreen=False, camera="none"
    )
    window = BoothWindow(config, tmp_path / "kiosk.json")
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.gallery.message.text() != "", timeout=20000)  # the offline fallback ran
    assert window.catalogue.styles == [] and window.catalogue.thumbnails == {}
    assert window.gallery.message.text() == tr("no_styles", "en")
    assert (tmp_path / "outside.jpg").read_bytes() == b"not a thumbnail"


def card_folder(root: Path, style_id: str) -> Path:
    folder = root / "models" / "evil"
    shutil.copytree(MODELS / "paintings" / "starry-night", folder)
    card = json.loads((folder / "card.json").read_text())
    (folder / "card.json").write_text(json.dumps({**card, "id": style_id}))
    return root / "models"


def test_the_server_catalogue_refuses_a_card_with_a_bad_id(tmp_path):
    models = card_folder(tmp_path, "../evil")
    with pytest.raises(EngineError) as caught:
        Catalogue.load(models)
    message = str(caught.value)
    assert "card.json" in message and "'../evil' is not allowed" in message and "lowercase letters" in message


def test_style_server_says_which_card_has_a_bad_id(tmp_path):
    models = card_folder(tmp_path, "Evil/Id")
    env = {**os.environ, "PORTRAIT_MODELS_DIR": str(models), "PORTRAIT_CACHE_DIR": str(tmp_path / "cache")}
    run = subprocess.run(
        [str(Path(sys.executable).parent / "style-server"), "styles"], env=env, capture_output=True, text=True
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.startswith("error: ") and "'Evil/Id' is not allowed" in run.stderr
