"""Runs the real kiosk (``booth_client.app.main``) in a real X window and reports where its buttons are.

``python -m tests.kiosk_in_x CONFIG REPORT``: starts the kiosk exactly as ``booth-client --config CONFIG``
does (full screen, as configured), and every 200 ms writes REPORT (JSON): the flow's state, the window's
and the screen's geometry, the window's minimum size, the gallery's scrolling, and the screen centre of each
button a visitor or an operator taps. The test then taps those points with xdotool, as a finger would.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QScrollArea, QScroller, QWidget

from booth_client.app import BoothWindow, main

BUTTONS = {
    "start": "attract.start_button",
    "corner": "attract.hidden_corner",
    "take": "live.take_button",
    "live_back": "live.back_button",
    "keep": "review.keep_button",
    "instant": "gallery.method_buttons.fast",
    "masterpiece": "gallery.method_buttons.gatys",
    "consent": "email.consent",
    "send": "email.send_button",
    "progress_finish": "progress.finish_button",
    "finish": "result.finish_button",
}


def centre(widget: QWidget) -> list[int] | None:
    if not widget.isVisible():
        return None
    point = widget.mapToGlobal(widget.rect().center())
    return [point.x(), point.y(), int(widget.isEnabled())]


def report(window: BoothWindow, seq: int) -> dict:
    buttons: dict[str, list[int] | None] = {}
    for name, path in BUTTONS.items():
        screen, attribute, *key = path.split(".")
        widget = getattr(getattr(window, screen), attribute)
        buttons[name] = centre(widget[key[0]] if key else widget)
    for style_id, tile in window.gallery.style_buttons.items():
        buttons[f"style:{style_id}"] = centre(tile)
    for label, key in window.email.keyboard.keys.items():
        buttons[f"key:{label}"] = centre(key)
    for label, key in window.operator.pin_pad.keys.items():
        buttons[f"pin:{label}"] = centre(key)
    screen = window.screen().geometry()
    scroll = window.gallery.findChild(QScrollArea)
    return {
        "state": window.flow.state,
        "screen": window.current(),
        "window": list(window.frameGeometry().getRect()),
        "display": [screen.width(), screen.height()],
        "minimum": list(window.minimumSizeHint().toTuple()),
        "styles": len(window.catalogue.styles),
        "gallery_scroll": scroll.verticalScrollBar().value() if scroll else 0,
        "gallery_gliding": bool(scroll) and QScroller.scroller(scroll.viewport()).state() != QScroller.State.Inactive,
        "seq": seq,  # reports written so far: each one a turn of the kiosk's event loop
        "buttons": buttons,
        "pin": window.config.operator_pin,
    }


def run(config: Path, out: Path) -> int:
    app = QApplication(sys.argv[:1])
    dumps = itertools.count(1)

    def dump() -> None:
        windows = [w for w in app.topLevelWidgets() if isinstance(w, BoothWindow)]
        if windows:
            part = out.with_suffix(".part")
            part.write_text(json.dumps(report(windows[0], next(dumps))))
            os.replace(part, out)

    timer = QTimer(interval=200, timeout=dump)
    timer.start()
    return main(["--config", str(config)])


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1]), Path(sys.argv[2])))
