"""The rate limit's sliding window: a kiosk's accepted jobs over the last minute, counted by either store."""

from __future__ import annotations

import contextlib
import threading

RATE_WINDOW = 60.0  # seconds: the rate limit counts a kiosk's accepted jobs over the last minute


def rate_window(places: list[float], limit: int, now: float) -> tuple[list[float], float]:
    """A kiosk's places still counted at ``now``, and the seconds until one frees if there are ``limit``
    (else 0)."""
    places = sorted(place for place in places if now - place < RATE_WINDOW)
    return places, (RATE_WINDOW - (now - places[-limit]) if len(places) >= limit else 0.0)


class LocalRates:
    """The rate limit's places where one process serves every kiosk (the SQLite backend)."""

    def __init__(self) -> None:
        self._places: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def reserve_place(self, kiosk: str, limit: int, now: float) -> float:
        with self._lock:
            places, wait = rate_window(self._places.get(kiosk, []), limit, now)
            self._places[kiosk] = places if wait else [*places, now]
            return wait

    def release_place(self, kiosk: str, place: float) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._places.get(kiosk, []).remove(place)
