"""The camera never holds up the kiosk: ``stop()`` returns at once even while the capture is stuck inside
OpenCV (a named pipe that never delivers a picture stands in for a hung driver or stalled stream), closing
the window never waits for it, and a restarted camera never races its old thread."""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from booth_client.camera import Camera
from tests.harness import free_port
from tests.test_kiosk import make_window


@pytest.fixture
def stuck_camera(tmp_path):
    """A camera source whose open() blocks inside OpenCV until something writes to it."""
    fifo = tmp_path / "stuck-camera"
    os.mkfifo(fifo)
    yield fifo
    release(fifo)


def release(fifo: Path, seconds: float = 30) -> None:
    """Let a capture stuck on the pipe go (end of file, repeatedly, as OpenCV tries its backends)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(t.name == "camera" and t.is_alive() for t in threading.enumerate()):
        with contextlib.suppress(OSError):  # OSError: nobody is reading the pipe right now
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        time.sleep(0.2)


def inside_opencv(thread: threading.Thread | None) -> bool:
    """The thread is alive and its innermost Python frame is a call into OpenCV, opening or reading the capture
    (where a stuck capture waits)."""
    frame = sys._current_frames().get(thread.ident) if thread is not None and thread.is_alive() else None
    line = "".join(inspect.getframeinfo(frame).code_context or []) if frame is not None else ""
    return "cv2." in line or "capture.read(" in line


def test_stop_returns_at_once_while_the_capture_is_stuck(qtbot, stuck_camera):
    camera = Camera(str(stuck_camera))
    camera.start()
    qtbot.waitUntil(lambda: inside_opencv(camera._thread), timeout=15000)  # waiting for a picture that never comes
    started = time.monotonic()
    camera.stop()
    took = time.monotonic() - started
    # waiting on the stuck thread would block until release() below (forever); 5 s leaves room for a busy machine
    assert took < 5.0, f"stop() blocked the UI thread for {took:.2f} s"
    release(stuck_camera)
    assert camera.join(20)  # and the thread does end once OpenCV lets go
    print(f"Camera.stop() with a stuck capture: {took * 1000:.1f} ms")


def test_closing_the_window_never_waits_for_a_stuck_camera(qtbot, tmp_path, stuck_camera):
    window = make_window(qtbot, tmp_path, server_url=f"http://127.0.0.1:{free_port()}", camera=str(stuck_camera))
    qtbot.waitUntil(lambda: inside_opencv(window.photographer.camera._thread), timeout=15000)
    started = time.monotonic()
    window.close()
    took = time.monotonic() - started
    assert took < 5.0, f"closing the window took {took:.2f} s"  # as above: a stuck join never returns
    print(f"window close with a stuck camera: {took * 1000:.1f} ms")


def test_a_restarted_camera_waits_for_its_old_thread(qtbot, tmp_path):
    from booth_client.demo import make_demo_video

    video = make_demo_video(tmp_path / "webcam.avi", seconds=1.0)
    camera = Camera(str(video))
    camera.start()
    qtbot.waitUntil(lambda: camera.frames_seen >= 3, timeout=10000)
    old = camera._thread
    camera.stop()
    camera.start()  # at once: the new thread first waits for the old one to let go of the device
    seen = camera.frames_seen
    qtbot.waitUntil(lambda: camera.frames_seen >= seen + 3, timeout=10000)
    assert not old.is_alive() and camera._thread.is_alive()
    assert camera.is_available
    camera.stop()
    assert camera.join(10)


def test_switching_cameras_in_the_panel_keeps_the_preview_going(qtbot, tmp_path):
    from booth_client.demo import make_demo_video

    first = make_demo_video(tmp_path / "first.avi", seconds=1.0)
    second = make_demo_video(tmp_path / "second.avi", seconds=1.0)
    window = make_window(qtbot, tmp_path, server_url=f"http://127.0.0.1:{free_port()}", camera=str(first))
    qtbot.waitUntil(lambda: window.photographer.camera.is_available, timeout=10000)
    old = window.photographer.camera
    window.apply_config(window.config.model_copy(update={"camera": str(second)}))
    assert window.photographer.camera is not old and window.photographer.camera.source == str(second)
    qtbot.waitUntil(lambda: window.photographer.camera.frames_seen >= 3 and not old._thread.is_alive(), timeout=10000)
    qtbot.waitUntil(lambda: window.live.take_button.isEnabled(), timeout=5000)  # the old camera's last word
    assert window.live.message.text() == ""  # ("unavailable") is not about the new one
