"""The kiosk's settings: one JSON file, edited by operators on the touchscreen, written atomically."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo

from shared.lanes import FAST, LANES
from shared.protocol import HEX_COLOUR, FrameSettings, Language, Method

from .paper import LAYOUTS, PAPER_CHOICES, LayoutName, PaperName

DEFAULT_FILE = Path(os.environ.get("PORTRAIT_KIOSK_CONFIG", Path.home() / ".config" / "portrait-booth" / "kiosk.json"))
PUBLISHED_PINS = frozenset({"4321"})  # PINs that older versions shipped (and documented): never trusted


def panel(group: str, **hints: Any) -> dict[str, Any]:
    """Where a setting appears in the operator panel (``json_schema_extra``): its group's id (``group.<id>`` in
    ``booth_client.i18n``), and touch hints such as ``choices`` (value -> the English name an operator reads;
    ``choices_translated=False`` where the names are alike in every language) or ``unit``. Settings without it
    stay out of the panel. The panel builds a widget per field from its type (text, number, switch, choice), in
    this order; its label is the description (in German: ``<setting>.description`` in ``i18n/de.py``)."""
    return {"panel": {"group": group, **hints}}


def panel_hints(field: FieldInfo) -> dict[str, Any] | None:
    """A setting's ``panel`` hints; None for a setting the panel does not show."""
    extra = field.json_schema_extra
    return extra.get("panel") if isinstance(extra, dict) else None


METHODS = {method: lane.name for method, lane in LANES.items()}
GROUPS = ("server", "camera", "visitors", "printing", "frame")  # the panel's groups, in its order
FRAME_FIELDS = ("frame_image", "frame_text", "frame_logo", "frame_colour", "frame_text_colour")
LANGUAGES = {"en": "English", "de": "Deutsch"}


