"""Retention: which backups and kept previous databases ``syncdb backups --prune`` removes.

Who calls what: ``syncdb backups --prune`` calls :func:`plan_prune` (printed by
``--dry-run``, and to know whether dropping databases needs a typed confirmation), then
:func:`prune`.

The rules, per environment (backups by the environment their manifest names; previous
databases by the database they were): with ``keep=N`` the newest N stay; with
``older_than_days=D`` everything younger than D days stays; with both, an item goes only
when neither rule keeps it.  The newest backup of a protected environment that passes
verification is never removed.  Restore copies left by a killed restore always go;
backups whose manifest is missing or unreadable are never touched (they are listed by
``syncdb backups`` for a person to judge).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from syncdb_tui.core.backups.integrity import integrity_problems
from syncdb_tui.core.backups.manifest import (
    BackupEntry,
    manifest_path_for,
    remove_path,
    scan_backups,
    verified_note,
)
from syncdb_tui.core.backups.swap import KeptDatabase, drop_kept, list_kept
from syncdb_tui.core.errors import UsageError

if TYPE_CHECKING:
    from syncdb_tui.config import Config
    from syncdb_tui.core.envs.environments import Environment


@dataclass(frozen=True)
class PruneItem:
    """One backup file or database, and why it goes (or stays)."""

    kind: str
    """``backup``, ``previous database`` or ``stale copy``."""
    name: str
    """The backup's path, or the database's name."""
    environment: str
    created_at: str
    size: int
    reason: str

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "name": self.name,
            "environment": self.environment,
            "created_at": self.created_at,
            "size": self.size,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class PrunePlan:
    """What :func:`prune` removes, and what it keeps on purpose."""

    remove: tuple[PruneItem, ...]
    kept_on_purpose: tuple[PruneItem, ...]
    """Items the rules would remove but that stay (the newest verified backup of a protected environment)."""

    @property
    def drops_databases(self) -> bool:
        return any(item.kind != "backup" for item in self.remove)

    def to_json(self) -> dict[str, object]:
        return {
            "remove": [item.to_json() for item in self.remove],
            "kept": [item.to_json() for item in self.kept_on_purpose],
        }


def _goes(index: int, created_at: str, *, keep: int | None, cutoff: datetime | None) -> str:
    """Why the ``index``-th newest item goes ("" when a rule keeps it)."""
    beyond = keep is None or index >= keep
    try:
        created = datetime.fromisoformat(created_at)
    except ValueError:
        created = datetime.now(UTC)
    old = cutoff is None or created < cutoff
    if not (beyond and old):
        return ""
    parts = []
    if keep is not None:
        parts.append(f"not among the newest {keep}")
    if cutoff is not None:
        parts.append(f"older than {cutoff.date().isoformat()}")
    return " and ".join(parts)


async def _verified(entry: BackupEntry) -> bool:
    if verified_note(entry):
        return True
    return entry.manifest is not None and not await integrity_problems(entry.manifest)


async def plan_prune(
    config: Config,
    env: Environment | None,
    *,
    keep: int | None,
    older_than_days: float | None,
    now: datetime | None = None,
) -> PrunePlan:
    """What pruning ``config.backup_dir`` (and, with ``env``, the previous databases beside its database) removes.

    Changes nothing.

    Raises:
        UsageError: neither ``keep`` nor ``older_than_days``, or a negative value.
        UnreachableError: (with ``env``) the server cannot be reached.
    """
    if keep is None and older_than_days is None:
        raise UsageError(
            "--prune needs a rule: --keep N, --older-than DAYS, or both",
            hint="e.g. syncdb backups --prune --keep 5 --dry-run",
        )
    if (keep is not None and keep < 0) or (older_than_days is not None and older_than_days < 0):
        raise UsageError("--keep and --older-than take numbers of zero or more")
    cutoff = (now or datetime.now(UTC)) - timedelta(days=older_than_days) if older_than_days is not None else None
    protected = {name for name, item in config.environments.items() if item.protected}
    entries = [entry for entry in await asyncio.to_thread(scan_backups, config.backup_dir) if entry.manifest]
    by_env: dict[str, list[BackupEntry]] = {}
    for entry in entries:
        assert entry.manifest is not None
        by_env.setdefault(entry.manifest.environment, []).append(entry)
    remove: list[PruneItem] = []
    spared: list[PruneItem] = []
    for environment, items in by_env.items():
        guard_pending = environment in protected
        for index, entry in enumerate(items):
            manifest = entry.manifest
            assert manifest is not None
            why = _goes(index, manifest.created_at, keep=keep, cutoff=cutoff)
            label = f" ({manifest.reason})" if manifest.reason else ""
            item = PruneItem("backup", str(entry.path), environment, manifest.created_at, manifest.size, why + label)
            if guard_pending and entry.good and await _verified(entry):
                guard_pending = False
                if why:
                    spared.append(
                        PruneItem(
                            "backup",
                            str(entry.path),
                            environment,
                            manifest.created_at,
                            manifest.size,
                            f"the newest verified backup of the protected environment {environment}",
                        )
                    )
                continue
            if why:
                remove.append(item)
    if env is not None:
        remove.extend(_databases(await list_kept(env), env.name, keep=keep, cutoff=cutoff))
    return PrunePlan(tuple(remove), tuple(spared))


def _databases(
    kept: list[KeptDatabase], env_name: str, *, keep: int | None, cutoff: datetime | None
) -> list[PruneItem]:
    items: list[PruneItem] = []
    previous = [item for item in kept if item.kind == "previous"]
    for index, database in enumerate(previous):
        why = _goes(index, database.created_at, keep=keep, cutoff=cutoff)
        if why:
            items.append(
                PruneItem("previous database", database.name, env_name, database.created_at, database.size, why)
            )
    items.extend(
        PruneItem("stale copy", item.name, env_name, item.created_at, item.size, "left by a restore that was killed")
        for item in kept
        if item.kind == "copy" and item.stale
    )
    return items


@dataclass(frozen=True)
class PruneResult:
    """What :func:`prune` removed, and what it could not."""

    removed: tuple[PruneItem, ...]
    problems: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"removed": [item.to_json() for item in self.removed], "problems": list(self.problems)}


async def prune(plan: PrunePlan, env: Environment | None) -> PruneResult:
    """Remove what ``plan`` lists: a backup's manifest first (so a crash never leaves a backup listed as
    good without its data), then its data; databases with ``DROP DATABASE``.  Never raises for one item."""
    from pathlib import Path

    removed: list[PruneItem] = []
    problems: list[str] = []
    for item in plan.remove:
        try:
            if item.kind == "backup":
                path = Path(item.name)
                await asyncio.to_thread(remove_path, manifest_path_for(path))
                await asyncio.to_thread(remove_path, path)
            elif env is not None:
                await drop_kept(env, item.name)
            removed.append(item)
        except Exception as error:  # one item that cannot go must not stop the others
            problems.append(f"{item.name}: {error}")
    return PruneResult(tuple(removed), tuple(problems))
