"""Config discovery, validation, ${VAR} expansion, aliases and secret masking."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncdb_tui.config import load_config
from syncdb_tui.core.envs.environments import ConnectionInfo
from syncdb_tui.core.errors import ConfigError
from syncdb_tui.core.secrets import mask_url, redact


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def project(tmp_path: Path, body: str) -> Path:
    (tmp_path / "migrations").mkdir(exist_ok=True)
    (tmp_path / "migrations" / "env.py").write_text("# env\n")
    return write(tmp_path / "syncdb.toml", 'script_location = "migrations"\n' + body)


def test_discovery_walks_up_and_expands_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project(
        tmp_path,
        '[environments.dev]\nurl = "embedded"\n[environments.prod]\nurl = "${PROD_URL}"\nprotected = true\n',
    )
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    monkeypatch.setenv("PROD_URL", "postgresql://app:hunter22@db.example:5432/shop")
    config = load_config(cwd=nested)
    assert config.path == tmp_path / "syncdb.toml"
    assert config.default_env == "dev"
    prod = config.environment("prod")
    assert prod.protected and prod.url.endswith("/shop")
    assert config.environment("production") is prod
    assert config.environment("prd") is prod


def test_pyproject_tool_section(tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "env.py").write_text("")
    write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "x"\n[tool.syncdb]\nscript_location = "migrations"\n'
        '[tool.syncdb.environments.staging]\nurl = "postgresql://u@h/db"\n',
    )
    config = load_config(cwd=tmp_path)
    assert list(config.environments) == ["staging"]
    assert config.environment("stage").name == "staging"


def test_unknown_environment_lists_known(tmp_path: Path) -> None:
    project(tmp_path, '[environments.dev]\nurl = "embedded"\n[environments.qa1]\nurl = "embedded"\n')
    config = load_config(cwd=tmp_path)
    with pytest.raises(ConfigError) as caught:
        config.environment("nope")
    assert "dev, qa1" in caught.value.message
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('[environments.dev\nurl = "x"', "not valid TOML"),
        ('colour = "red"\n[environments.dev]\nurl = "embedded"\n', "unknown key 'colour'"),
        ('[environments.dev]\nurl = "embedded"\nprotect = true\n', "did you mean 'protected'"),
        ('[environments.dev]\nurl = "mysql://x"\n', "not a PostgreSQL URL"),
        ('[environments.dev]\nprotected = "yes"\nurl = "embedded"\n', "must be a bool"),
        ("", "no environments"),
        ('[backup]\nformat = "zip"\n[environments.dev]\nurl = "embedded"\n', "use one of: auto, custom"),
        ('[backup]\nparallel_above = "lots"\n[environments.dev]\nurl = "embedded"\n', "is not a size"),
        ('[backup]\nparallel_above = -1\n[environments.dev]\nurl = "embedded"\n', "is not a size"),
    ],
)
def test_invalid_config_is_one_clear_message(tmp_path: Path, body: str, expected: str) -> None:
    project(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        load_config(cwd=tmp_path)
    assert expected in caught.value.message + caught.value.hint
    assert str(tmp_path / "syncdb.toml") in caught.value.message


def test_missing_script_directory(tmp_path: Path) -> None:
    write(tmp_path / "syncdb.toml", 'script_location = "nowhere"\n[environments.dev]\nurl = "embedded"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(cwd=tmp_path)
    assert "script_location" in caught.value.message and "does not exist" in caught.value.message


def test_fallback_to_database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCDB_CONFIG_CEILING", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:pw@localhost/app")
    monkeypatch.delenv("POSTGRES_URL", raising=False)
    write(tmp_path / "alembic.ini", "[alembic]\nscript_location = migrations\n")
    config = load_config(cwd=tmp_path)
    assert list(config.environments) == ["dev"]
    assert config.alembic_ini == tmp_path / "alembic.ini"


def test_no_config_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCDB_CONFIG_CEILING", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("POSTGRES_URL", raising=False)
    with pytest.raises(ConfigError) as caught:
        load_config(cwd=tmp_path)
    assert "syncdb demo" in caught.value.hint


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:s3cr%40t!@db:5432/shop",
        "postgresql+asyncpg://app:s3cr@t!@db/shop?sslmode=require",
        "postgres://:onlypass@db/shop",
        "postgresql://app@db/shop?password=s3cr@t!",
    ],
)
def test_password_never_shown(url: str) -> None:
    masked = mask_url(url)
    assert "s3cr" not in masked and "onlypass" not in masked
    info = ConnectionInfo.from_url(url)
    assert "s3cr" not in repr(info) and "s3cr" not in info.display and "onlypass" not in repr(info)
    assert "s3cr" not in redact(f"connection to {url} failed: password s3cr@t! rejected")
    assert "s3cr@t!" not in str(info.sqlalchemy_url())
    env = info.libpq_env()
    assert env.get("PGPASSWORD") in ("s3cr@t!", "onlypass")


def test_unset_variable_fails_only_the_environment_that_uses_it(tmp_path: Path) -> None:
    from syncdb_tui.core.envs.environments import resolve

    project(
        tmp_path,
        '[environments.dev]\nurl = "postgresql://u@h/db"\n'
        '[environments.prod]\nurl = "${SYNCDB_TEST_UNSET_VAR}"\nprotected = true\n',
    )
    config = load_config(cwd=tmp_path)
    assert resolve(config, "dev").database == "db"
    with pytest.raises(ConfigError) as caught:
        resolve(config, "prod")
    assert "SYNCDB_TEST_UNSET_VAR is not set" in caught.value.message
    assert "environments.prod.url" in caught.value.message
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("value", "expected"), [('"256MB"', 256_000_000), ('"1.5 GB"', 1_500_000_000), ("1000", 1000), ('"0"', 0)]
)
def test_backup_parallel_above_takes_sizes(tmp_path: Path, value: str, expected: int) -> None:
    project(tmp_path, f'[backup]\nparallel_above = {value}\n[environments.dev]\nurl = "embedded"\n')
    config = load_config(cwd=tmp_path)
    assert config.backup_parallel_above == expected and config.backup_format == "auto"
