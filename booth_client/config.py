"""The kiosk's settings: one JSON file, edited by operators on the touchscreen, written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

DEFAULT_FILE = Path(os.environ.get("PORTRAIT_KIOSK_CONFIG", Path.home() / ".config" / "portrait-booth" / "kiosk.json"))


class KioskConfig(BaseModel):
    server_url: str = Field("http://127.0.0.1:8000", description="The style server.")
    api_key: str = Field("demo-key", description="This kiosk's bearer key.")
    camera: str = Field("0", description="Webcam index, stream URL or video file.")
    camera_width: int = Field(1280, ge=160, description="Requested capture width.")
    camera_height: int = Field(720, ge=120, description="Requested capture height.")
    mirror: bool = Field(True, description="Show the preview like a mirror.")
    language: Literal["en", "de"] = Field("en", description="Language of the screens and the e-mail.")
    default_method: Literal["fast", "gatys"] = Field("fast", description="Pre-selected: instant or masterpiece.")
    styles: list[str] = Field(default_factory=list, description="Enabled styles in order; empty: all.")
    idle_timeout_s: int = Field(60, ge=5, description="Back to the attract screen after this much quiet.")
    countdown_s: int = Field(3, ge=1, le=10, description="Seconds of countdown before the photo.")
    operator_pin: str = Field("4321", pattern=r"^\d{4,8}$", description="PIN of the operator panel: change it.")
    outbox_dir: Path = Field(
        Path.home() / ".local" / "share" / "portrait-booth" / "outbox",
        description="Requests waiting for the server (personal data until sent).",
    )
    fullscreen: bool = Field(True, description="Kiosk mode.")
    demo_note: str = Field("", description="Shown on screen, e.g. 'demo video instead of a webcam'.")

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
