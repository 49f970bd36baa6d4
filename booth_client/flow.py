"""The visitor's flow as one explicit state machine: every state, every transition, in the two tables below.

After pibooth's state machine (``pibooth/states.py``): each state has a screen and optional enter and exit
actions; events (a touch, a server answer, a timer) move the machine along ``TRANSITIONS``; anything not in
the table is ignored, so a late answer (a photo, a finished job) never drags the kiosk back to a screen the
visitor has left. The machine itself handles what no screen should: the idle timeout (a state with ``idle`` goes
back to ``attract`` after ``idle_timeout_s`` of quiet; never one where the visitor waits on the booth, as for a
painting: that screen stays until its answer or the visitor's own Finish) and errors (an action that raises is
logged and the kiosk falls back to ``attract``, which resets every per-visitor choice).

Actions are named methods of the host (``BoothWindow``); tests check that each one exists.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QTimer

log = logging.getLogger(__name__)
ANY = "*"
FALLBACK = "attract"


@dataclass(frozen=True)
class State:
    name: str
    screen: str  # objectName of the screen shown in this state
    enter: str = ""  # host method run on entering (given the event's arguments)
    exit: str = ""  # host method run on leaving
    idle: bool = True  # the idle timeout runs here


@dataclass(frozen=True)
class Transition:
    source: str  # a state, or ANY
    event: str
    target: str
    guard: str = ""  # host method given the event's arguments: False keeps the machine where it is


# fmt: off
STATES = (
    #     state        screen       enter               exit
    State("attract",   "attract",   "enter_attract",    idle=False),
    State("live",      "live",      "enter_live"),
    State("countdown", "live",      "start_countdown",  "stop_countdown"),
    State("review",    "review"),
    State("gallery",   "gallery",   "enter_gallery"),
    State("email",     "email",     "enter_email"),
    State("sending",   "email",     "send_request",     "sending_over",   idle=False),
    State("progress",  "progress",  "enter_progress",   "leave_progress", idle=False),
    State("result",    "result",    "enter_result",     "leave_result"),
    State("offline",   "result",    "enter_offline",    "leave_result"),
    State("operator",  "operator",  "enter_operator",   "leave_operator"),
)

TRANSITIONS = (
    #          from         event           to           guard
    Transition("attract",   "start",        "live"),
    Transition("attract",   "operator",     "operator"),
    Transition("live",      "capture",      "countdown", "camera_ready"),
    Transition("live",      "back",         "attract"),
    Transition("countdown", "photo",        "review"),
    Transition("countdown", "no_photo",     "live"),
    Transition("countdown", "camera_lost",  "live"),
    Transition("review",    "retake",       "live"),
    Transition("review",    "keep",         "gallery"),
    Transition("gallery",   "chosen",       "email",     "style_available"),
    Transition("gallery",   "back",         "review"),
    Transition("email",     "submit",       "sending",   "request_ready"),
    Transition("email",     "back",         "gallery"),
    Transition("sending",   "accepted",     "progress"),
    Transition("sending",   "kept",         "offline"),
    Transition("sending",   "refused",      "email"),
    Transition("progress",  "done",         "result"),
    Transition("progress",  "failed",       "result"),
    Transition("progress",  "finish",       "attract"),
    Transition("result",    "finish",       "attract"),
    Transition("result",    "retry",        "sending",   "retry_ready"),  # a failed painting: same photo, style
    Transition("offline",   "finish",       "attract"),
    Transition("operator",  "close",        "attract"),
    Transition(ANY,         "idle",         "attract"),  # the machine's own: after idle_timeout_s of quiet
    Transition(ANY,         "reset",        "attract"),
)

TOUCHES = (
    # screen      its signal  event (the signal's values become the event's arguments)
    ("attract",   "start",    "start"),
    ("live",      "capture",  "capture"),
    ("live",      "back",     "back"),
    ("review",    "retake",   "retake"),
    ("review",    "keep",     "keep"),
    ("gallery",   "chosen",   "chosen"),     # style id, method
    ("gallery",   "back",     "back"),
    ("email",     "submit",   "submit"),     # address
    ("email",     "back",     "back"),
    ("progress",  "finish",   "finish"),
    ("result",    "finish",   "finish"),
    ("result",    "retry",    "retry"),
    ("operator",  "closed",   "close"),
)
# fmt: on


class Flow(QObject):
    """Runs ``STATES`` and ``TRANSITIONS`` against a host that has the named actions and ``show_screen(name)``."""

    def __init__(
        self,
        host: Any,
        idle_ms: Callable[[], int],
        states: tuple[State, ...] = STATES,
        transitions: tuple[Transition, ...] = TRANSITIONS,
    ) -> None:
        super().__init__()
        self.host, self.idle_ms = host, idle_ms
        self.states = {s.name: s for s in states}
        self.transitions = {(t.source, t.event): t for t in transitions}
        self.state = ""
        self.errors = 0
        self.idle_timer = QTimer(self, singleShot=True, timeout=lambda: self.fire("idle"))

    def start(self, state: str = FALLBACK, *args: Any) -> None:
        """Enter ``state`` directly (the kiosk starts in ``attract``; tests may start anywhere)."""
        self._leave()
        self._enter(self.states[state], args)

    def transition(self, event: str) -> Transition | None:
        return self.transitions.get((self.state, event)) or self.transitions.get((ANY, event))

    def fire(self, event: str, *args: Any) -> bool:
        """Handle an event: True if the machine moved. An event the current state does not expect is ignored."""
        step = self.transition(event)
        if step is None:
            log.debug("flow: %s ignored in %s", event, self.state)
            return False
        try:
            if step.guard and not getattr(self.host, step.guard)(*args):
                return False
            self._leave()
            self._enter(self.states[step.target], args)
        except Exception:
            self.errors += 1
            log.exception("flow: %s in %s failed; back to %s", event, self.state, FALLBACK)
            self._fallback()
            return False
        return True

    def touched(self) -> None:
        """Someone touched the screen: the idle timeout starts over."""
        if self.idle_timer.isActive():
            self.idle_timer.start(self.idle_ms())

    def stop(self) -> None:
        self.idle_timer.stop()

    def _leave(self) -> None:
        state = self.states.get(self.state)
        if state and state.exit:
            getattr(self.host, state.exit)()

    def _enter(self, state: State, args: tuple) -> None:
        self.state = state.name
        self.host.show_screen(state.screen)
        if state.idle:
            self.idle_timer.start(self.idle_ms())
        else:
            self.idle_timer.stop()
        if state.enter:
            getattr(self.host, state.enter)(*args)

    def _fallback(self) -> None:
        """An action failed: the kiosk leaves the state it is in (its timers stop, the panel locks) and goes back
        to the attract screen, whatever it takes."""
        try:
            self._leave()
        except Exception:
            log.exception("flow: leaving %s failed too", self.state)
        try:
            self._enter(self.states[FALLBACK], ())
        except Exception:
            log.exception("flow: even the fallback to %s failed", FALLBACK)
