"""One settings object for the style server and its CLI: environment variables (PORTRAIT_*) or a .env file."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_MODELS = Path(__file__).resolve().parent.parent / "models"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PORTRAIT_", env_file=".env", extra="ignore")

    models_dir: Path = Field(REPO_MODELS, description="Style cards and trained weights; every card here is served.")
    cache_dir: Path = Field(
        Path.home() / ".cache" / "portrait-booth", description="Converted weights (e.g. the offline VGG16)."
    )
    vgg_weights: Path | None = Field(None, description="A VGG safetensors file to use instead of the built-in sources.")
    allow_download: bool = Field(False, description="Allow fetching torchvision VGG19 weights when online.")
    device: str = Field("auto", description="auto, cpu or cuda.")
    max_input_pixels: int = Field(40_000_000, gt=0, description="Larger uploads are refused (decompression bombs).")
    max_output_side: int = Field(2048, ge=64, description="Largest side of a rendered portrait, in pixels.")
    cpu_threads: int | None = Field(None, ge=1, description="torch intra-op threads; default: all cores.")

    # -- HTTP service ---------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address the server listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port the server listens on.")
    data_dir: Path = Field(Path("data"), description="Job database, portraits and results (personal data).")
    api_keys: dict[str, str] = Field(
        {"demo-kiosk": "demo-key"},
        description="Kiosk name -> bearer key, as JSON. Change the demo key before going public.",
    )
    queue_max: int = Field(100, ge=1, description="Jobs waiting or running before new ones get 503.")
    max_upload_bytes: int = Field(15_000_000, ge=1000, description="Largest accepted upload per file.")
    rate_limit_per_minute: int = Field(30, ge=1, description="New jobs per kiosk key per minute.")
    retention_hours: float = Field(24.0, gt=0, description="Portraits, results and addresses are erased after this.")
    fast_batch_max: int = Field(8, ge=1, description="Fast jobs sharing one forward pass.")
    fast_batch_window_ms: int = Field(25, ge=0, description="How long the fast lane waits to fill a batch.")
    fast_size: int = Field(1024, ge=64, description="Longest side of fast results.")
    gatys_concurrency: int = Field(1, ge=1, description="Masterpieces painted at the same time.")
    gatys_size: int = Field(512, ge=64, description="Longest side of masterpiece results.")
    gatys_iterations: int = Field(150, ge=1, description="Masterpiece iterations (coarsest scale).")
    preview_every: int = Field(10, ge=1, description="Masterpiece preview every N iterations.")

    # -- e-mail ---------------------------------------------------------------------------------------
    smtp_host: str = Field("127.0.0.1", description="SMTP server (the dev inbox by default).")
    smtp_port: int = Field(8025, ge=1, le=65535, description="SMTP port.")
    smtp_security: Literal["none", "starttls", "tls"] = Field("none", description="none, starttls or tls.")
    smtp_user: str | None = Field(None, description="SMTP login, if the server needs one.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_timeout: float = Field(15.0, gt=0, description="Seconds before an SMTP attempt is given up.")
    mail_from: str = Field("Portrait Booth <booth@localhost>", description="From: header.")
    mail_reply_to: str | None = Field(None, description="Reply-To: header.")
    mail_retry_base_seconds: float = Field(5.0, gt=0, description="First retry delay; doubles each time.")
    mail_retry_max_seconds: float = Field(600.0, gt=0, description="Longest delay between retries.")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def settings_reference() -> str:
    """The configuration table in README.md, generated from the fields above (a test keeps them equal)."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, dict):
            default = json.dumps(default)
        if isinstance(default, Path):
            default = str(default).replace(str(Path.home()), "~").replace(str(REPO_MODELS.parent), ".")
        rows.append(f"| `PORTRAIT_{name.upper()}` | `{default}` | {field.description} |")
    return "\n".join(rows)
