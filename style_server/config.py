"""One settings object for the style server and its CLI: environment variables (PORTRAIT_*) or a .env file."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.net import is_loopback

if TYPE_CHECKING:
    from .engine.runtime import Engine

# Shipped inside the package (wheel and editable install alike): a GPU host installed from the wheel paints too.
BUILTIN_MODELS = Path(__file__).resolve().parent / "models"
DEMO_KEY = "demo-key"
MIN_PUBLIC_KEY_LENGTH = 24
KEY_ADVICE = (
    'set PORTRAIT_API_KEYS to one strong key per kiosk, as JSON, e.g. PORTRAIT_API_KEYS=\'{"kiosk-1": "<key>"}\', '
    'making each key with: python -c "import secrets; print(secrets.token_urlsafe(32))"'
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PORTRAIT_", env_file=".env", extra="ignore", populate_by_name=True)

    models_dir: Path = Field(BUILTIN_MODELS, description="Style cards and trained weights; every card here is served.")
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
    host: str = Field(
        "127.0.0.1",
        description="Address the server listens on. Beyond loopback it needs strong keys and TLS.",
    )
    port: int = Field(8000, ge=1, le=65535, description="Port the server listens on.")
    data_dir: Path = Field(Path("data"), description="Job database, portraits and results (personal data).")
    api_keys: dict[str, str] = Field(
        {"demo-kiosk": "demo-key"},
        description="Kiosk name -> bearer key, as JSON. The demo key works on loopback only.",
    )
    tls: Literal["off", "auto"] = Field(
        "off", description="HTTPS: off, or auto (a self-signed certificate made once in <data_dir>/tls/)."
    )
    tls_cert_file: Path | None = Field(None, description="Your own certificate (PEM); serves HTTPS with it.")
    tls_key_file: Path | None = Field(None, description="The key of PORTRAIT_TLS_CERT_FILE (PEM).")
    queue_max: int = Field(100, ge=1, description="Jobs waiting or running before new ones get 503.")
    max_upload_bytes: int = Field(15_000_000, ge=1000, description="Largest accepted upload per file.")
    rate_limit_per_minute: int = Field(30, ge=1, description="New jobs per kiosk key per minute.")
    retention_hours: float = Field(24.0, gt=0, description="Portraits, results and addresses are erased after this.")
    fast_batch_max: int = Field(8, ge=1, description="Fast jobs sharing one forward pass.")
    fast_batch_window_ms: int = Field(25, ge=0, description="How long the fast lane waits to fill a batch.")
    fast_size: int = Field(1024, ge=64, description="Longest side of fast results.")
    gatys_concurrency: int = Field(1, ge=1, description="Masterpieces painted at the same time.")
    gatys_size: int = Field(512, ge=64, description="Longest side of masterpiece results.")
    gatys_iterations: int = Field(
        16, ge=1, description="Masterpiece L-BFGS iterations at full size, from the fast network's painting."
    )
    gatys_precision: Literal["auto", "fp32"] = Field(
        "auto",
        description="Masterpiece loss network: auto runs it in bfloat16 where the CPU or GPU has the kernels (AVX-512 "
        "BF16/AMX, or a GPU with bfloat16), else fp32 (on an AVX2-only CPU bfloat16 is far slower); fp32: always fp32.",
    )
    preview_every: int = Field(4, ge=1, description="Masterpiece preview every N iterations.")
    sse_keepalive_seconds: float = Field(
        15.0, gt=0, description="An idle event stream gets a keep-alive comment this often (detects dead kiosks)."
    )
    keep_alive_timeout: float = Field(5.0, gt=0, description="Seconds an idle kept-alive connection stays open.")
    header_timeout: float = Field(
        10.0, gt=0, description="Seconds a client has to send a request's headers; slower connections are closed."
    )
    body_timeout: float = Field(
        60.0, gt=0, description="Seconds a client has to send a request's body (uploads); slower ones get 408."
    )
    metrics_token: SecretStr | None = Field(
        None, description="Bearer token for /metrics; without one, only loopback clients may read it."
    )
    public_url: str | None = Field(
        None,
        pattern=r"^https?://[^\s/?#@]+(/[^\s?#]*)?$",
        description="The server's address as visitors' phones reach it (e.g. https://booth.example.org): job "
        "status then carries a download_url for the QR code. Unset: no download links.",
    )
    wall_token: SecretStr | None = Field(
        None,
        description="The gallery wall's key: the second screen opens /wall?token=<token>. A server that listens "
        "beyond loopback refuses /wall without one; on loopback, unset, the wall needs none.",
    )
    wall_size: int = Field(24, ge=1, le=200, description="The latest portraits the gallery wall cycles through.")
    wall_cycle_seconds: float = Field(8.0, ge=1, description="The wall shows the next portrait after this long idle.")

    # -- scale-out (NATS JetStream) -------------------------------------------------------------------
    backend: Literal["sqlite", "nats"] = Field(
        "sqlite",
        description="sqlite: one process holds every job (one host). nats: stateless API nodes, GPU workers and "
        "mail workers share a NATS JetStream cluster (style-server serve / worker / mailer).",
    )
    nats_url: str = Field(
        "nats://127.0.0.1:4222",
        description="NATS servers, comma-separated. Beyond loopback: tls:// with a user or token in the URL.",
    )
    nats_replicas: int = Field(1, ge=1, le=5, description="Copies of every stream and bucket (3 in a cluster).")
    nats_ack_wait_seconds: float = Field(
        30.0, gt=0, description="A worker that stops renewing a job's lease for this long loses the job to another."
    )
    max_deliveries: int = Field(
        3,
        ge=1,
        # the name it had when only NATS counted deliveries is still read
        validation_alias=AliasChoices("max_deliveries", "PORTRAIT_MAX_DELIVERIES", "PORTRAIT_NATS_MAX_DELIVERIES"),
        description="Paintings of one job started before it is given up and its visitor told by e-mail (a job whose "
        "painting kills its painter again and again: on NATS the dead letter, on SQLite at the next start).",
    )
    nats_ca_file: Path | None = Field(
        None, description="CA bundle (PEM) to verify tls:// NATS servers with; default: the system's store."
    )
    metrics_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="Port on which a worker or mailer serves its Prometheus metrics (the API nodes' names); 0: none.",
    )
    metrics_host: str = Field(
        "127.0.0.1",
        description="Address of a worker's or mailer's metrics port: loopback only (no key, no TLS); a scraper on "
        "another host reads it through a reverse proxy with TLS.",
    )

    # -- e-mail ---------------------------------------------------------------------------------------
    smtp_host: str = Field("127.0.0.1", description="SMTP server (the dev inbox by default).")
    smtp_port: int = Field(8025, ge=1, le=65535, description="SMTP port.")
    smtp_security: Literal["none", "starttls", "tls"] = Field("none", description="none, starttls or tls.")
    smtp_ca_file: Path | None = Field(
        None, description="CA bundle (PEM) to verify the SMTP server with; default: the system's store."
    )
    smtp_user: str | None = Field(None, description="SMTP login, if the server needs one.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_timeout: float = Field(15.0, gt=0, description="Seconds before an SMTP attempt is given up.")
    mail_from: str = Field("Portrait Booth <booth@localhost>", description="From: header.")
    mail_reply_to: str | None = Field(None, description="Reply-To: header.")
    mail_retry_base_seconds: float = Field(5.0, gt=0, description="First retry delay; doubles each time.")
    mail_retry_max_seconds: float = Field(600.0, gt=0, description="Longest delay between retries.")
    mail_uncertain_retries: int = Field(
        2,
        ge=0,
        description="Sends again, with the same Message-ID, after the SMTP server timed out answering the message "
        "itself (it may have delivered it); then the mail is marked uncertain and never sent again.",
    )

    # -- testing only ---------------------------------------------------------------------------------
    fault_point: str | None = Field(
        None,
        description="Testing only, never in production: SIGKILL the server at a named point (in_fast_batch, "
        "after_finish, after_smtp_accept) or fail one stage of the fast lane for a style's jobs (prepare:<style id>, "
        "paint:<style id>, keep:<style id>).",
    )
    test_hold_batch_file: Path | None = Field(
        None,
        description="Testing only, never in production: a fast batch that has read its inputs waits while this "
        "file exists (lets tests land a cancel inside a batch).",
    )

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("set both PORTRAIT_TLS_CERT_FILE and PORTRAIT_TLS_KEY_FILE, or neither")
        return self

    @property
    def nats_servers(self) -> list[str]:
        return [url.strip() for url in self.nats_url.split(",") if url.strip()]

    def nats_problems(self) -> list[str]:
        """Why the NATS connection must not be used: beyond loopback it needs TLS and credentials."""
        if self.backend != "nats":
            return []
        problems = []
        for url in self.nats_servers:
            parsed = urlsplit(url if "://" in url else f"nats://{url}")
            if is_loopback(parsed.hostname or ""):
                continue
            if parsed.scheme != "tls" or not (parsed.username or parsed.password):
                problems.append(
                    f"the NATS server {parsed.hostname} is not on this machine: use tls://<user>:<password>@host:port "
                    "(jobs, portraits and addresses travel over it)"
                )
        return problems

    @property
    def tls_enabled(self) -> bool:
        return self.tls == "auto" or self.tls_cert_file is not None

    def exposure_problems(self) -> list[str]:
        """Why this server must not listen where it is told to: empty on loopback, or with strong keys and TLS."""
        if is_loopback(self.host):
            return []
        problems = []
        weak = sorted(
            name for name, key in self.api_keys.items() if key == DEMO_KEY or len(key) < MIN_PUBLIC_KEY_LENGTH
        )
        if not self.api_keys:
            problems.append(f"no API keys are set; {KEY_ADVICE}")
        elif weak:
            problems.append(
                f"the API key of {', '.join(weak)} is the demo key or shorter than {MIN_PUBLIC_KEY_LENGTH} "
                f"characters; {KEY_ADVICE}"
            )
        if not self.tls_enabled:
            problems.append(
                "portraits and e-mail addresses would travel in clear: turn HTTPS on with --tls or PORTRAIT_TLS=auto "
                "(a self-signed certificate that kiosks pin by its fingerprint), or give PORTRAIT_TLS_CERT_FILE and "
                "PORTRAIT_TLS_KEY_FILE"
            )
        return problems


def engine_from_settings(settings: Settings, device: str | None = None) -> Engine:
    """The engine as the settings describe it (the engine itself never reads settings)."""
    from .engine.runtime import Engine

    s = settings
    return Engine(
        s.models_dir, s.cache_dir, device or s.device, s.vgg_weights, s.allow_download, s.cpu_threads, s.gatys_precision
    )


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
            default = str(default).replace(str(Path.home()), "~").replace(str(BUILTIN_MODELS.parent.parent), ".")
        rows.append(f"| `PORTRAIT_{name.upper()}` | `{default}` | {field.description} |")
    return "\n".join(rows)
