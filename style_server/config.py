"""One settings object for the style server and its CLI: environment variables (PORTRAIT_*) or a .env file."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_origin
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from shared.net import is_loopback

if TYPE_CHECKING:
    from .engine.runtime import Engine

# Shipped inside the package (wheel and editable install alike): a GPU host installed from the wheel paints too.
BUILTIN_MODELS = Path(__file__).resolve().parent / "models"
DEMO_KEY = "demo-key"
MIN_PUBLIC_KEY_LENGTH = 24
ENV_PREFIX = "PORTRAIT_"
KEY_ADVICE = (
    'set PORTRAIT_API_KEYS to one strong key per kiosk, as JSON, e.g. PORTRAIT_API_KEYS=\'{"kiosk-1": "<key>"}\', '
    'making each key with: python -c "import secrets; print(secrets.token_urlsafe(32))"'
)


class ServerSettings(BaseModel):
    """The HTTP service: where it listens, what it accepts, its streams and the gallery wall."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(
        "127.0.0.1",
        description="Address the server listens on. Beyond loopback it needs strong keys and TLS.",
    )
    port: int = Field(8000, ge=1, le=65535, description="Port the server listens on.")
    queue_max: int = Field(100, ge=1, description="Jobs waiting or running before new ones get 503.")
    max_upload_bytes: int = Field(15_000_000, ge=1000, description="Largest accepted upload per file.")
    max_input_pixels: int = Field(40_000_000, gt=0, description="Larger uploads are refused (decompression bombs).")
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
    public_url: str | None = Field(
        None,
        pattern=r"^https?://[^\s/?#@]+(/[^\s?#]*)?$",
        description="The server's address as visitors' phones reach it (e.g. https://booth.example.org): job "
        "status then carries a download_url for the QR code. Unset: no download links.",
    )
    wall_size: int = Field(24, ge=1, le=200, description="The latest portraits the gallery wall cycles through.")
    wall_cycle_seconds: float = Field(8.0, ge=1, description="The wall shows the next portrait after this long idle.")


class SecuritySettings(BaseModel):
    """Who may talk to the server, and over what: kiosk keys, TLS, rate limits, tokens."""

    model_config = ConfigDict(extra="forbid")

    api_keys: dict[str, str] = Field(
        {"demo-kiosk": "demo-key"},
        description="Kiosk name -> bearer key, as JSON. The demo key works on loopback only.",
    )
    tls: Literal["off", "auto"] = Field(
        "off", description="HTTPS: off, or auto (a self-signed certificate made once in <data_dir>/tls/)."
    )
    tls_cert_file: Path | None = Field(None, description="Your own certificate (PEM); serves HTTPS with it.")
    tls_key_file: Path | None = Field(None, description="The key of PORTRAIT_TLS_CERT_FILE (PEM).")
    rate_limit_per_minute: int = Field(30, ge=1, description="New jobs per kiosk key per minute.")
    metrics_token: SecretStr | None = Field(
        None, description="Bearer token for /metrics; without one, only loopback clients may read it."
    )
    wall_token: SecretStr | None = Field(
        None,
        description="The gallery wall's key: the second screen opens /wall?token=<token>. A server that listens "
        "beyond loopback refuses /wall without one; on loopback, unset, the wall needs none.",
    )

    @model_validator(mode="after")
    def _tls_pair(self) -> SecuritySettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("set both PORTRAIT_TLS_CERT_FILE and PORTRAIT_TLS_KEY_FILE, or neither")
        return self

    @property
    def tls_enabled(self) -> bool:
        return self.tls == "auto" or self.tls_cert_file is not None


class MailSettings(BaseModel):
    """How the portraits are mailed: the SMTP server, the headers, retries."""

    model_config = ConfigDict(extra="forbid")

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


