"""Job events between processes (``service/events.py``): a relayed progress or preview carries the job's status,
read once by its publisher, so the API node that forwards it to a kiosk's stream reads nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from shared.protocol import JobState, JobStatus
from style_server.service.events import JobEvents


def status(job_id: str, state: JobState = JobState.running, progress: float = 0.5) -> JobStatus:
    return JobStatus(
        id=job_id, state=state, method="gatys", style="starry-night", progress=progress, created_at=datetime.now(UTC)
    )


class Reads:
    """A store's status reads, counted."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, job_id: str) -> JobStatus:
        self.calls.append(job_id)
        return status(job_id, progress=0.25)


def test_a_change_is_read_once_by_its_publisher_and_relayed_with_its_status():
    reads, relayed = Reads(), []
    worker = JobEvents(reads, relay=relayed.append)
    worker.changed("job-1")
    assert reads.calls == ["job-1"]
    [event] = relayed
    assert event["kind"] == "changed" and event["statuses"]["job-1"]["progress"] == 0.25


def test_an_api_node_forwards_a_carried_status_to_its_stream_without_reading():
    async def run() -> None:
        reads = Reads()
        api = JobEvents(reads, relay=lambda event: None)
        api.bind(asyncio.get_running_loop())
        stream = api.subscribe("job-1")
        api.apply({"kind": "changed", "statuses": {"job-1": status("job-1", progress=0.75).model_dump(mode="json")}})
        api.apply({"kind": "changed", "statuses": {"job-2": status("job-2").model_dump(mode="json")}})  # unwatched
        event = stream.get_nowait()
        assert (event.type, event.status.progress) == ("progress", 0.75)
        assert stream.empty() and reads.calls == []
        api.apply({"kind": "preview", "id": "job-1", "jpeg": "AAAA", "status": status("job-1").model_dump(mode="json")})
        assert stream.get_nowait().preview_jpeg_base64 == "AAAA" and reads.calls == []
        assert api.previews == {"job-1": "AAAA"}  # kept for a stream that opens late

    asyncio.run(run())


def test_an_end_is_read_by_the_node_that_watches_it_and_drops_the_preview():
    """An end carries no status: the download link is the API node's own (a worker knows no public address)."""

    async def run() -> None:
        reads = Reads()
        api = JobEvents(reads, relay=lambda event: None)
        api.bind(asyncio.get_running_loop())
        api.previews["job-1"] = "AAAA"
        stream = api.subscribe("job-1")
        api.apply({"kind": "ended", "id": "job-1"})
        assert reads.calls == ["job-1"] and api.previews == {} and not stream.empty()
        api.apply({"kind": "changed", "ids": ["job-1"]})  # as a node of the older version relays it: read here
        assert reads.calls == ["job-1", "job-1"]

    asyncio.run(run())


def test_one_process_reads_nothing_for_a_change_nobody_watches():
    reads = Reads()
    JobEvents(reads).changed("job-1")  # no relay, no stream
    assert reads.calls == []
