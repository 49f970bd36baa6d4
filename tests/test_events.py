"""Job events between processes (``service/events.py``): a relayed progress, preview or end carries the job's
status, read once by its publisher, so the API node that forwards it to a kiosk's stream reads nothing."""

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


def test_a_job_given_back_to_the_queue_leaves_no_preview_on_any_node():
    """Its painter gave it back (an outage at its publish): the status read once by the painter's process tells
    the streams it waits again, and every node drops the painting's preview (a face) then, not at the job's end
    after it is painted again; whatever the status says (another painter may have taken it again already)."""

    async def run() -> None:
        reads, relayed = Reads(), []
        queued = status("job-1", JobState.queued, 0.0)
        worker = JobEvents(lambda job_id: reads(job_id) and queued, relay=relayed.append)
        worker.previews["job-1"] = "AAAA"
        worker.given_back("job-1")
        [event] = relayed
        assert reads.calls == ["job-1"] and worker.previews == {}

        painting = {"kind": "preview", "jpeg": "AAAA", "status": status("job-1").model_dump(mode="json")}
        watching, elsewhere = (JobEvents(reads, relay=lambda event: None) for _ in range(2))
        watching.bind(asyncio.get_running_loop())
        stream = watching.subscribe("job-1")
        for node in (watching, elsewhere):
            node.apply({**painting, "id": "job-1"})
            node.apply({**painting, "id": "job-2"})  # another job, still painted
        assert stream.get_nowait().preview_jpeg_base64 == "AAAA"
        taken_again = {**event, "status": status("job-1", progress=0.0).model_dump(mode="json")}
        for node, heard in ((watching, event), (elsewhere, taken_again)):
            node.apply(heard)
            assert node.previews == {"job-2": "AAAA"}
        told = stream.get_nowait()
        assert (told.status.state, told.preview_jpeg_base64) == (JobState.queued, None)
        assert reads.calls == ["job-1"]  # nothing read on the other nodes

    asyncio.run(run())


def test_an_end_carries_its_status_and_each_node_puts_its_own_address_on_the_download_link():
    """The worker that finished the job reads its last status once; a node watching it forwards that status with
    its own public address in front of the download path (a worker knows none), and drops the preview."""

    async def run() -> None:
        reads, relayed = Reads(), []
        done = status("job-1", JobState.done, 1.0).model_copy(update={"download_url": "/v1/download/CODE"})
        worker = JobEvents(lambda job_id: reads(job_id) and done, relay=relayed.append)
        worker.ended("job-1")
        [event] = relayed
        assert reads.calls == ["job-1"] and event["status"]["download_url"] == "/v1/download/CODE"

        api = JobEvents(reads, relay=lambda event: None, public_url="https://booth.example/")
        api.bind(asyncio.get_running_loop())
        api.previews["job-1"] = "AAAA"
        stream = api.subscribe("job-1")
        api.apply(event)
        told = stream.get_nowait()
        assert told.type == "done" and told.status.download_url == "https://booth.example/v1/download/CODE"
        assert reads.calls == ["job-1"] and api.previews == {}  # nothing read on the API node

        quiet = JobEvents(reads, relay=lambda event: None)  # no public address: no link for a QR code
        quiet.bind(asyncio.get_running_loop())
        stream = quiet.subscribe("job-1")
        quiet.apply(event)
        assert stream.get_nowait().status.download_url is None

    asyncio.run(run())


def test_an_end_without_a_status_is_read_by_the_node_that_watches_it_and_an_erased_job_is_not():
    """A dead letter is ended by the store, which builds no status: the watching node reads it. An erased job's end
    carries None: there is nothing to read."""

    async def run() -> None:
        reads = Reads()
        api = JobEvents(reads, relay=lambda event: None)
        api.bind(asyncio.get_running_loop())
        stream = api.subscribe("job-1")
        api.apply({"kind": "ended", "id": "job-1", "status": None})
        assert reads.calls == [] and stream.empty()
        api.apply({"kind": "ended", "id": "job-1"})
        assert reads.calls == ["job-1"] and not stream.empty()
        api.apply({"kind": "changed", "ids": ["job-1"]})  # as a node of the older version relays it: read here
        assert reads.calls == ["job-1", "job-1"]

    asyncio.run(run())


