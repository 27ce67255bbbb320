"""Configuration: one Settings object, read from the environment (prefix IFACTORY_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "development-only-secret-change-me"


class Settings(BaseSettings):
    """Everything configurable; built once in the app factory or CLI, never at import time."""

    model_config = SettingsConfigDict(env_prefix="IFACTORY_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("./ifactory-data")
    database_url: str | None = None  # default: sqlite file in data_dir
    historian_dir: Path | None = None  # default: data_dir / "historian"
    # The production historian (DESIGN.md, "Production deployment"): a PostgreSQL URL
    # (postgresql+psycopg://user@host/db) puts telemetry and the dead letters there, in
    # `historian_schema`, instead of the embedded store and SQLite file in historian_dir.
    historian_url: str | None = None
    historian_schema: str = "historian"
    secret_key: str = DEV_SECRET
    # Anonymous visitors may read (viewer role); writes always need a user or token.
    anonymous_read: bool = True
    retention_days: float = 365.0
    # A machine that sends nothing for this long is "unknown" (gateway offline), from its last sample.
    state_stale_after_s: float = 120.0
    max_future_skew_s: float = 300.0
    # Devices on an MQTT broker: unified-namespace JSON (under mqtt_prefix) and Sparkplug B.
    mqtt_url: str | None = None  # e.g. mqtt://user:password@broker:1883
    mqtt_prefix: str = ""
    mqtt_sparkplug: bool = False
    nats_url: str | None = None  # e.g. nats://127.0.0.1:4222: consume the edge's JetStream stream
    # Extra origins (scheme://host[:port]) whose cookie-authenticated writes are accepted, for a
    # reverse proxy that rewrites the Host header or terminates TLS (the app then sees another
    # origin than the browser). JSON in the environment:
    # IFACTORY_TRUSTED_ORIGINS='["https://ifactory.plant.example"]'. See api/auth.py (CSRF).
    trusted_origins: list[str] = []
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"

    @field_validator("trusted_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            try:
                parts = urlsplit(origin.strip())
                parts.port  # noqa: B018 - raises ValueError for a bad port
            except ValueError as exc:
                raise ValueError(f"trusted origin {origin!r}: {exc}") from None
            if (
                parts.scheme.lower() not in ("http", "https")
                or not parts.hostname
                or parts.path not in ("", "/")
                or parts.query
                or parts.fragment
                or "@" in parts.netloc
            ):
                raise ValueError(
                    f"trusted origin {origin!r} is not of the form scheme://host[:port]"
                    " (http or https, no path)"
                )
        return value

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment == "production" and self.secret_key == DEV_SECRET:
            raise ValueError("IFACTORY_SECRET_KEY must be set to a secret value in production")
        return self

    @property
    def resolved_database_url(self) -> str:
        """The relational database URL; a SQLite file in the data directory by default."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ifactory.db').resolve()}"

    @property
    def resolved_historian_dir(self) -> Path:
        """Where the embedded historian keeps its files."""
        return self.historian_dir or (self.data_dir / "historian")
