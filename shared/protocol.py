"""Versioned API models (``/v1``). Pure pydantic: no torch, no Qt, no HTTP library."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Protocol

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
)

API_PREFIX = "/v1"
IDEMPOTENCY_HEADER = "Idempotency-Key"
TOKEN_HEADER = "X-Job-Token"
Method = Literal["fast", "gatys"]
Language = Literal["en", "de"]


STYLE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"


class HasErrors(Protocol):  # pydantic's ValidationError, and FastAPI's request errors alike
    def errors(self) -> Any: ...


def describe(exc: HasErrors, skip: int = 0, whole: str = "value") -> str:
    """Pydantic's findings as one line: ``field: problem; other: problem``."""
    return "; ".join(f"{'.'.join(map(str, e['loc'][skip:])) or whole}: {e['msg']}" for e in exc.errors())


def check_style_id(value: str) -> str:
    """A style id names files (the kiosk's style cache, the server's URLs): a strict slug, nothing else."""
    if not re.fullmatch(STYLE_ID_PATTERN, value):
        raise ValueError(
            f"style id {value[:80]!r} is not allowed: use 1 to 64 lowercase letters, digits and hyphens, "
            "starting with a letter or a digit (e.g. starry-night)"
        )
    return value


StyleId = Annotated[
    str,
    AfterValidator(check_style_id),
    WithJsonSchema({"type": "string", "pattern": STYLE_ID_PATTERN, "maxLength": 64}),
]


class StyleInfo(BaseModel):
    id: StyleId
    name: str = Field(description="The default (English) name.")
    artist: str
    names: dict[Language, str] = Field(
        default_factory=dict, description="The name per language where it differs from `name` (e.g. de)."
    )
    artists: dict[Language, str] = Field(
        default_factory=dict, description="The artist line per language where it differs from `artist`."
    )
    year: str | None = None
    licence: str
    kind: Literal["painting", "multistyle", "trained"]
    methods: list[Method]
    thumbnail_url: str
    attribution: str


class StyleList(BaseModel):
    styles: list[StyleInfo]
    eta_seconds: dict[str, float] = Field(
        default_factory=dict,
        description="Per method, the seconds a job sent now would take until its painting is done: the rest of what "
        "runs, the jobs queued ahead, and its own painting, from the server's measured seconds per job (a first "
        "guess only until the first job of that method has been measured).",
    )
    retention_hours: float = Field(gt=0, description="Portraits, results and addresses are erased after this.")


# The shortest side, in pixels, of a portrait the networks paint well (and of any painting asked for): below it
# their downsampling leaves almost nothing to paint. The server refuses smaller photos with 422; the kiosk's
# camera frames are far larger.
MIN_PORTRAIT_SIDE = 64


class JobOptions(BaseModel):
    """What the visitor chose besides the style. Sent as a JSON form field."""

    model_config = ConfigDict(extra="forbid")

    strength: float = Field(1.0, ge=0, le=1)
    preserve_color: bool = False
    face_protect: bool = True
    size: int | None = Field(None, ge=MIN_PORTRAIT_SIDE, le=2048)


class JobFormError(ValueError):
    """A job form that cannot be accepted; the message says which field and why (the server answers 422)."""


