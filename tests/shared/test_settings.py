from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings import Settings


def test_embedded_mode_generates_secrets_once_and_keeps_them(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path)
    second = Settings(data_dir=tmp_path)
    assert first.secret_key and first.operator_key
    assert first.secret_key != first.operator_key
    assert (second.secret_key, second.operator_key) == (first.secret_key, first.operator_key)
    assert first.database_url == f"sqlite:///{(tmp_path / 'elu.sqlite3').as_posix()}"
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ELU_SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("ELU_PUBLIC_API_PORT", "18000")
    settings = Settings(data_dir=tmp_path)
    assert settings.secret_key == "from-the-environment"
    assert settings.public_api_port == 18000
    assert not (tmp_path / "secret_key").exists()


def test_distributed_mode_requires_its_secrets(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ELU_DATABASE_URL"):
        Settings(mode="distributed", data_dir=tmp_path)
    with pytest.raises(ValueError, match="ELU_SECRET_KEY"):
        Settings(mode="distributed", data_dir=tmp_path, database_url="sqlite://")
