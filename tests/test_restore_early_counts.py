"""A parallel restore counts each table as soon as pg_restore has loaded it (while the rest goes on);
the check after the restore counts only what is left, and still catches a count that differs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fixtures_backup import database_of, project_config, psql, seed_database, table_fingerprints

from syncdb_tui.core.backups.backup import BackupOptions, backup
from syncdb_tui.core.backups.restore import _EarlyCounts, _unqualified, restore
from syncdb_tui.core.envs.embedded import EmbeddedServer
from syncdb_tui.core.envs.environments import resolve
from syncdb_tui.core.errors import OperationError


@pytest.mark.parametrize(
    ("name", "table"),
    [
        ("public.orders", "orders"),
        ('public."user"', "user"),
        ('"My Schema"."Big ""T"""', 'Big "T"'),
        ('"a.b".c', "c"),
        ("a.b.c", None),
        ("orders", None),
    ],
)
def test_manifest_names_map_to_pg_restores_table_names(name: str, table: str | None) -> None:
    assert _unqualified(name) == table


async def test_a_parallel_restore_counts_tables_as_they_finish(
    tmp_path: Path, fresh_db: Callable[..., str], pg_server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = fresh_db()
    seed_database(pg_server, database_of(url))
    config = project_config(tmp_path, {"dev": url})
    env = resolve(config, "dev")
    manifest = await backup(env, config, BackupOptions())
    at_backup = table_fingerprints(pg_server, database_of(url))
    taken: list[dict[str, int | None]] = []
    finish = _EarlyCounts.finish

    async def recorded(self: _EarlyCounts) -> dict[str, int | None]:
        counts = await finish(self)
        taken.append(counts)
        return counts

    monkeypatch.setattr(_EarlyCounts, "finish", recorded)
    result = await restore(config, manifest.path, env=env, clean=True, jobs=2)
    assert result.mode == "swap" and table_fingerprints(pg_server, database_of(url)) == at_backup
    expected = manifest.expected_rows()
    assert taken and taken[0], "tables were counted while pg_restore went on"
    assert all(taken[0][name] == expected[name] for name in taken[0])
    assert {check.name: check.actual for check in result.tables} == expected


async def test_an_early_count_that_differs_still_fails_the_restore(
    tmp_path: Path, fresh_db: Callable[..., str], pg_server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = fresh_db()
    seed_database(pg_server, database_of(url))
    config = project_config(tmp_path, {"dev": url})
    env = resolve(config, "dev")
    manifest = await backup(env, config, BackupOptions())
    before = table_fingerprints(pg_server, database_of(url))
    finish = _EarlyCounts.finish

    async def one_short(self: _EarlyCounts) -> dict[str, int | None]:
        counts = await finish(self)
        return {name: (rows or 0) - 1 for name, rows in counts.items()} or dict.fromkeys(manifest.expected_rows(), -1)

    monkeypatch.setattr(_EarlyCounts, "finish", one_short)
    with pytest.raises(OperationError, match=r"differs from the backup's manifest"):
        await restore(config, manifest.path, env=env, clean=True, jobs=2)
    assert table_fingerprints(pg_server, database_of(url)) == before
    copies = psql(pg_server, "postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE '%\\_\\_restore\\_%'")
    assert copies.strip() == "0", "the copy was dropped"
