"""One settings object for the style server and its CLI: environment variables (PORTRAIT_*) or a .env file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_MODELS = Path(__file__).resolve().parent.parent / "models"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PORTRAIT_", env_file=".env", extra="ignore")

    models_dir: Path = Field(
        REPO_MODELS, description="Style cards and trained weights; every card here is served."
    )
    cache_dir: Path = Field(
        Path.home() / ".cache" / "portrait-booth", description="Converted weights (e.g. the offline VGG16)."
    )
    vgg_weights: Path | None = Field(
        None, description="A VGG safetensors file to use instead of the built-in sources."
    )
    allow_download: bool = Field(False, description="Allow fetching torchvision VGG19 weights when online.")
    device: str = Field("auto", description="auto, cpu or cuda.")
    max_input_pixels: int = Field(
        40_000_000, gt=0, description="Larger uploads are refused (decompression bombs)."
    )
    max_output_side: int = Field(2048, ge=64, description="Largest side of a rendered portrait, in pixels.")
    cpu_threads: int | None = Field(None, ge=1, description="torch intra-op threads; default: all cores.")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def settings_reference() -> str:
    """The configuration table in README.md, generated from the fields above (a test keeps them equal)."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, Path):
            default = str(default).replace(str(Path.home()), "~").replace(str(REPO_MODELS.parent), ".")
        rows.append(f"| `PORTRAIT_{name.upper()}` | `{default}` | {field.description} |")
    return "\n".join(rows)
