"""The mail queue on NATS: a mail delivered to the mailer again while it still holds it (its lease lapsed while a
cluster node was killed: a run of test_scaleout's node kill sent five mails twice) is sent once."""

from __future__ import annotations

import json
import time

from portrait_booth.scaleout import NatsServer
from style_server.config import Settings
from style_server.service.nats_backend import NatsStore
from style_server.service.nats_backend.names import MAIL_SUBJECT


def test_a_mail_delivered_again_while_held_is_sent_once(tmp_path):
    nats = NatsServer(tmp_path / "nats").start()
    store = NatsStore(Settings(backend="nats", nats_url=nats.url, data_dir=tmp_path / "data"), "mailer")
    run = store.link.run
    try:
        run(store.mail.queue("job-a", "portrait"))
        run(store.mail.queue("job-b", "portrait"))
        # the same mail once more, as the mailer sees a delivery again (the stream's de-duplication aside)
        again = json.dumps({"job_id": "job-a", "kind": "portrait"}).encode()
        run(store.link.js.publish(MAIL_SUBJECT, again, headers={"Nats-Msg-Id": "mail-job-a-again"}))

        tasks = store.due_mail(time.time())
        assert sorted(task.job_id for task in tasks) == ["job-a", "job-b"]  # one task each
        for task in tasks:
            store.mail_sent(task.job_id)
        assert store.due_mail(time.time()) == []  # every delivery answered: nothing comes back
        assert run(store.mail.status("job-a")) == "sent"
    finally:
        store.close()
        nats.stop()
