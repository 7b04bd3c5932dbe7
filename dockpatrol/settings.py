"""One settings object for the whole platform, read from ``DOCKPATROL_*`` environment variables.

Defaults are the embedded parts (SQLite file and object directory under ``./.dockpatrol``);
setting a database URL, S3 endpoint or broker URL switches to the production parts.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dockpatrol.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Platform configuration; every field can be set as ``DOCKPATROL_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="DOCKPATROL_", extra="ignore")

    data_dir: Path = Field(default=Path(".dockpatrol"), description="SQLite file, objects, caches")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in data_dir")
    objects_dir: Path | None = Field(default=None, description="local object store; default data_dir/objects")
    s3_endpoint: str | None = Field(default=None, description="host:port of MinIO/S3; enables S3 storage")
    s3_access_key: str = "minioadmin"
    s3_secret_key: str = "minioadmin"
    s3_bucket: str = "dockpatrol"
    s3_secure: bool = False
    s3_region: str = "us-east-1"
    broker_url: str | None = Field(default=None, description="Redis URL; enables Celery workers")
    models_dir: Path = Field(default=REPO_ROOT / "models", description="model cards and weights")
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    wind_m_s: float = Field(default=3.0, description="constant weather source: mean wind")
    rain: bool = Field(default=False, description="constant weather source: raining")

    @field_validator("database_url")
    @classmethod
    def _check_db_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        # A light check here (no SQLAlchemy in the core); storage.db parses the URL fully.
        example = ("expected e.g. sqlite:///path/dockpatrol.db or "
                   "postgresql+psycopg://user:pass@host:5432/dockpatrol")
        try:
            parts = urlsplit(value)
            _ = parts.port  # raises ValueError for a non-numeric port
        except ValueError:
            raise ValueError(f"DOCKPATROL_DATABASE_URL {value!r} is not a database URL; {example}") from None
        backend = parts.scheme.split("+", 1)[0]
        if not parts.scheme or "://" not in value:
            raise ValueError(f"DOCKPATROL_DATABASE_URL {value!r} is not a database URL; {example}")
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"DOCKPATROL_DATABASE_URL uses {backend!r}; supported: sqlite, postgresql ({example})")
        return value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'dockpatrol.db').resolve()}"

    @property
    def resolved_objects_dir(self) -> Path:
        return (self.objects_dir or self.data_dir / "objects").resolve()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; a malformed variable raises ConfigError with one clear line."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first.get("loc") else "setting"
        msg = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{msg}" if "DOCKPATROL_" in msg else f"DOCKPATROL_{field.upper()}: {msg}") from None


def reset_settings_cache() -> None:
    """Forget cached settings (tests change the environment)."""
    get_settings.cache_clear()


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
