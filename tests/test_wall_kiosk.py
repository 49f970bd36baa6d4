"""The kiosk's side of the gallery wall: a second consent on the e-mail screen, unticked for every visitor, as
large a touch target as the mail's, in English and German; only a visitor who ticks it reaches the server's wall.
Real kiosk windows (offscreen Qt), a real style server on 127.0.0.1 (the module ``server`` of conftest)."""

from __future__ import annotations

import json

import httpx
import pytest

from booth_client.i18n import tr
from booth_client.widgets import TOUCH
from shared.protocol import JobCreated
from style_server.service.wall import WALL_PATH
from tests.harness import DEMO_PHOTO, free_port, wait_for_state
from tests.test_kiosk import click, make_window


def on_the_wall(url: str) -> list[dict]:
    """The portraits the wall shows now: the first event of its stream (loopback and no token: none needed)."""
    with httpx.stream("GET", f"{url}{WALL_PATH}/events", timeout=30) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                return json.loads(line.removeprefix("data: "))["portraits"]
    raise AssertionError("the wall's stream ended without its snapshot")


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_wall_box_is_its_own_unticked_touch_sized_and_speaks_the_kiosks_language(qtbot, tmp_path, language):
    window = make_window(qtbot, tmp_path, server_url=f"http://127.0.0.1:{free_port()}", language=language)
    window.photo_jpeg = DEMO_PHOTO
    window.flow.start("email", "palette-04", "fast")
    wall, consent = window.email.wall, window.email.consent
    qtbot.waitUntil(wall.isVisible)
    assert wall.text() == tr("wall_consent", language) and wall is not consent
    assert not wall.isChecked() and wall.height() >= TOUCH and wall.width() >= TOUCH
    click(qtbot, consent)
    assert consent.isChecked() and not wall.isChecked()  # the mail's consent never ticks it
    assert window.request_ready("ada@example.org") and window.last_request[0].wall is False
    click(qtbot, wall)
    assert wall.isChecked() and window.request_ready("ada@example.org") and window.last_request[0].wall is True
    window.flow.idle_timer.timeout.emit()  # the visitor walks away: the next one starts unticked
    window.flow.start("email", "palette-04", "fast")
    assert not wall.isChecked() and not consent.isChecked()


def test_only_a_visitor_who_ticks_the_wall_box_is_shown_on_the_wall(qtbot, tmp_path, server):
    window = make_window(qtbot, tmp_path, server_url=server.url)
    qtbot.waitUntil(lambda: bool(window.catalogue.styles), timeout=20000)
    before = on_the_wall(server.url)
    sent: list[JobCreated] = []
    with server.client() as client:
        for wall in (False, True):
            window.photo_jpeg = DEMO_PHOTO
            window.flow.start("email", "palette-04", "fast")
            window.email.address.setText("ada@example.org")
            click(qtbot, window.email.consent)
            if wall:
                click(qtbot, window.email.wall)
            click(qtbot, window.email.send_button)
            qtbot.waitUntil(lambda: window.orders.job is not None, timeout=20000)  # None again after each visitor
            sent.append(window.orders.job)
            wait_for_state(client, window.orders.job.model_dump(), {"done"}, timeout=60)
            window.flow.idle_timer.timeout.emit()
        assert len(on_the_wall(server.url)) == len(before) + 1  # the ticked visitor's portrait, and no other
        for job in sent:
            client.delete(f"/v1/jobs/{job.id}", headers={"X-Job-Token": job.token})
    assert on_the_wall(server.url) == before
