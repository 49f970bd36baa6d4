"""The two halves of a progress stream that survives venue Wi-Fi, together: the server's keep-alive
comments keep a quiet stream open well inside the kiosk's read timeout (a silent stream is dropped and
followed again: see test_kiosk.py). A real server whose fast batch is held (testing-only hold file) gives
a job that runs for seconds without a single event."""

from __future__ import annotations

import time

import pytest

from tests.harness import ServerProcess, post_demo_job
from tests.test_kiosk import follow, make_window


@pytest.fixture(scope="module")
def quiet_server(tmp_path_factory, cache_dir, inbox):
    data = tmp_path_factory.mktemp("quiet-data")
    proc = ServerProcess(data, cache_dir, inbox.port, sse_keepalive_seconds=0.3, test_hold_batch_file=data / "hold")
    yield proc.start()
    proc.stop()


def test_keep_alive_comments_keep_a_quiet_progress_stream_open(qtbot, tmp_path, quiet_server):
    window = make_window(qtbot, tmp_path, server_url=quiet_server.url, camera="none", events_read_timeout_s=1.5)
    qtbot.waitUntil(lambda: bool(window.catalogue.styles), timeout=20000)
    hold = quiet_server.data_dir / "hold"
    hold.touch()  # the painting takes its time: no event at all while this file exists
    try:
        job = post_demo_job(quiet_server)
        follow(window, job)
        # more than three read timeouts of silence but for the keep-alive comments: the span is the claim
        still_following = lambda: window.current() == "progress" and window.orders.event_reconnects == 0  # noqa: E731
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            assert still_following(), window.orders.event_reconnects
            qtbot.wait(100)
    finally:
        hold.unlink()
    qtbot.waitUntil(lambda: window.current() == "result", timeout=30000)
    assert window.orders.event_reconnects == 0
