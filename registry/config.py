"""Settings: one pydantic-settings class, environment prefix ``XINYONG_``, read once."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the registry; see the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="XINYONG_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./xinyong.db",
        description="SQLAlchemy URL; PostgreSQL as postgresql+psycopg://user@host:5432/db",
    )
    today: date | None = Field(
        default=None, description="Treat this date as today for every date rule (audits, replays, tests)"
    )
    policy: Path | None = Field(default=None, description="Policy file overriding the shipped defaults")
    log_level: str = Field(default="INFO")
    upload_limit_mb: int = Field(default=200, ge=1, description="Largest accepted upload, in MiB")
    sql_echo: bool = Field(default=False, description="Log every SQL statement (development only)")
    check_commit: Literal["durable", "fast"] = Field(
        default="durable",
        description="PostgreSQL only: 'fast' lets a single check's commit return before its WAL record "
        "reaches the disk (synchronous_commit off for the checks' connections): a database crash can then "
        "lose the check records of the last moments (up to about 0.6 s with the server's defaults), never "
        "leave a half-written one; 'durable' waits for the flush",
    )
    key_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long a server trusts a key it has already checked; a key revoked from another "
        "process stops working within this time (0: look every key up on every request)",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()


def reload_settings() -> Settings:
    """Forget the cached settings and read the environment again (tests, CLI option overrides)."""
    get_settings.cache_clear()
    return get_settings()
