"""The distributed backend (``backend.JobBackend``) on NATS JetStream: any number of API nodes, GPU workers and
mail workers share one NATS cluster, and none of them holds state of its own.

- Jobs: a work-queue stream per lane (``PORTRAIT_FAST``, ``PORTRAIT_GATYS``); workers pull with explicit ack. A
  worker that dies stops renewing its lease (``+WPI`` every third of the ack wait) and the job is delivered again.
  A job whose painting began ``max_deliveries`` times without finishing goes to the dead-letter subject, is
  marked failed, and the visitor is mailed that it could not be painted.
- Job state: the Key-Value bucket ``portrait-jobs`` (one JSON record per job, history 1), changed only with a
  revision check, so two workers can never both finish a job.
- Images: one message each in the stream ``PORTRAIT_PICTURES`` (the newest per image, read with a direct get), or
  in the Object Store bucket ``portrait-images`` when larger than a message may be; both age out after the
  retention period, and are deleted on cancel.
- Personal data (the address, the download code, the photos, the painting) is stored only encrypted with a key
  per job, kept apart in ``PORTRAIT_KEYS`` and destroyed on erase (crypto-shredding, ``sealing``): JetStream
  keeps old revisions and deleted messages in its files until a compaction, so deleting the data is not enough.
- Mail: the work-queue stream ``PORTRAIT_MAIL`` (one message per job, de-duplicated by id); the send is recorded
  in KV before the ack, so a mail goes out at most once per Message-ID.
- Events (progress, previews, cancels): core NATS messages on ``portrait.events``, relayed by every process.

The connection runs on its own event-loop thread; the blocking methods wait for it (never call them from it).
One module per concern: ``link`` (the connection), ``records`` (job records, keys, images), ``jobs`` (create to
finish, the lanes' streams), ``mail`` (the mail queue), ``privacy`` (erasure and retention), ``coordination``
(rate limit, readiness, capacity, events), ``consumers`` (pull consumers and leases); ``store`` puts them
together behind ``JobBackend``.
"""

from .names import GONE, lane_stream
from .store import NatsLink, NatsStore

__all__ = ["GONE", "NatsLink", "NatsStore", "lane_stream"]
