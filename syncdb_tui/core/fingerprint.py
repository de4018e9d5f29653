"""Schema fingerprint per environment: the live schema's hash beside the hash its revision should give.

The expected schema of a revision set is computed once — a scratch database on the
environment's server (or, for a protected environment, on an unprotected one's) migrated
from base to those revisions with the real executor — and cached under
``.syncdb/cache/fingerprints/`` by the hashes of the revision files that build it, env.py
and the server's major version.  A live schema that differs (a hand-made ``ALTER TABLE``
on prod, an index added in a hurry) is named object by object.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.errors import SyncdbError
from syncdb_tui.core.schema.fingerprint import SchemaSnapshot, differences, snapshot, summarise

if TYPE_CHECKING:
    from syncdb_tui.core.envs.environments import Environment
    from syncdb_tui.core.project.revisions import Project


@dataclass(frozen=True)
class FingerprintStatus:
    """The live schema's fingerprint against the one expected at the database's revision."""

    live: str
    expected: str | None
    revision: tuple[str, ...]
    differences: tuple[str, ...] = ()
    note: str = ""
    """Why the expected fingerprint is unknown (expected is None)."""

    @property
    def matches(self) -> bool | None:
        return None if self.expected is None else self.live == self.expected

    def describe(self) -> str:
        at = ", ".join(self.revision) or "base"
        if self.matches is None:
            return f"{self.live} (not compared: {self.note})"
        if self.matches:
            return f"{self.live} ✓ as expected at {at}"
        return f"differs from {at}: {summarise(list(self.differences))}"

    def to_json(self) -> dict[str, Any]:
        return {
            "live": self.live,
            "expected": self.expected,
            "revision": list(self.revision),
            "matches": self.matches,
            "differences": list(self.differences),
            "note": self.note or None,
        }


def _cache_dir(project: Project) -> Path:
    return project.config.root / ".syncdb" / "cache" / "fingerprints"


def cache_key(project: Project, revisions: tuple[str, ...], server_major: int) -> str:
    """The hash of everything that decides the schema at ``revisions``: their files, env.py, the server."""
    from syncdb_tui.core.changes.plan import env_py_sha256
    from syncdb_tui.core.project.cache import file_hash as file_sha256  # read again only when size/mtime change

    graph = project.graph()
    parts = [f"env.py={env_py_sha256(project)}", f"server={server_major}"]
    for rev in sorted(graph.ancestors(list(revisions))):
        parts.append(f"{rev}={file_sha256(graph.by_id[rev].path)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


async def expected_snapshot(
    project: Project, env: Environment, revisions: tuple[str, ...], server_major: int
) -> SchemaSnapshot:
    """The schema the migrations produce at ``revisions`` (cached; computed on a scratch database).

    Raises:
        SyncdbError: no server to build it on, the scratch database refused, or the migrations failed.
    """
    from syncdb_tui.core.changes.executor import plan_and_apply
    from syncdb_tui.core.envs.environments import connection
    from syncdb_tui.core.envs.scratch import scratch_database, scratch_host
    from syncdb_tui.core.errors import UsageError

    try:
        return SchemaSnapshot.from_json(json.loads(_cache_path(project, revisions, server_major).read_text()))
    except (OSError, ValueError, KeyError):
        pass
    host = await scratch_host(project.config, env)
    if host is None:
        raise UsageError(
            f"{env.name} is protected and no unprotected environment's server can hold a scratch database",
            hint="add an unprotected environment on a server where the role may CREATE DATABASE",
        )
    async with scratch_database(host, "fingerprint") as scratch:
        if revisions:
            target = revisions[0] if len(revisions) == 1 else "heads"
            await asyncio.to_thread(plan_and_apply, project, scratch, "upgrade", target)
        async with connection(scratch) as conn:
            expected = await snapshot(conn)
    _remember(project, revisions, server_major, expected)
    return expected


async def remember_expected(project: Project, scratch: Environment, revisions: tuple[str, ...]) -> None:
    """Keep the schema of ``scratch``, a database someone else just migrated to ``revisions`` from base,
    as the schema expected there (``check`` migrates one to head for the models: the fingerprint
    then needs no scratch database of its own)."""
    from syncdb_tui.core.envs.environments import connection

    async with connection(scratch) as conn:
        expected = await snapshot(conn)
        server_major = conn.get_server_version().major
    _remember(project, revisions, server_major, expected)


def _cache_path(project: Project, revisions: tuple[str, ...], server_major: int) -> Path:
    return _cache_dir(project) / f"{cache_key(project, revisions, server_major)}.json"


def _remember(project: Project, revisions: tuple[str, ...], server_major: int, expected: SchemaSnapshot) -> None:
    path = _cache_path(project, revisions, server_major)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(expected.to_json(), sort_keys=True))
    tmp.replace(path)


async def fingerprint_status(project: Project, env: Environment) -> FingerprintStatus:
    """The fingerprint of ``env``'s live schema, compared with the one expected at its revision.

    Raises:
        UnreachableError: ``env`` cannot be reached.
    """
    from syncdb_tui.core.envs.environments import connection
    from syncdb_tui.core.project.versions import current_revisions

    async with connection(env) as conn:
        live = await snapshot(conn)
        current = tuple(sorted(await current_revisions(conn) or ()))
        server_major = conn.get_server_version().major
    graph = project.graph()
    unknown = [rev for rev in current if rev not in graph.by_id]
    if unknown:
        return FingerprintStatus(
            live.fingerprint, None, current, note=f"the database is at {', '.join(unknown)}, unknown to the scripts"
        )
    try:
        expected = await expected_snapshot(project, env, current, server_major)
    except SyncdbError as error:
        return FingerprintStatus(live.fingerprint, None, current, note=error.message)
    return FingerprintStatus(
        live=live.fingerprint,
        expected=expected.fingerprint,
        revision=current,
        differences=tuple(differences(live, expected)),
    )
