"""The durable pull consumers of the backend's work-queue streams (job lanes, mail) and the leases of the messages
this process holds: a worker that dies stops renewing them (``+WPI`` every third of the ack wait) and they are
delivered again."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from nats.errors import TimeoutError as NatsTimeout
from nats.js import api

from .link import NatsLink


class Consumers:
    def __init__(self, link: NatsLink, ack_wait: float) -> None:
        self.link, self.ack_wait = link, ack_wait
        self._subs: dict[str, Any] = {}

    async def get(self, name: str, stream: str, subject: str) -> Any:
        """The shared durable pull consumer ``<name>-workers`` of a stream (one per process, bound lazily)."""
        if name not in self._subs:
            self._subs[name] = await self.link.js.pull_subscribe(
                subject,
                durable=f"{name}-workers",
                stream=stream,
                config=api.ConsumerConfig(ack_wait=self.ack_wait, max_deliver=-1, max_ack_pending=10_000),
            )
        return self._subs[name]

    async def close(self) -> None:
        """Stop this process's pull subscriptions. The client's drain would wait for their message queues to be
        marked done, which its fetch never does: every worker or mailer that had fetched sat out the drain's
        timeout and took 10 s to close. The durable consumers stay on the server, and a message still held unanswered is
        delivered again after its ack wait, as before."""
        subs, self._subs = list(self._subs.values()), {}
        for sub in subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    @staticmethod
    async def fetch(sub: Any, count: int, timeout: float) -> list[Any]:
        try:
            return await sub.fetch(count, timeout=timeout)
        except (TimeoutError, NatsTimeout):
            return []

    async def keep_leases(self, *held: dict[str, Any]) -> None:
        """While this process is alive it keeps the messages it holds (in-progress acks); ``held``: the maps of
        job id -> message its parts keep while they work on them."""
        every = max(self.ack_wait / 3, 0.2)
        while True:
            await asyncio.sleep(every)
            for msg in [m for messages in held for m in messages.values()]:
                with contextlib.suppress(Exception):
                    await msg.in_progress()
