"""The gallery on the kiosk: after Keep, each tile shows the visitor's own face in its style as the server's previews
arrive, the thumbnails stay where the server cannot be reached, and nothing of the face outlives the visit. Real Qt
widgets (offscreen) in front of a real style server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

from tests.harness import DEMO_PHOTO, free_port
from tests.test_kiosk import click, make_window


def found_in(folder: Path, runs: dict[str, bytes]) -> list[str]:
    return [f"{what} in {path}" for path in folder.rglob("*") if path.is_file() for what, run in runs.items()
            if run in path.read_bytes()]  # fmt: skip


def test_gallery_tiles_show_the_visitors_face_until_the_visit_ends(qtbot, server, tmp_path):
    window = make_window(qtbot, tmp_path, server_url=server.url)
    qtbot.waitUntil(lambda: window.catalogue.loads > 0, timeout=30_000)
    catalogue = [style.id for style in window.catalogue.styles]
    assert len(catalogue) >= 12
    tiles = window.gallery.style_buttons
    assert all(tile.shown == tile.thumbnail for tile in tiles.values())
    window.flow.start("review")
    window.photo_jpeg = DEMO_PHOTO
    click(qtbot, window.review.keep_button)
    assert window.current() == "gallery"  # at once: the previews come in the background
    qtbot.waitUntil(lambda: window.previews.done == 1, timeout=60_000)
    previews = window.gallery.previews
    assert set(previews) == set(catalogue)
    for style_id, tile in tiles.items():
        assert tile.shown == previews[style_id] != tile.thumbnail
        assert tile.picture.pixmap().width() > 0
    runs = {style: jpeg[len(jpeg) // 2 :][:64] for style, jpeg in previews.items()}  # painted, not headers
    assert found_in(tmp_path, runs) == [], "the previews never go to disk"

    click(qtbot, window.gallery.back_button)  # back and Keep again: the same photo is not painted twice
    click(qtbot, window.review.keep_button)
    assert window.previews.done == 1 and window.previews.photo is DEMO_PHOTO

    old_photo, late = window.photo_jpeg, previews[catalogue[0]]
    window.reset()  # start over (the idle timeout does the same)
    assert window.gallery.previews == {} and window.previews.photo is None
    assert all(tile.shown == tile.thumbnail for tile in tiles.values())
    window.previews.tile(old_photo, catalogue[0], late)  # a late tile of the last visitor
    assert tiles[catalogue[0]].shown == tiles[catalogue[0]].thumbnail


def test_gallery_keeps_the_thumbnails_when_the_server_cannot_be_reached(qtbot, server, tmp_path):
    online = make_window(qtbot, tmp_path, server_url=server.url)  # fills the style cache, as a kiosk once did
    qtbot.waitUntil(lambda: online.catalogue.loads > 0, timeout=30_000)
    catalogue = [style.id for style in online.catalogue.styles]
    online.close()
    window = make_window(qtbot, tmp_path, server_url=f"http://127.0.0.1:{free_port()}")
    qtbot.waitUntil(lambda: len(window.catalogue.styles) == len(catalogue), timeout=30_000)  # from the cache
    window.flow.start("review")
    window.photo_jpeg = DEMO_PHOTO
    click(qtbot, window.review.keep_button)
    qtbot.waitUntil(lambda: window.previews.done == 1, timeout=30_000)
    assert window.current() == "gallery" and window.gallery.previews == {}
    assert all(tile.shown == tile.thumbnail and tile.thumbnail for tile in window.gallery.style_buttons.values())
