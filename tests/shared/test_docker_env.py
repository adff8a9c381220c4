"""Every variable in .docker.env is a setting ELU Twins reads (or Postgres's own)."""

from __future__ import annotations

from pathlib import Path

from shared.settings import Settings

DOCKER_ENV = Path(__file__).parents[2] / ".docker.env"


def test_docker_env_names_only_real_settings_and_is_valid() -> None:
    values = dict(
        line.split("=", 1)
        for line in DOCKER_ENV.read_text().splitlines()
        if line and not line.startswith("#")
    )
    settings_fields = {f"ELU_{name.upper()}" for name in Settings.model_fields}
    elu_names = {name for name in values if name.startswith("ELU_")}
    assert elu_names <= settings_fields, elu_names - settings_fields
    assert set(values) - elu_names == {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}
    settings = Settings(
        **{name[4:].lower(): value for name, value in values.items() if name in elu_names}
    )
    assert settings.mode == "distributed"
    assert settings.database_url is not None
    assert settings.database_url.startswith("postgresql+psycopg://")


def test_docker_env_lists_every_setting() -> None:
    """Each setting is set in .docker.env or, when it must stay unset there, named in a comment."""
    text = DOCKER_ENV.read_text()
    missing = {
        f"ELU_{name.upper()}"
        for name in Settings.model_fields
        if f"ELU_{name.upper()}=" not in text and f"# ELU_{name.upper()}:" not in text
    }
    assert not missing, f"add to .docker.env: {sorted(missing)}"
