"""What the processes around one NATS cluster share besides jobs: the kiosks' rate limit, whether the cluster can
take a job now, the workers' measured throughput, and events (progress, previews, cancels) on ``portrait.events``,
relayed by every process."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import nats.errors
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from ..jobtypes import LANES, BackendUnavailable, LaneCapacity
from ..rates import rate_window
from .link import NatsLink
from .names import (
    EVENTS,
    IMAGES_STREAM,
    JOBS_KV,
    KEYS_STREAM,
    PICTURES_STREAM,
    RATES_KV,
    READY_FOR,
    READY_TIMEOUT,
    WORKERS_KV,
    lane_stream,
)
from .records import JobRecords

log = logging.getLogger("style_server.nats")


class Coordination:
    def __init__(self, link: NatsLink, origin: str, records: JobRecords, workers: Any, rates: Any) -> None:
        self.link, self.origin, self.records = link, origin, records
        self.workers, self.rates = workers, rates  # KV buckets: workers' capacity reports, kiosks' places
        self._listeners = ThreadPoolExecutor(1, thread_name_prefix="nats-events")  # in order, off the NATS loop
        self._refreshes = ThreadPoolExecutor(1, thread_name_prefix="nats-refresh")  # their own line: see listen
        self._ready: tuple[float, str | None] = (-READY_FOR, None)  # (when checked, why not ready)
        self._key_locks: dict[str, tuple[asyncio.Lock, int]] = {}  # rate-limit key -> (its lock, holders + waiters)
        self.events_heard = self.events_coalesced = 0  # other processes' events: all, and refreshes merged

    # -- the rate limit, shared by every API node -------------------------------------------------------

    async def reserve_place(self, kiosk: str, limit: int, now: float) -> float:
        def take(places: list[float]) -> tuple[list[float] | None, float]:
            places, wait = rate_window(places, limit, now)
            return (None if wait else [*places, now]), wait

        return await self._change_places(kiosk, take)

    async def release_place(self, kiosk: str, place: float) -> None:
        def give_back(places: list[float]) -> tuple[list[float] | None, float]:
            if place not in places:
                return None, 0.0
            places.remove(place)
            return places, 0.0

        await self._change_places(kiosk, give_back)

    async def _change_places(
        self, kiosk: str, change: Callable[[list[float]], tuple[list[float] | None, float]]
    ) -> float:
        """Apply ``change`` to the kiosk's places with a revision check (again if another node wrote first);
        it returns the new places (None: leave them) and the answer. A kiosk's requests on this node change its
        places one at a time: racing each other through the revision check, a burst of them (a kiosk's outbox
        sending what it kept while offline) would fail it over and over."""
        key = "kiosk." + hashlib.sha256(kiosk.encode()).hexdigest()[:40]
        async with self._one_at_a_time(key):
            return await self._change_places_now(kiosk, key, change)

    @contextlib.asynccontextmanager
    async def _one_at_a_time(self, key: str) -> AsyncIterator[None]:
        """A lock per key, on the connection's loop, kept only while somebody holds or waits for it."""
        lock, users = self._key_locks.get(key, (asyncio.Lock(), 0))
        self._key_locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._key_locks[key]
            if users == 1:
                del self._key_locks[key]
            else:
                self._key_locks[key] = (lock, users - 1)

    async def _change_places_now(
        self, kiosk: str, key: str, change: Callable[[list[float]], tuple[list[float] | None, float]]
    ) -> float:
        for _ in range(50):
            try:
                entry = await self.rates.get(key)
                places, last = json.loads(entry.value or b"[]"), entry.revision
            except KeyNotFoundError:  # none in the last two minutes
                places, last = [], None
            new, answer = change(places)
            try:
                if new is not None and last is None:
                    await self.rates.create(key, json.dumps(new).encode())
                elif new is not None:
                    await self.rates.update(key, json.dumps(new).encode(), last=last)
                return answer
            except KeyWrongLastSequenceError:
                continue
        raise BackendUnavailable(f"NATS: the rate limit of kiosk {kiosk} changed too often to be counted")

    # -- readiness ------------------------------------------------------------------------------------

    async def readiness(self) -> str | None:
        """Kept for a second: a load balancer probing often costs one round of checks a second at most."""
        checked, reason = self._ready
        if time.monotonic() - checked >= READY_FOR:
            reason = await self._writable()
            self._ready = (time.monotonic(), reason)
        return reason

    async def _writable(self) -> str | None:
        """Why a job cannot be written now: a stream it goes to does not answer or has no leader (a cluster
        without a quorum), or None."""
        names = [KEYS_STREAM, PICTURES_STREAM, IMAGES_STREAM, f"KV_{JOBS_KV}", f"KV_{RATES_KV}"]
        names += [lane_stream(m) for m in LANES]
        try:
            infos = await asyncio.wait_for(
                asyncio.gather(*(self.link.js.stream_info(name) for name in names)), READY_TIMEOUT
            )
        except (TimeoutError, NatsTimeout):
            return f"NATS: no answer within {READY_TIMEOUT:g} s (a cluster without a quorum?)"
        except nats.errors.Error as exc:
            return f"NATS: {type(exc).__name__} {exc}".strip()
        for name, info in zip(names, infos, strict=True):
            if info.cluster is not None and not info.cluster.leader:
                return f"NATS: stream {name} has no leader (a cluster without a quorum)"
        return None

    # -- the workers' capacity ------------------------------------------------------------------------

    async def capacity(self) -> dict[str, LaneCapacity] | None:
        keys = await self.records.bucket_keys(WORKERS_KV, "w.")
        seconds: dict[str, list[float]] = {}
        lanes: dict[str, int] = {}
        for key in keys:
            with contextlib.suppress(KeyNotFoundError):
                entry = await self.workers.get(key)
                report = json.loads(entry.value)
                for method, count in report["lanes"].items():
                    lanes[method] = lanes.get(method, 0) + count
                    seconds.setdefault(method, []).append(report["seconds_per_job"][method])
        return {m: LaneCapacity(sum(v) / len(v), lanes[m]) for m, v in seconds.items()}

    def report_capacity(self, seconds_per_job: dict[str, float], lanes: dict[str, int]) -> None:
        report = {"lanes": lanes, "seconds_per_job": seconds_per_job, "at": time.time()}
        self.link.run(self.workers.put(f"w.{self.origin}", json.dumps(report).encode()))

    # -- events between processes ---------------------------------------------------------------------

    def broadcast(self, event: dict[str, Any]) -> None:
        payload = json.dumps({**event, "origin": self.origin}).encode()
        asyncio.run_coroutine_threadsafe(self.link.nc.publish(EVENTS, payload), self.link.loop)

    def listen(self, handler: Callable[[dict[str, Any]], None]) -> None:
        """``handler`` gets every other process's events off the NATS loop, in order, on one thread; except that an
        event marked ``latest_only`` (a "refresh": the queue moved up) goes on a line (a thread) of its own, so that
        its work (without the lanes' heads, a read per job watched here) never holds up an event that carries its
        status (a job done), and is merged into a copy of it that waits in that line: a burst (a worker's passes
        send one each) is handled once, with the furthest head of each lane (``merged``). Streams drop a status
        older than one they sent, so the two lines need no common order; ``handler`` must be thread-safe."""
        waiting: dict[str, dict[str, Any]] = {}  # latest-only events queued for the handler, by kind
        lock = threading.Lock()  # the NATS loop merges into a waiting event; the line takes it out to handle it

        def deliver(kind: str) -> None:
            with lock:
                event = waiting.pop(kind)  # first: one that arrives from now on is queued again
            _quietly(handler, event)

        async def heard(msg: Any) -> None:
            event = json.loads(msg.data)
            if event.pop("origin", None) == self.origin:
                return
            self.events_heard += 1
            if not event.pop("latest_only", False):
                self._listeners.submit(_quietly, handler, event)
                return
            kind = event["kind"]
            with lock:
                if kind in waiting:
                    waiting[kind] = merged(waiting[kind], event)
                    self.events_coalesced += 1
                    return
                waiting[kind] = event
            self._refreshes.submit(deliver, kind)

        async def subscribe() -> None:
            await self.link.nc.subscribe(EVENTS, cb=heard)
            await self.link.nc.flush()  # the server has the subscription: nothing published from now on is missed

        self.link.run(subscribe())

    def close(self) -> None:
        self._listeners.shutdown(wait=False)
        self._refreshes.shutdown(wait=False)


def merged(waiting: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    """Two refreshes as one: each lane at the further of its heads; one without heads (read every watched job
    again) makes the merged one so too."""
    if "heads" not in waiting or "heads" not in later:
        return {key: value for key, value in waiting.items() if key != "heads"}
    heads = dict(waiting["heads"])
    for lane, head in later["heads"].items():
        heads[lane] = max(heads.get(lane, head), head)
    return {**waiting, "heads": heads}


def _quietly(handler: Callable[[dict[str, Any]], None], event: dict[str, Any]) -> None:
    try:
        handler(event)
    except Exception:
        log.exception("handling a relayed event failed")