class JobRequest(BaseModel):
    """The non-file form fields of ``POST /v1/jobs`` (files: ``portrait``, optional ``style_image``).

    The one place the job form is declared: the kiosk sends ``to_form()``, the server reads ``from_form()``
    and documents ``form_schema()`` in its OpenAPI schema.
    """

    model_config = ConfigDict(extra="forbid")

    style: str | None = Field(None, max_length=200)
    method: Method = "fast"
    email: EmailStr | None = None
    consent: bool = False
    wall: bool = Field(
        False,
        description="The visitor agreed, apart from the mail's consent, to be shown on the event's gallery wall "
        "(/wall). Never implied by consent.",
    )
    language: Language = "en"
    options: JobOptions = Field(default_factory=JobOptions, description="JobOptions as JSON")

    # Form fields whose empty value is refused: an empty field is a mistake, not a wish for the default.
    # (An empty ``style`` or ``email`` means none.)
    REFUSED_EMPTY: ClassVar[tuple[str, ...]] = ("method", "language", "consent", "wall", "options")
    FILES: ClassVar[dict[str, str]] = {
        "portrait": "The visitor's photo: JPEG, PNG or WebP.",
        "style_image": "A painting to use as the style.",
    }

    @field_validator("email", mode="before")
    @classmethod
    def _no_header_injection(cls, value: object) -> object:
        if isinstance(value, str) and any(c in value for c in "\r\n\0"):
            raise ValueError("an e-mail address cannot contain line breaks")
        return value

    def to_form(self) -> dict[str, str]:
        """The text fields of the multipart form (fields at their meaning of "none" are left out)."""
        form = {
            "method": self.method,
            "consent": str(self.consent).lower(),
            "language": self.language,
            "options": self.options.model_dump_json(),
        }
        if self.style:
            form["style"] = self.style
        if self.email:
            form["email"] = str(self.email)
        if self.wall:
            form["wall"] = "true"
        return form

    @classmethod
    def from_form(cls, form: Mapping[str, object]) -> JobRequest:
        """Read the text fields of a multipart form (other parts are ignored); ``JobFormError`` says what is wrong."""
        values: dict[str, object] = {}
        for name in cls.model_fields:
            value = form.get(name)
            if value is None:
                continue
            if not isinstance(value, str):
                raise JobFormError(f"{name}: must be a text field, not a file")
            if value == "" and name in cls.REFUSED_EMPTY:
                raise JobFormError(f"{name}: the field is empty; give a value, or leave it out for the default")
            if value != "":
                values[name] = value
        try:
            if "options" in values:
                values["options"] = JobOptions.model_validate_json(values["options"])  # type: ignore[arg-type]
            request = cls(**values)
        except ValidationError as exc:
            raise JobFormError(describe(exc, whole="options")) from None
        if request.email and not request.consent:
            raise JobFormError("the visitor must consent before we can e-mail the portrait")
        return request

    @classmethod
    def form_schema(cls) -> dict[str, Any]:
        """JSON schema of the whole multipart body (OpenAPI): the text fields as sent, and the files."""
        schema = cls.model_json_schema()
        properties = schema["properties"]
        description = cls.model_fields["options"].description
        properties["options"] = {"type": "string", "default": "{}", "title": "Options", "description": description}
        file = {"type": "string", "contentMediaType": "application/octet-stream"}
        properties["portrait"] = {**file, "title": "Portrait", "description": cls.FILES["portrait"]}
        properties["style_image"] = {
            "anyOf": [file, {"type": "null"}],
            "title": "Style Image",
            "description": cls.FILES["style_image"],
        }
        return {"type": "object", "title": "JobForm", "properties": properties, "required": ["portrait"]}


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"
    expired = "expired"


class JobStatus(BaseModel):
    id: str
    state: JobState
    method: Method
    style: str | None
    position: int | None = Field(None, description="Jobs ahead of this one in its lane (0: next).")
    eta_seconds: float | None = Field(
        None, description="Seconds until this job is done (queued or running), from measured throughput."
    )
    progress: float = Field(0.0, ge=0, le=1)
    error: str | None = None
    email_status: Literal["none", "pending", "sent", "failed", "uncertain"] = Field(
        "none",
        description="uncertain: the SMTP server timed out answering the mail itself every time it was sent (the "
        "limit of PORTRAIT_MAIL_UNCERTAIN_RETRIES); it may have arrived, and it is not sent again.",
    )
    created_at: datetime
    finished_at: datetime | None = None
    started_at: datetime | None = None
    engine_seconds: float | None = Field(None, description="Wall time of the pass that painted it (its batch).")
    result_url: str | None = None
    download_url: str | None = Field(
        None,
        description="Absolute, unguessable link that opens the painting on a phone (for a QR code), without a key "
        "or token; only when the server's public URL is configured and the job is done. It stops working when the "
        "job is erased (cancel, erase, retention).",
    )


class JobCreated(BaseModel):
    id: str
    token: str = Field(description="Needed for every later request about this job; keep it secret.")
    status: JobStatus


class JobEvent(BaseModel):
    """One server-sent event on ``GET /v1/jobs/{id}/events``."""

    type: Literal["status", "progress", "preview", "done", "failed", "cancelled"]
    status: JobStatus
    preview_jpeg_base64: str | None = None


class ErrorBody(BaseModel):
    detail: str


class Health(BaseModel):
    status: Literal["ok", "ready", "not ready"]
    detail: str = ""


# -- the gallery's previews: the visitor's own face in every style -------------------------------------------

