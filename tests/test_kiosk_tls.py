"""HTTPS between kiosk and server, kiosk side: a real TLS style server on 127.0.0.1 (its self-signed
certificate, made on first start) and a real kiosk that pins the certificate's SHA-256 fingerprint.
Nothing leaves the kiosk for a server it does not trust; visitors' requests wait in the outbox meanwhile."""

from __future__ import annotations

import pytest

from booth_client.api import UntrustedServer
from booth_client.config import KioskConfig
from shared.protocol import JobRequest
from shared.tls import pem_fingerprint
from style_server.service.tls import make_self_signed
from tests.harness import DEMO_PHOTO, ServerProcess
from tests.test_kiosk import click, make_window, outbox_rounds, send_portrait, unlock_panel

WRONG = ":".join(["AB"] * 32)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, cache_dir, inbox):
    proc = ServerProcess(tmp_path_factory.mktemp("tls-data"), cache_dir, inbox.port, tls=True)
    yield proc.start()
    proc.stop()


def jobs_on(server: ServerProcess) -> list[str]:
    folder = server.data_dir / "jobs"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_first_contact_shows_the_fingerprint_and_sends_only_once_trusted(qtbot, tmp_path, tls_server, inbox, video):
    before = jobs_on(tls_server)
    window = make_window(qtbot, tmp_path, server_url=tls_server.url, camera=str(video))
    panel = window.operator
    qtbot.waitUntil(lambda: panel.offered_fingerprint != "", timeout=20000)
    assert panel.offered_fingerprint == tls_server.fingerprint  # what the server printed at start
    assert tls_server.fingerprint in panel.connection.text() and not panel.trust_button.isHidden()
    assert window.connection.api is None and window.catalogue.styles == []  # not even the catalogue is asked for
    unlock_panel(qtbot, window)
    click(qtbot, panel.trust_button)  # the operator compared the fingerprints
    qtbot.waitUntil(lambda: bool(window.catalogue.styles), timeout=20000)  # now over https, to the pinned certificate
    assert window.config.server_fingerprint == tls_server.fingerprint
    assert pem_fingerprint((tmp_path / "tls" / "server.pem").read_text()) == tls_server.fingerprint
    assert panel.trust_button.isHidden() and "pinned" in panel.connection.text()
    assert jobs_on(tls_server) == before
    click(qtbot, panel.buttons["close"])

    mails = len(inbox.messages())
    send_portrait(qtbot, window, "palette-04", "tls@example.org")
    qtbot.waitUntil(lambda: window.current() == "result", timeout=60000)  # progress events over https too
    assert "tls@example.org" in window.result.detail.text() and "busy" not in window.result.detail.text()
    assert inbox.wait_for(mails + 1)[-1]["To"] == "tls@example.org"
    window.close()

    saved = KioskConfig.load(tmp_path / "kiosk.json")
    assert saved.server_fingerprint == tls_server.fingerprint
    again = make_window(
        qtbot, tmp_path, server_url=saved.server_url, camera=str(video), server_fingerprint=saved.server_fingerprint
    )
    assert again.connection.api is not None  # a restart trusts the kept certificate at once, even before the network


def test_a_wrong_fingerprint_refuses_to_send_and_keeps_the_portrait(qtbot, tmp_path, tls_server, video):
    trusted = make_window(
        qtbot, tmp_path, server_url=tls_server.url, camera=str(video), server_fingerprint=tls_server.fingerprint
    )
    qtbot.waitUntil(lambda: bool(trusted.catalogue.styles), timeout=20000)  # online once: the gallery is cached
    trusted.close()
    before = jobs_on(tls_server)
    window = make_window(qtbot, tmp_path, server_url=tls_server.url, camera=str(video), server_fingerprint=WRONG)
    qtbot.waitUntil(lambda: "REFUSING TO SEND" in window.operator.connection.text(), timeout=20000)
    assert tls_server.fingerprint in window.operator.connection.text()  # says what it saw, and what it wanted
    assert window.connection.api is None and window.operator.trust_button.isHidden()
    qtbot.waitUntil(lambda: bool(window.catalogue.styles), timeout=10000)  # the visitor still has the cached gallery
    send_portrait(qtbot, window, "palette-04", "kept@example.org")
    qtbot.waitUntil(lambda: window.current() == "result", timeout=20000)
    assert "kept@example.org" in window.result.detail.text() and "busy" in window.result.detail.text()
    outbox_rounds(qtbot, window, 3)
    assert len(window.outbox.pending()) == 1 and jobs_on(tls_server) == before


def test_a_different_certificate_fails_the_handshake_before_anything_is_sent(qtbot, tmp_path, tls_server, video):
    impostor, _key = make_self_signed(["127.0.0.1"])  # pinned and kept, but not the one the server has
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "server.pem").write_bytes(impostor)
    pinned = pem_fingerprint(impostor.decode())
    before = jobs_on(tls_server)
    window = make_window(qtbot, tmp_path, server_url=tls_server.url, camera=str(video), server_fingerprint=pinned)
    assert window.connection.api is not None  # trusts the kept certificate, and only it
    qtbot.waitUntil(lambda: "REFUSING TO SEND" in window.operator.connection.text(), timeout=20000)
    request = JobRequest(style="palette-04", email="nobody@example.org", consent=True)
    with pytest.raises(UntrustedServer):
        window.connection.api.submit(DEMO_PHOTO, request, "impostor-key")
    assert jobs_on(tls_server) == before  # the handshake failed: the request never reached the server


def test_plain_http_is_refused_beyond_this_machine(qtbot, tmp_path, video):
    window = make_window(qtbot, tmp_path, server_url="http://192.0.2.10:8000", camera=str(video))
    assert window.connection.api is None
    assert "only to this machine" in window.operator.connection.text()
    unlock_panel(qtbot, window)
    panel = window.operator
    panel.server_url.setText("http://192.0.2.10:8000")
    click(qtbot, panel.buttons["save"])
    assert panel.status.text().startswith("Not saved: plain http://")
    panel.server_url.setText("http://localhost:8000")  # loopback: nothing crosses a network
    click(qtbot, panel.buttons["save"])
    assert panel.status.text() == "Saved." and window.connection.api is not None
    panel.fingerprint.setText("not a fingerprint")
    click(qtbot, panel.buttons["save"])
    assert panel.status.text().startswith("Not saved: a certificate fingerprint is 64 hexadecimal digits")