class StorageSettings(BaseModel):
    """Where jobs live: the data folder, or a NATS JetStream cluster shared by API nodes, workers and mailers."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    data_dir: Path = Field(Path("data"), description="Job database, portraits and results (personal data).")
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
    nats_calls_in_flight: int = Field(
        32,
        ge=1,
        description="Calls a process's event loop has in flight on NATS at once; more wait their turn (then 503).",
    )
    nats_ack_wait_seconds: float = Field(
        30.0, gt=0, description="A worker that stops renewing a job's lease for this long loses the job to another."
    )
    max_deliveries: int = Field(
        3,
        ge=1,
        # the name it had when only NATS counted deliveries is still read
        validation_alias=AliasChoices("max_deliveries", "nats_max_deliveries"),
        description="Paintings of one job begun (taken from the queue to paint, taken ahead included) and never "
        "finished before it is given up and its visitor told by e-mail (a job whose painting kills its painter "
        "again and again: on NATS the dead letter, on SQLite at the next start). A job its painter gave back (an "
        "outage, a stop) does not count.",
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


class EngineSettings(BaseModel):
    """What paints: the models, the device, the lanes' sizes, batching and masterpiece recipe."""

    model_config = ConfigDict(extra="forbid")

    models_dir: Path = Field(BUILTIN_MODELS, description="Style cards and trained weights; every card here is served.")
    cache_dir: Path = Field(
        Path.home() / ".cache" / "portrait-booth", description="Converted weights (e.g. the offline VGG16)."
    )
    vgg_weights: Path | None = Field(None, description="A VGG safetensors file to use instead of the built-in sources.")
    allow_download: bool = Field(False, description="Allow fetching torchvision VGG19 weights when online.")
    device: str = Field("auto", description="auto, cpu or cuda.")
    max_output_side: int = Field(2048, ge=64, description="Largest side of a rendered portrait, in pixels.")
    cpu_threads: int | None = Field(None, ge=1, description="torch intra-op threads; default: all cores.")
    fast_batch_max: int = Field(8, ge=1, description="Fast jobs sharing one forward pass.")
    fast_batch_window_ms: int = Field(25, ge=0, description="How long the fast lane waits to fill a batch.")
    fast_prefetch: bool | None = Field(
        None,
        description="While a batch paints, take the next one and read its photos, so the queue's cost overlaps "
        "painting (those visitors' jobs show as painting one batch early). Unset: on with the NATS backend, "
        "where taking a job costs network round trips; off with SQLite, where it costs a millisecond.",
    )
    fast_size: int = Field(1024, ge=64, description="Longest side of fast results.")
    gatys_concurrency: int = Field(1, ge=1, description="Masterpieces painted at the same time.")
    gatys_size: int = Field(512, ge=64, description="Longest side of masterpiece results.")
    gatys_iterations: int | None = Field(
        None,
        ge=1,
        description="Masterpiece L-BFGS iterations at full size, from the fast network's painting. Unset: 16, or 14 "
        "on a CPU whose loss network runs fp32 (an AVX2-only CPU: 0.89x the time for content loss +3.6 %, "
        "bench/RESULTS.md).",
    )
    gatys_precision: Literal["auto", "fp32"] = Field(
        "auto",
        description="Masterpiece loss network: auto runs it in bfloat16 where the CPU or GPU has the kernels (AVX-512 "
        "BF16/AMX, or a GPU with bfloat16), else fp32 (on an AVX2-only CPU bfloat16 is far slower); fp32: always fp32.",
    )
    preview_every: int = Field(4, ge=1, description="Masterpiece preview every N iterations.")


class RetentionSettings(BaseModel):
    """How long anything personal is kept."""

    model_config = ConfigDict(extra="forbid")

    retention_hours: float = Field(24.0, gt=0, description="Portraits, results and addresses are erased after this.")


class TestingSettings(BaseModel):
    """Testing only, never in production."""

    model_config = ConfigDict(extra="forbid")

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


GROUPS: dict[str, type[BaseModel]] = {
    "server": ServerSettings,
    "security": SecuritySettings,
    "mail": MailSettings,
    "storage": StorageSettings,
    "engine": EngineSettings,
    "retention": RetentionSettings,
    "testing": TestingSettings,
}


def _names() -> dict[str, tuple[str, str, FieldInfo]]:
    """Every setting's name, and any older name it is still read by, -> (its group, its name now, its field)."""
    names: dict[str, tuple[str, str, FieldInfo]] = {}
    for group, model in GROUPS.items():
        for field_name, field in model.model_fields.items():
            aliases = field.validation_alias.choices if isinstance(field.validation_alias, AliasChoices) else ()
            for name in (field_name, *aliases):
                names[name] = (group, field_name, field)
    return names


SETTING_NAMES = _names()


def group_of(name: str) -> str | None:
    """The group of a setting by its name (or an older name it is still read by), lower case; None if unknown."""
    found = SETTING_NAMES.get(name)
    return found[0] if found else None