PREVIEWS_PATH = f"{API_PREFIX}/previews"
PREVIEW_MAX_BYTES = 5_000_000  # the kept photo as the kiosk sends it (a 1280x720 JPEG is some 200 kB)
PREVIEW_MAX_PIXELS = 12_000_000
PREVIEW_SIDE = 256  # px, the side of a square tile, as the thumbnails: 30 styles in about a second on 2 cores
PREVIEW_MAX_SIDE = 320  # the palettes' pass holds every palette's activations at once: 1.2 GB at 320 px
PREVIEW_MEDIA_TYPES = ("image/jpeg", "image/png", "image/webp")
PREVIEWS_MEDIA_TYPE = "application/x-ndjson"  # the answer: one StylePreview a line, each as soon as it is painted


class PreviewRequest(BaseModel):
    """The query of ``POST /v1/previews``; its body is the kept photo itself (JPEG, PNG or WebP), so the photo
    never passes through a multipart parser that might spool it to a temporary file."""

    model_config = ConfigDict(extra="forbid")

    styles: list[StyleId] = Field(
        default_factory=list, max_length=64, description="The styles to paint, in the gallery's order; none: all."
    )
    side: int = Field(PREVIEW_SIDE, ge=MIN_PORTRAIT_SIDE, le=PREVIEW_MAX_SIDE, description="Side of a square tile.")

    def to_params(self) -> dict[str, object]:
        """The query parameters (``styles`` repeated)."""
        return {"styles": list(self.styles), "side": self.side}


class StylePreview(BaseModel):
    """One line of the answer to ``POST /v1/previews``: the visitor's face in one style, as a tile."""

    style: StyleId
    jpeg_base64: str


# -- the event frame: the event's branding on every portrait mailed, downloaded or printed ------------------

EVENT_FRAME_PATH = f"{API_PREFIX}/event/frame"
FRAME_MAX_BYTES = 8_000_000  # per file: the frame PNG, the logo
FRAME_MIN_SIDE, FRAME_MAX_SIDE = 256, 4096  # px: a frame PNG's shorter side at least, either side at most
LOGO_MIN_SIDE = 16
FRAME_MAX_ASPECT = 3.0  # as the painters' own limit: no portrait is longer than 3:1
FRAME_MIN_WINDOW = 0.25  # the see-through share of a frame PNG; less would hide the portrait
HEX_COLOUR = r"^#[0-9a-fA-F]{6}$"


class FrameSettings(BaseModel):
    """The text part of an event frame: one JSON form field ``settings`` of ``PUT /v1/event/frame`` (and of its
    preview), beside the files in ``FILES``. A frame is either a PNG laid over the portrait (``overlay``), or a
    band the server draws below the portrait with ``text`` and a ``logo``, in a border of ``colour``."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field("", max_length=80, description="A line on the band below the portrait (the event's name).")
    colour: str = Field("#1f2a44", pattern=HEX_COLOUR, description="The band's and the border's colour.")
    text_colour: str = Field("#ffffff", pattern=HEX_COLOUR, description="The text's colour.")

    FILES: ClassVar[dict[str, str]] = {
        "overlay": "A PNG with transparency laid over the portrait: its see-through part shows the portrait.",
        "logo": "A logo (PNG or JPEG) placed at the right of the band.",
    }

    @field_validator("text")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("the text is one line: no line breaks or control characters")
        return value.strip()

    @classmethod
    def form_schema(cls) -> dict[str, Any]:
        """JSON schema of the multipart body (OpenAPI): ``settings`` as JSON text, and the files."""
        file = {"type": "string", "contentMediaType": "application/octet-stream"}
        properties: dict[str, Any] = {
            "settings": {"type": "string", "default": "{}", "description": "FrameSettings as JSON"}
        }
        properties |= {name: {**file, "description": text} for name, text in cls.FILES.items()}
        return {"type": "object", "title": "FrameForm", "properties": properties}


class FrameInfo(BaseModel):
    """``GET /v1/event/frame``, and the answer to ``PUT``: the frame every portrait gets now."""

    settings: FrameSettings
    overlay_size: tuple[int, int] | None = Field(None, description="The frame PNG as kept (width, height), if any.")
    logo_size: tuple[int, int] | None = Field(None, description="The logo as kept (width, height), if any.")
    digest: str = Field(description="SHA-256 of the frame as kept: it changes whenever the frame does.")
    updated_at: datetime
