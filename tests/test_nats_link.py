"""The NATS link's own event-loop thread, as a busy machine schedules it."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from portrait_booth.scaleout import NatsServer
from style_server.service.nats_backend import link


class LateThread(threading.Thread):
    """A thread the scheduler runs half a second after it was started."""

    def run(self) -> None:
        time.sleep(0.5)
        super().run()


def test_a_loop_thread_that_starts_late_still_connects(tmp_path, monkeypatch):
    """A mailer once failed to start in CI with "the connection is closed": its loop was not running yet."""
    nats = NatsServer(tmp_path / "nats").start()
    monkeypatch.setattr(link, "threading", SimpleNamespace(Thread=LateThread, Event=threading.Event))
    connection = None
    try:
        connection = link.NatsLink([nats.url], "late")
        assert connection.nc.is_connected
    finally:
        if connection is not None:
            connection.close()
        nats.stop()
