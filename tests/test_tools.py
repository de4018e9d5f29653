"""Choosing pg_dump / pg_restore / psql to fit the server (issue 4)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fixtures_backup import env_for

from syncdb_tui.core.envs.embedded import EmbeddedServer, bundled_bin_dir
from syncdb_tui.core.envs.tools import (
    BINDIR_VARIABLE,
    ToolInfo,
    choose,
    find_tool,
    locate_tool,
    parse_version,
)
from syncdb_tui.core.errors import OperationError


def test_parse_version_reads_debian_and_bundled_banners() -> None:
    assert parse_version("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)") == ("15.18", 150018)
    assert parse_version("pg_dump (PostgreSQL) 18.4") == ("18.4", 180004)
    assert parse_version("psql (PostgreSQL) 9.6.24") == ("9.6.24", 90624)
    assert parse_version("something else") is None


async def test_locate_tool_fits_the_embedded_pg18_server(pg_server: EmbeddedServer, db_url: str) -> None:
    tool = await locate_tool("pg_dump", env_for(db_url))
    assert tool.major >= 18
    assert tool.path.is_file()


@pytest.mark.parametrize("name", ["pg_dump", "pg_restore", "psql"])
def test_every_client_is_found_for_pg18(name: str) -> None:
    tool = find_tool(name, 180004)
    assert tool.name == name and tool.major >= 18


def test_system_client_of_the_servers_major_is_preferred() -> None:
    tools = [
        ToolInfo("pg_dump", Path("/a/pg_dump"), "16.2", 160002, "system"),
        ToolInfo("pg_dump", Path("/b/pg_dump"), "15.18", 150018, "system"),
        ToolInfo("pg_dump", Path("/c/pg_dump"), "18.4", 180004, "bundled"),
    ]
    assert choose(tools, 150004).path == Path("/b/pg_dump")
    assert choose(tools, 160000).path == Path("/a/pg_dump")
    assert choose(tools, 180000).source == "bundled"
    assert choose(tools, 190000) is None
    assert choose(tools, 150004, at_least=160000).path == Path("/a/pg_dump")


def test_server_newer_than_every_client_is_a_clear_error() -> None:
    with pytest.raises(OperationError) as caught:
        find_tool("pg_dump", 990001)
    error = caught.value
    assert "PostgreSQL 99" in error.message
    assert "pg_dump" in error.message and "at least as new" in error.message
    bundled = bundled_bin_dir()
    if bundled is not None:
        assert str(bundled / "pg_dump") in error.message
    assert "postgresql-client-99" in error.hint


def test_explicit_bindir_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    bundled = bundled_bin_dir()
    if bundled is None:
        pytest.skip("no bundled clients")
    monkeypatch.setenv(BINDIR_VARIABLE, str(bundled))
    tool = find_tool("pg_restore", 120000)
    assert tool.source == BINDIR_VARIABLE
    assert tool.path == bundled / "pg_restore"


def test_unknown_tool_name_is_a_programming_error(fresh_db: Callable[..., str]) -> None:
    with pytest.raises(ValueError):
        find_tool("rm", None)


async def test_backup_against_a_server_no_client_fits_explains_the_mismatch(
    pg_server: EmbeddedServer, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the bundled PG18 clients, a PG18 server must give syncdb's message, not pg_dump's."""
    from fixtures_backup import project_config

    from syncdb_tui.core.backups.backup import BackupOptions, backup
    from syncdb_tui.core.envs import tools
    from syncdb_tui.core.envs.environments import resolve

    if any(tool.major >= 18 for tool in tools.candidates("pg_dump") if tool.source == "system"):
        pytest.skip("this machine has a system pg_dump new enough for the embedded server")
    monkeypatch.setattr("syncdb_tui.core.envs.embedded.bundled_bin_dir", lambda: None)
    monkeypatch.delenv(BINDIR_VARIABLE, raising=False)
    config = project_config(tmp_path, {"dev": db_url})
    with pytest.raises(OperationError) as caught:
        await backup(resolve(config, "dev"), config, BackupOptions())
    error = caught.value
    assert error.title == "pg_dump version mismatch"
    assert "the server runs PostgreSQL 18" in error.message
    assert "pg_dump 15" in error.message or "no pg_dump program" in error.message
    assert "postgresql-client-18" in error.hint
    assert not (tmp_path / "backups").exists() or not any((tmp_path / "backups").iterdir())
