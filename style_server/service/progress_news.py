"""A painting's progress and previews, told from a thread of their own: the painter never waits for the store.

A masterpiece's painter reports after every optimiser step. Telling it (a write to the store, a status read for the
event, a preview encoded and relayed) takes round trips, and made in the painter's thread it held the GPU idle for
them: on a busy shared backend about a second of every 20 s masterpiece. Here the painter only leaves its news;
one thread writes them. While it writes, only the newest news of each job is kept (a newer fraction replaces the
older, a newer preview the older, neither drops the other), so a slow store skips steps instead of holding the
painting. A job's end first has its last news written (``close``), so nothing about it is told after its end.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image

log = logging.getLogger("style_server.progress")


@dataclass
class News:
    """The newest of a job's news not yet told: its progress (0-1), its preview, or both."""

    fraction: float | None = None
    preview: Image.Image | None = None

    def merge(self, newer: News) -> None:
        self.fraction = newer.fraction if newer.fraction is not None else self.fraction
        self.preview = newer.preview if newer.preview is not None else self.preview


class ProgressNews:
    """Latest-wins hand-over of news from painters (any thread) to one writing thread (``write``)."""

    def __init__(self, write: Callable[[str, News], None]) -> None:
        self._write = write
        self._pending: dict[str, News] = {}
        self._writing: set[str] = set()  # jobs whose news are being written now
        self._changed = threading.Condition()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="progress-news")
        self._scheduled = False  # the writer has been asked to write what is pending

    def tell(self, job_id: str, news: News) -> None:
        """Leave ``news`` to be written; returns at once."""
        with self._changed:
            self._pending.setdefault(job_id, News()).merge(news)
            if self._scheduled:
                return
            try:
                self._writer.submit(self._write_pending)
            except RuntimeError:  # stopped: nobody waits for news any more
                self._pending.clear()
                return
            self._scheduled = True

    def close(self, job_id: str) -> None:
        """Blocking, at the job's end: its news being written are written, what is left is written here. Nothing
        about the job is told after this returns."""
        with self._changed:
            self._changed.wait_for(lambda: job_id not in self._writing)
            news = self._pending.pop(job_id, None)
            if news is None:
                return
            self._writing.add(job_id)
        self._write_one(job_id, news)

    def stop(self) -> None:
        """No more news: a write under way ends on its own."""
        self._writer.shutdown(wait=False, cancel_futures=True)

    def _write_pending(self) -> None:
        while True:
            with self._changed:
                if not self._pending:
                    self._scheduled = False
                    return
                job_id = next(iter(self._pending))  # the job waiting longest
                news = self._pending.pop(job_id)
                self._writing.add(job_id)
            self._write_one(job_id, news)

    def _write_one(self, job_id: str, news: News) -> None:
        try:
            self._write(job_id, news)
        except Exception:  # news, not state: the next news or the job's end tells it again; a bug is logged
            log.exception("the progress of job %s could not be told", job_id)
        finally:
            with self._changed:
                self._writing.discard(job_id)
                self._changed.notify_all()
