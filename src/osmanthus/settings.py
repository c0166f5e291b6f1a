"""The one settings class. Built by :func:`get_settings`, never at import time.

Every field can be set from the environment with the ``OSMANTHUS_`` prefix (for example
``OSMANTHUS_DATABASE_URL``) or from a ``.env`` file in the working directory.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from osmanthus.errors import ConfigError

__all__ = ["DEMO_PSEUDONYM_KEY", "Settings", "get_settings"]

#: The pseudonym key used by the demo city. Public, hence refused outside demo mode.
DEMO_PSEUDONYM_KEY = "osmanthus-demo-key-not-secret-0000000000"

_MIN_KEY_LENGTH = 32

#: The example policy shipped in this repository (src/osmanthus/settings.py → repo root).
EXAMPLE_POLICY = Path(__file__).resolve().parents[2] / "policies" / "suzhou-example"


class Settings(BaseSettings):
    """Runtime configuration of Osmanthus."""

    model_config = SettingsConfigDict(
        env_prefix="OSMANTHUS_", env_file=".env", extra="ignore", frozen=True
    )

    data_dir: Path = Field(
        default=Path("var"),
        description="Directory for the embedded database and other local files.",
    )
    database_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the ledger database. Default: a SQLite file under "
            "data_dir, 'osmanthus.db' (or 'demo.db' in demo mode). PostgreSQL: "
            "postgresql+psycopg://host/db."
        ),
    )
    pseudonym_key: SecretStr | None = Field(
        default=None,
        description=(
            "Secret key of the HMAC-SHA-256 pseudonym of national ID numbers; at least "
            "32 characters. Required outside demo mode."
        ),
    )
    demo_mode: bool = Field(
        default=False,
        description="Demo mode: allows the public demo pseudonym key. Never in production.",
    )
    timezone: str = Field(
        default="Asia/Shanghai",
        description=(
            "The city's IANA time zone: it decides what 'today' is for act dates, "
            "decision dates and scoring (records dated today in the city are not future)."
        ),
    )
    policy_dir: Path = Field(
        default=EXAMPLE_POLICY,
        description=(
            "Directory of the policy in force (TOML files, one per version). Default: "
            "the Suzhou example policy of this checkout."
        ),
    )

    intake_chunk_rows: int = Field(
        default=20_000,
        ge=1,
        le=10_000_000,
        description=(
            "Rows of a batch file checked and written at a time: memory is bounded by the "
            "chunk, not the file (about 2 KB a row while a batch is written: a 2 GB upload "
            "peaks at 426 MiB at 20,000, 576 MiB at 50,000, bench/upload_memory.py)."
        ),
    )

    population_dir: Path | None = Field(
        default=None,
        description=(
            "Directory of the Parquet lake and the population runs. Default: "
            "data_dir/population (data_dir/population-demo in demo mode)."
        ),
    )
    spark_master: str = Field(
        default="local[2]",
        description=(
            "Spark master URL for 'population run --engine spark': local[N] on this "
            "machine, or a cluster (spark://host:7077, yarn, k8s://...)."
        ),
    )

    signing_key_file: Path | None = Field(
        default=None,
        description=(
            "PEM file of the city's Ed25519 private key, which signs credit reports and "
            "eligibility proofs (openssl genpkey -algorithm ed25519 -out FILE). Required "
            "to sign or show the key outside demo mode, where the public demo key is "
            "refused. Default in demo mode: data_dir/demo-signing-key.pem, created on "
            "first use."
        ),
    )

    audit_archive_dir: Path | None = Field(
        default=None,
        description=(
            "Folder of the audit log's archived months ('osmanthus audit archive'); an "
            "erasure redacts the archived entries about the person there too. Default: "
            "data_dir/audit-archive."
        ),
    )

    provider_checks_per_day: int = Field(
        default=20,
        ge=1,
        description=(
            "Eligibility checks one provider may make about one resident (one ID number) "
            "in a city day; more are refused (429). Counted per web worker process."
        ),
    )

    signin_refusals_per_address: int = Field(
        default=20,
        ge=1,
        description=(
            "Refused portal sign-ins from one client address within 15 minutes after which "
            "that address is refused (429) until the window has passed; counted in the "
            "ledger database, by every web worker together. Each account also slows down "
            "after 5 refusals from one "
            "address (osmanthus.residents.credentials), never locks."
        ),
    )

    upload_max_mb: int = Field(
        default=2048,
        ge=1,
        description=(
            "Largest batch file a department may send over HTTP (the console's form and "
            "POST /api/v1/batches), in MiB; a larger one is refused (413) before it is "
            "stored. Larger files go through 'osmanthus intake'."
        ),
    )

    smtp_host: str | None = Field(
        default=None,
        description=(
            "SMTP server the notice delivery worker (osmanthus notices deliver) sends "
            "e-mail through. None: notices stay in the residents' inboxes only."
        ),
    )
    smtp_port: int = Field(default=25, ge=1, le=65535, description="Port of the SMTP server.")
    smtp_starttls: bool = Field(
        default=False, description="Upgrade the SMTP connection with STARTTLS before sending."
    )
    smtp_username: str | None = Field(default=None, description="SMTP login, if it needs one.")
    smtp_password_file: Path | None = Field(
        default=None, description="File holding the SMTP password (never the password itself)."
    )
    smtp_sender: str = Field(
        default="notices@osmanthus.invalid",
        description="The From address of notices (and the domain of their Message-IDs).",
    )
    notice_max_attempts: int = Field(
        default=8,
        ge=1,
        le=50,
        description=(
            "Attempts to deliver one notice by e-mail before it is marked failed (the "
            "wait doubles after each: 1, 2, 4 ... minutes, at most a day)."
        ),
    )
    dispute_sweep_minutes: float = Field(
        default=60,
        ge=0,
        description=(
            "The web service sets aside the record of every dispute not answered (or "
            "appeal not reviewed) by its deadline, from the next day, this often "
            "(osmanthus disputes sweep does it by hand). 0: never."
        ),
    )
    retention_hours: float = Field(
        default=24,
        ge=0,
        description=(
            "The web service erases, this often, the residents and records whose retention "
            "under the policy has run (osmanthus retention run does it by hand); 0 turns it off."
        ),
    )
    audit_checkpoint_hours: float = Field(
        default=24,
        ge=0,
        description=(
            "The web service signs a checkpoint of the audit chain (osmanthus audit "
            "checkpoint) and keeps it in the ledger when the newest kept one is older than "
            "this many hours and the chain has grown since; the oversight dashboard shows "
            "the latest. 0: never (publish them with the command instead)."
        ),
    )

    upkeep_process: bool = Field(
        default=True,
        description=(
            "SQLite: the web service's database upkeep (write-ahead log checkpoints, the "
            "audit subject index) runs in a process of its own, started by the worker "
            "that keeps the database; false: on a thread of that worker (slower under "
            "load; meant for tests)."
        ),
    )

    oidc_issuer: str | None = Field(
        default=None,
        description=(
            "OpenID Connect provider (issuer URL) that residents sign in with in production; "
            "its /.well-known/openid-configuration is read. Unset: password sign-in only."
        ),
    )
    oidc_client_id: str | None = Field(
        default=None, description="This service's client id at the OpenID Connect provider."
    )
    oidc_client_secret: SecretStr | None = Field(
        default=None, description="This service's client secret at the OpenID Connect provider."
    )
    oidc_id_claim: str = Field(
        default="national_id",
        description="The ID-token claim that carries the resident's national ID number.",
    )
    oidc_redirect_url: str | None = Field(
        default=None,
        description=(
            "The callback URL registered at the provider (https://host/signin/oidc/callback). "
            "Default: derived from the request, which is right unless a proxy rewrites it."
        ),
    )

    trusted_proxies: str = Field(
        default="",
        description=(
            "Addresses of the reverse proxies (comma-separated; networks such as "
            "10.0.0.0/8 too) whose X-Forwarded-For and X-Forwarded-Proto the service "
            "believes: the client's address then comes from the proxy. Empty (the "
            "default): no forwarded header is believed, from anyone, so a client cannot "
            "name its own address to the sign-in throttle or the access log."
        ),
    )

    root_path: str = Field(
        default="",
        description=(
            "The path prefix under which a reverse proxy serves the service (for example "
            "'/osmanthus' for https://city.example/osmanthus/), the proxy passing the "
            "requests on without it: links and redirects carry it. Empty (the default): "
            "served at the root."
        ),
    )

    @field_validator("root_path")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.rstrip("/")
        if value and (not value.startswith("/") or value.startswith("//") or " " in value):
            raise ConfigError(
                f"settings: 'root_path' must be a path such as /osmanthus, found {value!r}"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"settings: 'timezone' {value!r} is not a known IANA time zone"
            ) from None
        return value

    @model_validator(mode="after")
    def _refuse_demo_key_outside_demo(self) -> Settings:
        key = self.pseudonym_key.get_secret_value() if self.pseudonym_key else None
        if self.demo_mode:
            return self
        if key is None:
            raise ConfigError(
                "settings: 'pseudonym_key' is required outside demo mode "
                "(set OSMANTHUS_PSEUDONYM_KEY, or OSMANTHUS_DEMO_MODE=true for the demo)"
            )
        if key == DEMO_PSEUDONYM_KEY:
            raise ConfigError(
                "settings: 'pseudonym_key' is the public demo key, which is refused "
                "outside demo mode"
            )
        if len(key) < _MIN_KEY_LENGTH:
            raise ConfigError(
                f"settings: 'pseudonym_key' must be at least {_MIN_KEY_LENGTH} characters, "
                f"found {len(key)}"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the SQLite file under ``data_dir``."""
        if self.database_url:
            return self.database_url
        name = "demo.db" if self.demo_mode else "osmanthus.db"
        return f"sqlite:///{(self.data_dir / name).as_posix()}"

    @property
    def resolved_population_dir(self) -> Path:
        """Where the lake (``lake/``) and the population runs (``runs/``) are kept."""
        if self.population_dir is not None:
            return self.population_dir
        return self.data_dir / ("population-demo" if self.demo_mode else "population")

    @property
    def resolved_audit_archive_dir(self) -> Path:
        """Where the audit log's archived months are kept."""
        return self.audit_archive_dir or self.data_dir / "audit-archive"

    @property
    def resolved_signing_key_file(self) -> Path | None:
        """The signing key's PEM file (the demo key's file in demo mode when none is set)."""
        if self.signing_key_file is not None:
            return self.signing_key_file
        return self.data_dir / "demo-signing-key.pem" if self.demo_mode else None

    @property
    def key_bytes(self) -> bytes:
        """The pseudonym key as bytes (the demo key in demo mode when none is set)."""
        if self.pseudonym_key is not None:
            return self.pseudonym_key.get_secret_value().encode()
        return DEMO_PSEUDONYM_KEY.encode()


def get_settings(**overrides: object) -> Settings:
    """Build the settings from the environment, with explicit overrides on top.

    Raises :class:`ConfigError` with a one-line message when the settings cannot run.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ConfigError:
        raise
    except ValueError as exc:  # pydantic.ValidationError wraps our ConfigError
        cause = _config_cause(exc)
        if cause is not None:
            raise cause from exc
        first = str(exc).splitlines()
        raise ConfigError("settings: " + " ".join(line.strip() for line in first[:3])) from exc


def _config_cause(exc: BaseException) -> ConfigError | None:
    errors = getattr(exc, "errors", None)
    if errors is None:
        return None
    for error in errors():
        ctx = error.get("ctx") or {}
        inner = ctx.get("error")
        if isinstance(inner, ConfigError):
            return inner
    return None