class FlatVariables(PydanticBaseSettingsSource):
    """``PORTRAIT_<NAME>`` for every setting of every group, from the environment or a .env file: the names do not
    carry the group (they are the names the booth always had). Structured values (``PORTRAIT_API_KEYS``) are JSON."""

    def __init__(self, settings_cls: type[BaseSettings], read: Callable[[], dict[str, str | None]]) -> None:
        super().__init__(settings_cls)
        self.read = read

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # whole groups are built in __call__

    def __call__(self) -> dict[str, Any]:
        nested: dict[str, dict[str, Any]] = {}
        for key, raw in self.read().items():
            if raw is None or not key.upper().startswith(ENV_PREFIX):
                continue
            name = key[len(ENV_PREFIX) :].lower()
            if (found := SETTING_NAMES.get(name)) is None:
                continue
            group, field_name, field = found
            values = nested.setdefault(group, {})
            if name == field_name or field_name not in values:  # the name now wins over an older one
                values[field_name] = _decoded(field, raw)
        return nested


def _decoded(field: FieldInfo, raw: str) -> Any:
    origin = get_origin(field.annotation) or field.annotation
    return json.loads(raw) if origin in (dict, list, tuple, set) else raw


class Settings(BaseSettings):
    """Every setting of the server, its workers and its CLI, in groups (``settings.mail.smtp_host``). Each is read
    from ``PORTRAIT_<NAME>`` (the group is not part of the name) or a .env file; in code, a flat ``name=value``
    (``Settings(fast_size=256)``) goes to its group too."""

    model_config = SettingsConfigDict(extra="forbid")

    server: ServerSettings = Field(default_factory=ServerSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    testing: TestingSettings = Field(default_factory=TestingSettings)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        environment = FlatVariables(settings_cls, lambda: dict(os.environ))
        dotenv = FlatVariables(settings_cls, lambda: dotenv_values(".env") if Path(".env").is_file() else {})
        return init_settings, environment, dotenv

    @model_validator(mode="before")
    @classmethod
    def _flat_names_to_groups(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        grouped: dict[str, Any] = {}
        for key, value in data.items():
            if key in GROUPS:
                part = value.model_dump(by_alias=False) if isinstance(value, BaseModel) else dict(value)
                grouped[key] = {**part, **grouped.get(key, {})}
        for key, value in data.items():
            if key in GROUPS:
                continue
            if (found := SETTING_NAMES.get(key)) is None:
                raise ValueError(f"unknown setting {key!r}")
            group, field_name, _ = found
            grouped.setdefault(group, {})[field_name] = value  # under its name now: never twice, by two names
        return grouped

    def exposure_problems(self) -> list[str]:
        """Why this server must not listen where it is told to: empty on loopback, or with strong keys and TLS."""
        if is_loopback(self.server.host):
            return []
        problems = []
        keys = self.security.api_keys
        weak = sorted(name for name, key in keys.items() if key == DEMO_KEY or len(key) < MIN_PUBLIC_KEY_LENGTH)
        if not keys:
            problems.append(f"no API keys are set; {KEY_ADVICE}")
        elif weak:
            problems.append(
                f"the API key of {', '.join(weak)} is the demo key or shorter than {MIN_PUBLIC_KEY_LENGTH} "
                f"characters; {KEY_ADVICE}"
            )
        if not self.security.tls_enabled:
            problems.append(
                "portraits and e-mail addresses would travel in clear: turn HTTPS on with --tls or PORTRAIT_TLS=auto "
                "(a self-signed certificate that kiosks pin by its fingerprint), or give PORTRAIT_TLS_CERT_FILE and "
                "PORTRAIT_TLS_KEY_FILE"
            )
        return problems


def engine_from_settings(settings: Settings, device: str | None = None) -> Engine:
    """The engine as the settings describe it (the engine itself never reads settings)."""
    from .engine.runtime import Engine

    e = settings.engine
    return Engine(
        e.models_dir,
        e.cache_dir,
        device or e.device,
        e.vgg_weights,
        e.allow_download,
        e.cpu_threads,
        e.gatys_precision,
        e.gatys_iterations,
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def settings_reference() -> str:
    """The configuration table in README.md, generated from the fields above (a test keeps them equal)."""
    rows = ["| variable | group | default | meaning |", "| --- | --- | --- | --- |"]
    for group, model in GROUPS.items():
        for name, field in model.model_fields.items():
            default = field.default
            if isinstance(default, dict):
                default = json.dumps(default)
            if isinstance(default, Path):
                default = str(default).replace(str(Path.home()), "~").replace(str(BUILTIN_MODELS.parent.parent), ".")
            rows.append(f"| `{ENV_PREFIX}{name.upper()}` | {group} | `{default}` | {field.description} |")
    return "\n".join(rows)