def test_an_end_whose_status_cannot_be_read_still_ends_and_drops_the_preview():
    """The store did not answer the read: the end goes without a status (each watching node reads it), the preview
    (a face) is dropped all the same, and the wall hears the end."""
    from style_server.service.jobtypes import BackendUnavailable

    def unreachable(job_id: str) -> JobStatus:
        raise BackendUnavailable("NATS: no answer")

    relayed, told = [], []
    worker = JobEvents(unreachable, relay=relayed.append)
    worker.previews["job-1"] = "AAAA"
    worker.on_ended.append(told.append)
    worker.ended("job-1")
    assert relayed == [{"kind": "ended", "id": "job-1"}] and worker.previews == {} and told == ["job-1"]


def test_one_process_reads_nothing_for_a_change_nobody_watches():
    reads = Reads()
    JobEvents(reads).changed("job-1")  # no relay, no stream
    assert reads.calls == []


def test_a_refresh_with_its_lanes_head_moves_the_watched_queued_jobs_up_without_a_read():
    """A worker's refresh carries its lane's head (NATS); the API node places each queued job watched on it from
    that and the job's own place in the lane, both known, and reads nothing."""

    def reposition(queued: JobStatus, position: int) -> JobStatus:
        return queued.model_copy(update={"position": position, "eta_seconds": 10.0 * (position + 1)})

    async def run() -> None:
        reads = Reads()
        api = JobEvents(reads, relay=lambda event: None, reposition=reposition)
        api.bind(asyncio.get_running_loop())
        queued_stream, running_stream = api.subscribe("job-1"), api.subscribe("job-2")
        queued = status("job-1", JobState.queued, 0.0).model_copy(update={"position": 5})
        api.placed("job-1", 20, queued)  # its message is the 20th of the gatys lane
        api.placed("job-3", 30, queued)  # nobody watches it here: not kept
        api.apply({"kind": "refresh", "heads": {"gatys": 17}})
        moved = queued_stream.get_nowait().status
        assert (moved.position, moved.eta_seconds) == (2, 30.0)
        api.apply({"kind": "refresh", "heads": {"gatys": 15}})  # heard late: an older head
        api.apply({"kind": "refresh", "heads": {"fast": 99}})  # another lane moved
        assert queued_stream.empty() and running_stream.empty() and reads.calls == []
        api.apply({"kind": "changed", "statuses": {"job-1": status("job-1").model_dump(mode="json")}})  # claimed
        assert queued_stream.get_nowait().status.state == JobState.running
        api.apply({"kind": "refresh", "heads": {"gatys": 25}})  # running now: no place in the queue
        assert queued_stream.empty() and reads.calls == []
        api.apply({"kind": "refresh"})  # without heads (a cancel): every watched job is read again
        assert sorted(reads.calls) == ["job-1", "job-2"]
        api.unsubscribe("job-1", queued_stream)
        api.placed("job-1", 20, queued)
        assert api._places == {}  # a job nobody watches any more is not kept

    asyncio.run(run())


def test_a_refresh_compares_with_what_the_stream_was_sent_and_reads_a_job_whose_place_is_unknown():
    def reposition(queued: JobStatus, position: int) -> JobStatus:
        return queued.model_copy(update={"position": position})

    async def run() -> None:
        reads = Reads()
        api = JobEvents(reads, relay=lambda event: None, reposition=reposition)
        api.bind(asyncio.get_running_loop())
        sent_stream, unknown_stream = api.subscribe("job-1"), api.subscribe("job-2")
        queued = status("job-1", JobState.queued, 0.0)
        api.placed("job-1", 20, queued.model_copy(update={"position": 5}))  # read as its stream opened
        api.placed("job-1", 20, queued.model_copy(update={"position": 2}))  # a poll's read: never sent
        api.apply({"kind": "refresh", "heads": {"gatys": 17}})
        assert sent_stream.get_nowait().status.position == 2  # the stream had 5
        api.placed("job-2", None, status("job-2", JobState.queued, 0.0).model_copy(update={"position": 3}))
        api.apply({"kind": "refresh", "heads": {"gatys": 18}})
        assert reads.calls == ["job-2"]  # read before its place in the lane was recorded: read now
        assert unknown_stream.get_nowait().status.state == JobState.running

    asyncio.run(run())
