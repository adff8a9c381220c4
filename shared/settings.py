"""Every setting of ELU Twins, read from the environment (prefix ``ELU_``).

Embedded mode (the default) needs no setting at all: the database is a SQLite
file in the data folder, and the secret key and operator key are generated on
first start and kept there. Distributed mode must be given its secrets.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ELU_", extra="ignore")

    mode: Literal["embedded", "distributed"] = "embedded"
    data_dir: Path = Path(".elu")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; embedded mode defaults to SQLite in data_dir."
    )

    secret_key: str | None = Field(default=None, description="Signs access and app tokens.")
    operator_key: str | None = Field(default=None, description="X-Operator-Key of the private API.")
    access_token_expire_minutes: int = 60 * 24
    app_token_max_days: int = Field(
        default=365, ge=1, le=3650, description="Longest expiry_in_days of an app token."
    )

    host: str = "127.0.0.1"
    public_api_port: int = 8000
    private_api_port: int = 8800
    csms_v16_port: int = 9000
    csms_v201_port: int = 9201
    flower_port: int = 5555

    default_max_charge_points: int = 100
    default_max_vehicles: int = 100
    max_user_messages_per_second: int = Field(
        default=2000,
        ge=1,
        description="Periodic OCPP messages (meter values, heartbeats) one user's connected "
        "twins may send together per real second, counted at the most each twin may send: "
        "a create, change or connect beyond it is refused.",
    )
    message_log_limit: int = Field(
        default=100_000, ge=1, description="OCPP frames kept per charge point (oldest go first)"
    )
    api_threads: int = Field(
        default=400, ge=1, description="requests the public API serves at once (threads)"
    )
    max_request_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body the APIs read (bytes); a larger one is a 413 "
        "before it is read.",
    )
    max_bulk_request_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Largest body of a bulk create (POST .../bulk, up to 1,000 items), bytes.",
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="Redis of distributed mode: Celery's broker, command answers, live events.",
    )
    resume_window: float = Field(
        default=300,
        gt=0,
        description="Seconds within which a restarted or moved twin resumes its sessions; "
        "after longer it boots like a charger after a power loss and ends them.",
    )
    lease_seconds: float = Field(
        default=15,
        ge=3,
        description="How long a worker's hold on its twins lasts without renewal; a worker "
        "silent for longer loses its twins to the others.",
    )
    worker_name: str | None = Field(
        default=None,
        description="Name of this twin host (distributed mode); default host name and pid.",
    )
    csms_ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CA(s) that sign CSMS certificates for wss:// "
        "(security profile 2); default: the system's trusted CAs.",
    )

    @model_validator(mode="after")
    def _fill_embedded_defaults(self) -> Settings:
        if self.database_url is None:
            if self.mode != "embedded":
                raise ValueError("ELU_DATABASE_URL must be set in distributed mode")
            self.database_url = f"sqlite:///{(self.data_dir / 'elu.sqlite3').as_posix()}"
        if self.secret_key is None:
            self.secret_key = self._kept_secret("secret_key", "ELU_SECRET_KEY")
        if self.operator_key is None:
            self.operator_key = self._kept_secret("operator_key", "ELU_OPERATOR_KEY")
        return self

    def _kept_secret(self, name: str, variable: str) -> str:
        """Read a generated secret from the data folder, creating it on first use."""
        if self.mode != "embedded":
            raise ValueError(f"{variable} must be set in distributed mode")
        path = self.data_dir / name
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(32)
        path.write_text(value)
        path.chmod(0o600)
        return value

    @property
    def operator_key_is_generated(self) -> bool:
        return (self.data_dir / "operator_key").exists()


@lru_cache
def get_settings() -> Settings:
    return Settings()