class KioskConfig(BaseModel):
    server_url: str = Field("http://127.0.0.1:8000", description="The style server.", json_schema_extra=panel("server"))
    api_key: str = Field("demo-key", description="This kiosk's bearer key.")
    camera: str = Field("0", description="Webcam index, stream URL or video file.", json_schema_extra=panel("camera"))
    camera_width: int = Field(1280, ge=160, description="Requested capture width.", json_schema_extra=panel("camera"))
    camera_height: int = Field(720, ge=120, description="Requested capture height.", json_schema_extra=panel("camera"))
    mirror_preview: bool = Field(
        True, description="Show the live preview and the review like a mirror.", json_schema_extra=panel("camera")
    )
    mirror_capture: bool = Field(
        False,
        description="Mirror the portrait that is painted and mailed (text reversed).",
        json_schema_extra=panel("camera"),
    )
    language: Language = Field(
        "en",
        description="Language of the screens and the e-mail.",
        json_schema_extra=panel("visitors", choices=LANGUAGES, choices_translated=False),
    )
    default_method: Method = Field(
        FAST.method,
        description="Pre-selected: instant or masterpiece.",
        json_schema_extra=panel("visitors", choices=METHODS),
    )
    styles: list[str] = Field(default_factory=list, description="Enabled styles in order; empty: all.")
    idle_timeout_s: int = Field(
        60,
        ge=5,
        le=3600,
        description="Back to the attract screen after this much quiet.",
        json_schema_extra=panel("visitors", unit="s"),
    )
    countdown_s: int = Field(
        3,
        ge=1,
        le=10,
        description="Seconds of countdown before the photo.",
        json_schema_extra=panel("visitors", unit="s"),
    )
    address_shown_s: int = Field(
        10,
        ge=1,
        le=600,
        description="The visitor's e-mail address leaves the result screen after this (or on Finish).",
        json_schema_extra=panel("visitors", unit="s"),
    )
    show_qr: bool = Field(
        False,
        description="Show a QR code on the result screen to download the painting (the e-mail stays the default).",
        json_schema_extra=panel("visitors"),
    )
    offline_outbox: bool = Field(
        True,
        description="Visitors pose while the server is offline (painted and mailed later). Off: Start waits for it.",
        json_schema_extra=panel("visitors"),
    )
    catalogue_refresh_s: float = Field(
        60.0,
        ge=1,
        le=3600,
        description="Reload the styles and their waits this often; after a failure sooner, with backoff.",
        json_schema_extra=panel("server", unit="s"),
    )
    operator_pin: str = Field(
        "",
        pattern=r"^(\d{4,8})?$",
        description="PIN of the operator panel (4-8 digits). Empty: a random one is made on first start, "
        "printed in the kiosk's log, and the panel asks to change it.",
    )
    operator_pin_generated: bool = Field(False, description="The PIN is still the one made on first start.")
    outbox_dir: Path = Field(
        Path.home() / ".local" / "share" / "portrait-booth" / "outbox",
        description="Requests waiting for the server (personal data until sent).",
    )
    retention_hours_unknown: float = Field(
        24.0, gt=0, description="Outbox entries are erased after this until the server has told its retention."
    )
    fullscreen: bool = Field(True, description="Kiosk mode.")
    events_read_timeout_s: float = Field(
        45.0,
        gt=0,
        le=600,
        description="A progress stream silent this long is dropped and reopened (server keep-alive: 15 s).",
        json_schema_extra=panel("server", unit="s"),
    )
    server_fingerprint: str = Field(
        "", description="SHA-256 of the https server's certificate, pinned; empty: shown in the panel to trust."
    )
    demo_note: str = Field(
        "", description="Shown on screen, e.g. 'demo video instead of a webcam'.", json_schema_extra=panel("visitors")
    )
    print_enabled: bool = Field(
        False, description="Offer Print on the result screen (through CUPS).", json_schema_extra=panel("printing")
    )
    print_server: str = Field(
        "", description="CUPS server (host:port); empty: this computer's.", json_schema_extra=panel("printing")
    )
    print_printer: str = Field("", description="The CUPS printer (the panel lists those CUPS knows).")
    print_paper: PaperName = Field(
        "10x15",
        description="Paper size.",
        json_schema_extra=panel("printing", choices=PAPER_CHOICES, choices_translated=False),
    )
    print_layout: LayoutName = Field(
        "portrait", description="Page layout.", json_schema_extra=panel("printing", choices=LAYOUTS)
    )
    print_frame: str = Field(
        "",
        description="Page frame for prints: a PNG laid over the page, whose see-through part shows the portrait "
        "(which carries the event frame already); empty: none.",
        json_schema_extra=panel("printing"),
    )
    print_margin_mm: float = Field(
        5.0,
        ge=0,
        le=30,
        description="White margin around a portrait printed without a frame.",
        json_schema_extra=panel("printing", unit="mm"),
    )
    print_copies_max: int = Field(
        1, ge=1, le=10, description="Prints one visitor may make.", json_schema_extra=panel("printing")
    )
    # the event frame: kept by the server (sent when saved), laid over every portrait it mails, offers or prints
    frame_image: str = Field(
        "",
        description="Event frame: a PNG with a see-through middle, laid over every portrait that is mailed, "
        "downloaded or printed; empty: none.",
        json_schema_extra=panel("frame"),
    )
    frame_text: str = Field(
        "",
        max_length=FrameSettings.model_fields["text"].metadata[0].max_length,
        description="Or a line the booth writes below the portrait, e.g. the event's name.",
        json_schema_extra=panel("frame"),
    )
    frame_logo: str = Field(
        "", description="And a logo (PNG or JPEG) placed beside that line.", json_schema_extra=panel("frame")
    )
    frame_colour: str = Field(
        FrameSettings.model_fields["colour"].default,
        pattern=HEX_COLOUR,
        description="Colour of the border and the band around the portrait (#rrggbb).",
        json_schema_extra=panel("frame"),
    )
    frame_text_colour: str = Field(
        FrameSettings.model_fields["text_colour"].default,
        pattern=HEX_COLOUR,
        description="Colour of the line (#rrggbb).",
        json_schema_extra=panel("frame"),
    )

    @model_validator(mode="before")
    @classmethod
    def _older_files(cls, data: Any) -> Any:
        """Files written by older kiosks still load: ``mirror`` was the preview's mirror."""
        if isinstance(data, dict) and "mirror" in data:
            data = dict(data)
            data.setdefault("mirror_preview", data.pop("mirror"))
        return data

    @property
    def data_dir(self) -> Path:
        """The kiosk's own files besides the outbox: style cache, pinned certificate, what it learnt."""
        return self.outbox_dir.parent

    @property
    def pin_needs_change(self) -> bool:
        return self.operator_pin_generated or self.operator_pin in PUBLISHED_PINS

    def with_first_pin(self) -> KioskConfig:
        """A kiosk without a PIN gets a random one (never a documented default)."""
        if self.operator_pin:
            return self
        pin = f"{secrets.randbelow(10**6):06d}"
        return self.model_copy(update={"operator_pin": pin, "operator_pin_generated": True})

    @classmethod
    def load(cls, path: Path = DEFAULT_FILE) -> KioskConfig:
        if not path.is_file():
            return cls()
        try:
            return cls.model_validate_json(path.read_text())
        except ValidationError:
            broken = path.with_suffix(".broken.json")
            path.replace(broken)  # keep the operator's file for inspection, start from defaults
            return cls()

    def save(self, path: Path = DEFAULT_FILE) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
        with os.fdopen(fd, "w") as handle:
            handle.write(self.model_dump_json(indent=2))
        os.replace(tmp, path)


def config_reference() -> str:
    """The kiosk table in README.md, generated from the fields above (a test keeps them equal)."""
    rows = ["| key | default | meaning |", "| --- | --- | --- |"]
    for name, field in KioskConfig.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default
        default = str(default).replace(str(Path.home()), "~")
        rows.append(f"| `{name}` | `{default}` | {field.description or ''} |")
    return "\n".join(rows)
