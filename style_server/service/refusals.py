"""Why the service will not take a request, in words for whoever sends it; the HTTP side maps each to a status."""

from __future__ import annotations


class Refused(Exception):
    """A request the service will not take. ``retry_after``: seconds after which the same request may succeed."""

    def __init__(self, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.detail, self.retry_after = detail, retry_after


class IdempotencyConflict(Refused):
    """An Idempotency-Key seen before, with another request or for a job that is gone."""


class RateLimited(Refused):
    """The kiosk sent more than its share in the last minute."""


class QueueFull(Refused):
    """The queue holds as many jobs as the server takes."""


class UploadTooLarge(Refused):
    """An uploaded picture over the byte or pixel limit."""


class UploadNotAnImage(Refused):
    """An upload that is not a JPEG, PNG or WebP picture."""


class UploadInvalid(Refused):
    """An upload that is empty or cannot be decoded."""
