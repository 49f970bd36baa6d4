"""``ProgressNews``: a painter leaves its news and paints on; one thread tells them, the newest of each kind per job
while it is busy; a job's end tells what is left and nothing comes after it."""

from __future__ import annotations

import threading

from PIL import Image

from style_server.service.progress_news import News, ProgressNews
from tests.harness import wait_until


class HeldWrites:
    """Records every write; the writes wait at ``gate`` while it is closed; a write of ``broken`` fails."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.written: list[tuple[str, News]] = []
        self.begun: list[str] = []
        self.broken: set[str] = set()

    def __call__(self, job_id: str, news: News) -> None:
        self.begun.append(job_id)
        assert self.gate.wait(30), "the test never opened the gate"
        if job_id in self.broken:
            raise RuntimeError("a bug in telling")
        self.written.append((job_id, news))


def test_news_are_told_beside_the_painter_and_only_the_newest_while_a_write_is_held():
    writes = HeldWrites()
    news = ProgressNews(writes)
    first_preview, last_preview = Image.new("RGB", (4, 4)), Image.new("RGB", (4, 4), "red")
    news.tell("a", News(0.1))
    wait_until(lambda: writes.begun == ["a"], lambda: writes.begun, 10)
    news.tell("a", News(0.2, first_preview))  # returned at once: the first write is still held
    news.tell("a", News(0.3))
    news.tell("a", News(None, last_preview))
    writes.gate.set()
    wait_until(lambda: len(writes.written) == 2, lambda: writes.written, 10)
    assert [n.fraction for _, n in writes.written] == [0.1, 0.3]
    assert writes.written[1][1].preview is last_preview  # a newer fraction never dropped the preview, a newer one did
    news.stop()


def test_a_jobs_end_tells_what_is_left_and_nothing_after_it():
    writes = HeldWrites()
    news = ProgressNews(writes)
    news.tell("a", News(0.1))
    wait_until(lambda: writes.begun == ["a"], lambda: writes.begun, 10)
    news.tell("a", News(0.5))
    closing = threading.Thread(target=news.close, args=("a",))
    closing.start()
    closing.join(0.3)
    assert closing.is_alive()  # the end waits for the write under way
    writes.gate.set()
    closing.join(10)
    assert not closing.is_alive()
    assert [n.fraction for _, n in writes.written] == [0.1, 0.5]  # the last news told by the end, before it
    news.close("a")  # nothing left: returns at once, writes nothing
    assert len(writes.written) == 2
    news.stop()


def test_a_write_that_fails_does_not_stop_the_others_and_a_stopped_news_drops_quietly():
    writes = HeldWrites()
    writes.gate.set()
    writes.broken.add("broken")
    news = ProgressNews(writes)
    news.tell("broken", News(0.1))
    news.tell("b", News(0.2))
    wait_until(lambda: [j for j, _ in writes.written] == ["b"], lambda: writes.written, 10)
    news.stop()
    news.tell("c", News(0.3))  # a painter still running at the stop: dropped, not raised into its painting
    news.close("c")
    assert [j for j, _ in writes.written] == ["b"]
