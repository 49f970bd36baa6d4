"""Images on NATS: one message each (one write, one direct read), in the Object Store's chunks only when larger
than a message may be; either way sealed, read back whole, and gone once deleted."""

from __future__ import annotations

import os

from portrait_booth.scaleout import NatsServer
from style_server.config import Settings
from style_server.service.nats_backend import NatsStore
from style_server.service.nats_backend.names import IMAGES, KEYS_SUBJECT, PICTURES_STREAM, picture_subject
from style_server.service.nats_backend.records import IMAGE_HEADER
from style_server.service.sealing import new_key
from tests.nats_inspect import nats_contents


def test_an_image_is_one_message_unless_it_is_larger_than_a_message_may_be(tmp_path):
    nats = NatsServer(tmp_path / "nats").start()
    store = NatsStore(Settings(backend="nats", nats_url=nats.url, data_dir=tmp_path / "data"), "api")
    records, run, js = store.records, store.link.run, store.link.js
    try:
        job_id, key = "0123456789abcdef01234567", new_key()
        run(js.publish(f"{KEYS_SUBJECT}.{job_id}", key))
        small, large = os.urandom(300_000), os.urandom(store.link.nc.max_payload + 1)
        run(records.put_image(f"{job_id}/portrait.png", small, key))
        run(records.put_image(f"{job_id}/result.jpg", large, key))
        assert run(records.image(f"{job_id}/portrait.png")) == small
        assert run(records.image(f"{job_id}/result.jpg")) == large
        message = run(js.get_msg(PICTURES_STREAM, subject=picture_subject(f"{job_id}/portrait.png")))
        assert small not in message.data  # sealed
        objects = [info.name for info in run(_listed(js))]
        assert objects == [f"{job_id}/result.jpg"]  # only the large one in chunks
        assert sorted(nats_contents(nats.url)[0]) == [f"{job_id}/portrait.png", f"{job_id}/result.jpg"]

        run(records.put_image(f"{job_id}/result.jpg", small, key))  # painted again, smaller: the newest is read
        assert run(records.image(f"{job_id}/result.jpg")) == small
        run(records.put_image(f"{job_id}/portrait.png", large, key))  # and the other way round
        assert run(records.image(f"{job_id}/portrait.png")) == large
        for direct in (True, False):  # its message now says where it is, on any replica and on the leader
            marker = run(js.get_msg(PICTURES_STREAM, subject=picture_subject(f"{job_id}/portrait.png"), direct=direct))
            assert not marker.data and marker.headers[IMAGE_HEADER] == "in-chunks"

        run(records.delete_images(job_id, "portrait.png", "result.jpg"))
        assert run(records.image(f"{job_id}/portrait.png")) is None
        assert run(records.image(f"{job_id}/result.jpg")) is None
        assert nats_contents(nats.url)[0] == []
        assert run(records.image(f"{job_id}/style.png")) is None  # never written
    finally:
        store.close()
        nats.stop()


async def _listed(js):
    return await (await js.object_store(IMAGES)).list(ignore_deletes=True)
