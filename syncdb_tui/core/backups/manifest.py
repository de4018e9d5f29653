"""Backup files on disk: names, manifests, checksums and the listing of good backups.

Who calls what: ``core/backup.py`` names a new backup with :func:`backup_paths`,
writes it under a temporary name (:func:`partial_path`) and publishes it with
:func:`publish`; ``syncdb backups`` and the TUI call :func:`list_backups`;
``core/backup_verify.py`` and ``core/restore.py`` read manifests with
:func:`load_entry` and checksums with :func:`checksum`.

Layout of ``backup_dir``::

    backup_dev_20260101_120000.dump                  custom format
    backup_dev_20260101_120000.dump.manifest.json    its manifest
    backup_dev_20260101_120000.sql                   plain format
    backup_dev_20260101_120000/                      directory format
    backup_dev_20260101_120000.manifest.json
    .backup_dev_20260101_120000.dump.partial-4242    being written by pid 4242 (ignored)
    .backup_dev_20260101_120000.dump.reserved        the name, taken by the syncdb writing it (holds its pid)
    .syncdb-verified.json                            when each backup last passed `syncdb backups --verify`

A backup is listed as good only when its manifest exists, parses, and the data
it describes exists with the recorded size.  A writer first takes the final name
(exclusive creation of the ``.reserved`` file: a second syncdb picks the next
name, or is refused for an explicit ``-o``); the manifest is published before the
data, and neither ever replaces an existing file, so a crash or a full disk
between the two leaves a manifest without data ("missing data"), never a good
backup nor a dump without its manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from syncdb_tui.core.processes import pid_alive

MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_VERSION = 1
FORMAT_SUFFIXES = {"custom": ".dump", "plain": ".sql", "directory": ""}
_PARTIAL = re.compile(r"^\.(?P<final>.+)\.partial-(?P<pid>\d+)$")
_RESERVED = re.compile(r"^\.(?P<final>.+)\.reserved$")
_RESERVING = re.compile(r"^\..+\.reserved\.(?P<pid>\d+)\.\d+$")
"""A reservation being written (the private file :func:`reserve` links into place)."""
VERIFIED_INDEX = ".syncdb-verified.json"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class TableCount:
    """One table of a backup, with its exact row count in the dump's snapshot."""

    name: str
    """Qualified and quoted as PostgreSQL prints it, e.g. ``public.orders``."""
    rows: int
    bytes: int = 0
    """The catalog's size of the table when it was dumped (heap + TOAST)."""


@dataclass(frozen=True)
class BackupManifest:
    """What a backup holds and how to check it; stored as JSON beside the backup."""

    path: Path
    """The backup file (custom/plain) or directory (directory format)."""
    environment: str
    database: str
    server_version: str
    server_version_num: int
    alembic_revisions: tuple[str, ...]
    """The rows of ``alembic_version`` in the dump's snapshot (empty if there is no such table)."""
    created_at: str
    """ISO 8601, UTC."""
    kind: str
    """``full``, ``schema`` or ``data``."""
    format: str
    """``custom``, ``plain`` or ``directory``."""
    tool: dict[str, str]
    """``{"name", "path", "version", "source"}`` of the pg_dump used."""
    size: int
    """Bytes of the file, or of all files of a directory backup."""
    sha256: str
    """Of the file; for a directory, see :func:`checksum`."""
    tables: tuple[TableCount, ...]
    requested_tables: tuple[str, ...] = ()
    """The ``-t`` selection, empty for the whole database."""
    compression: str = ""
    snapshot: str = ""
    """How the row counts relate to the dump: ``"exported"`` (same snapshot) or a stated alternative."""
    duration_seconds: float = 0.0
    reason: str = ""
    """Why it was taken: ``""`` (on request), ``"before migrate"``, ``"before restore"``."""
    manifest_version: int = MANIFEST_VERSION

    @property
    def includes_data(self) -> bool:
        return self.kind in ("full", "data")

    @property
    def includes_schema(self) -> bool:
        return self.kind in ("full", "schema")

    @property
    def manifest_path(self) -> Path:
        return manifest_path_for(self.path)

    @property
    def tool_version_num(self) -> int | None:
        from syncdb_tui.core.envs.tools import parse_version

        parsed = parse_version(f"(PostgreSQL) {self.tool.get('version', '')}")
        return parsed[1] if parsed else None

    def expected_rows(self) -> dict[str, int]:
        """Rows each table must hold after a restore of this backup into an empty database."""
        return {table.name: (table.rows if self.includes_data else 0) for table in self.tables}

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        data["alembic_revisions"] = list(self.alembic_revisions)
        data["requested_tables"] = list(self.requested_tables)
        data["tables"] = [asdict(table) for table in self.tables]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], path: Path) -> BackupManifest:
        """Rebuild a manifest; ``path`` is where the backup is now (manifests travel with their file)."""
        return cls(
            path=path,
            environment=str(data["environment"]),
            database=str(data["database"]),
            server_version=str(data["server_version"]),
            server_version_num=int(data["server_version_num"]),
            alembic_revisions=tuple(data.get("alembic_revisions", ())),
            created_at=str(data["created_at"]),
            kind=str(data["kind"]),
            format=str(data["format"]),
            tool=dict(data["tool"]),
            size=int(data["size"]),
            sha256=str(data["sha256"]),
            tables=tuple(
                TableCount(name=str(t["name"]), rows=int(t["rows"]), bytes=int(t.get("bytes", 0)))
                for t in data.get("tables", ())
            ),
            requested_tables=tuple(data.get("requested_tables", ())),
            compression=str(data.get("compression", "")),
            snapshot=str(data.get("snapshot", "")),
            duration_seconds=float(data.get("duration_seconds", 0.0)),
            reason=str(data.get("reason", "")),
            manifest_version=int(data.get("manifest_version", MANIFEST_VERSION)),
        )


@dataclass(frozen=True)
class BackupEntry:
    """One backup found in ``backup_dir``."""

    path: Path
    manifest: BackupManifest | None
    status: str
    """``"ok"``, ``"no manifest"``, ``"missing data"``, ``"size mismatch"`` or ``"bad manifest"``."""
    problem: str = ""
    """What is wrong, in a sentence (empty when ``status == "ok"``)."""

    @property
    def good(self) -> bool:
        return self.status == "ok"

    @property
    def manifest_path(self) -> Path:
        return manifest_path_for(self.path)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": str(self.path), "status": self.status, "good": self.good}
        if self.problem:
            data["problem"] = self.problem
        if self.manifest is not None:
            data["manifest"] = self.manifest.to_json()
        return data


def human_size(size: int) -> str:
    """``38.3 kB``, ``1.2 MB``… in decimal units (rich's): the one size format of the CLI and the app."""
    from rich.filesize import decimal

    return decimal(size)


def manifest_path_for(path: Path) -> Path:
    """``x.dump`` → ``x.dump.manifest.json``; ``dir/`` → ``dir.manifest.json``."""
    return path.with_name(path.name + MANIFEST_SUFFIX)


def default_name(env_name: str, fmt: str, now: datetime | None = None, label: str = "") -> str:
    """``backup_<env>_<YYYYmmdd_HHMMSS>[_label]<suffix>`` (UTC)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d_%H%M%S")
    safe_env = re.sub(r"[^A-Za-z0-9_.-]", "_", env_name)
    tail = f"_{label}" if label else ""
    return f"backup_{safe_env}_{stamp}{tail}{FORMAT_SUFFIXES[fmt]}"


def partial_path(final: Path) -> Path:
    """The temporary name a backup is written under (hidden, marked with our pid)."""
    return final.with_name(f".{final.name}.partial-{os.getpid()}")


def is_partial(path: Path) -> bool:
    return any(pattern.match(path.name) is not None for pattern in (_PARTIAL, _RESERVED, _RESERVING))


def reservation_path(final: Path) -> Path:
    """The hidden file whose exclusive creation takes the name ``final`` for one writer."""
    return final.with_name(f".{final.name}.reserved")


def reserved_by(final: Path) -> int | None:
    """The pid of a live syncdb that holds the name ``final`` (``None`` when nobody does)."""
    try:
        pid = int(reservation_path(final).read_text(encoding="utf-8").strip() or "0")
    except (OSError, ValueError):
        return None
    return pid if pid and pid_alive(pid) else None


def reserve(final: Path) -> bool:
    """Take the name ``final`` for this process (exclusive create); ``False`` when another live syncdb holds it."""
    marker = reservation_path(final)
    # The marker appears with the pid already in it (written to a private file, then hard-linked
    # into place: link() fails when the name exists).  Created empty and written after, another
    # syncdb cleaning stale markers in between read no pid and removed it: two writers, one name.
    private = marker.with_name(f"{marker.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(str(os.getpid()))
        for _ in range(2):
            try:
                os.link(private, marker)
            except FileExistsError:
                if reserved_by(final) is not None:
                    return False
                marker.unlink(missing_ok=True)  # left by a process that is gone
                continue
            return True
        return False
    finally:
        private.unlink(missing_ok=True)


def release(final: Path) -> None:
    """Give the name ``final`` back (only when this process holds it)."""
    marker = reservation_path(final)
    try:
        if marker.read_text(encoding="utf-8").strip() == str(os.getpid()):
            marker.unlink()
    except OSError:
        pass


def mark_failed_attempt(path: Path) -> None:
    """Mark a safety backup taken before a restore that then failed (its manifest's ``reason``)."""
    manifest_file = manifest_path_for(path)
    try:
        data = json.loads(manifest_file.read_text(encoding="utf-8"))
        if "attempt failed" in str(data.get("reason", "")):
            return
        data["reason"] = f"{data.get('reason') or 'before restore'} (attempt failed)"
        temporary = partial_path(manifest_file)
        write_private(temporary, json.dumps(data, indent=2) + "\n")
        os.replace(temporary, manifest_file)
    except (OSError, ValueError):
        pass


def _verified_index(directory: Path) -> Path:
    return directory / VERIFIED_INDEX


def record_verified(manifest: BackupManifest, *, deep: bool) -> None:
    """Note in ``backup_dir`` that ``manifest``'s backup just passed verification; never raises."""
    index = _verified_index(manifest.path.parent)
    try:
        data = json.loads(index.read_text(encoding="utf-8")) if index.is_file() else {}
    except (OSError, ValueError):
        data = {}
    data[manifest.path.name] = {
        "sha256": manifest.sha256,
        "verified_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "deep": deep,
    }
    try:
        temporary = partial_path(index)
        write_private(temporary, json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.replace(temporary, index)
    except OSError:
        pass


def verified_note(entry: BackupEntry) -> str:
    """``"deep 2026-01-01"`` / ``"2026-01-01"`` when the backup last passed verification, else ``""``."""
    if entry.manifest is None or not entry.good:
        return ""
    try:
        data = json.loads(_verified_index(entry.path.parent).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    item = data.get(entry.path.name) if isinstance(data, dict) else None
    if not isinstance(item, dict) or item.get("sha256") != entry.manifest.sha256:
        return ""
    day = str(item.get("verified_at", ""))[:10]
    return f"deep {day}" if item.get("deep") else day


def remove_path(path: Path) -> None:
    """Remove a file or directory if it exists (never raises for a missing one)."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


def clean_stale_partials(directory: Path) -> list[Path]:
    """Remove temporary files left by syncdb processes that no longer run; returns them."""
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    for child in directory.iterdir():
        match = _PARTIAL.match(child.name) or _RESERVING.match(child.name)
        if match and not pid_alive(int(match.group("pid"))):
            remove_path(child)
            removed.append(child)
        reserved = _RESERVED.match(child.name)
        if reserved and reserved_by(directory / reserved.group("final")) is None:
            remove_path(child)
            removed.append(child)
    return removed


def ensure_backup_dir(directory: Path) -> None:
    """Create ``directory`` (0700) if needed."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)


def _sha256_file(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def checksum(path: Path) -> tuple[int, str]:
    """``(size, sha256)`` of a backup.

    For a file: its size and SHA-256.  For a directory (pg_dump's directory
    format): the total size of its files, and the SHA-256 of the text made of one
    line ``<sha256 of file>  <relative path>\\n`` per file, sorted by path (the
    output of ``sha256sum`` run from inside the directory over the sorted files).
    """
    if path.is_dir():
        lines: list[str] = []
        total = 0
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            relative = child.relative_to(path).as_posix()
            lines.append(f"{_sha256_file(child)}  {relative}\n")
            total += child.stat().st_size
        return total, hashlib.sha256("".join(lines).encode()).hexdigest()
    return path.stat().st_size, _sha256_file(path)


def size_of(path: Path) -> int:
    """Bytes of a file, or of every file under a directory (0 if missing)."""
    try:
        if path.is_dir():
            return sum(child.stat().st_size for child in path.rglob("*") if child.is_file())
        return path.stat().st_size
    except OSError:
        return 0


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 (created so; never readable by others)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(path, 0o600)


def make_private(path: Path) -> None:
    """chmod 0600 a file, or every file under a directory (the directory itself 0700)."""
    if path.is_dir():
        os.chmod(path, 0o700)
        for child in path.rglob("*"):
            os.chmod(child, 0o700 if child.is_dir() else 0o600)
    else:
        os.chmod(path, 0o600)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def publish(partial: Path, manifest: BackupManifest) -> None:
    """Publish a complete backup: its manifest first, then the data under its final name.

    Neither replaces an existing file.  On any failure (a full disk writing the
    manifest, say) what was published is removed again and the error re-raised;
    the caller removes ``partial``.

    Raises:
        FileExistsError: the final name or its manifest appeared meanwhile.
        OSError: writing failed (ENOSPC…).
    """
    final = manifest.path
    make_private(partial)
    manifest_tmp = partial_path(manifest.manifest_path)
    published: list[Path] = []
    try:
        write_private(manifest_tmp, json.dumps(manifest.to_json(), indent=2) + "\n")
        os.link(manifest_tmp, manifest.manifest_path)
        published.append(manifest.manifest_path)
        if partial.is_dir():
            if final.exists():
                raise FileExistsError(f"{final} already exists")
            os.rename(partial, final)
        else:
            os.link(partial, final)
            published.append(final)
            partial.unlink()
        _fsync_dir(final.parent)
    except BaseException:
        for path in published:
            path.unlink(missing_ok=True)
        raise
    finally:
        manifest_tmp.unlink(missing_ok=True)


def load_entry(path: Path) -> BackupEntry:
    """The backup at ``path`` (its data or its manifest), checked cheaply (existence and size)."""
    if path.name.endswith(MANIFEST_SUFFIX):
        path = path.with_name(path.name[: -len(MANIFEST_SUFFIX)])
    manifest_file = manifest_path_for(path)
    if not manifest_file.is_file():
        if not path.exists():
            return BackupEntry(path, None, "missing data", f"{path} does not exist")
        return BackupEntry(path, None, "no manifest", f"{manifest_file.name} is missing: the backup never completed")
    try:
        data = json.loads(manifest_file.read_text(encoding="utf-8"))
        manifest = BackupManifest.from_json(data, path)
    except (OSError, ValueError, KeyError, TypeError) as error:
        return BackupEntry(path, None, "bad manifest", f"{manifest_file.name} cannot be read: {error}")
    if not path.exists():
        return BackupEntry(path, manifest, "missing data", f"{path.name} is missing (its manifest is there)")
    actual = size_of(path)
    if actual != manifest.size:
        return BackupEntry(
            path,
            manifest,
            "size mismatch",
            f"{path.name} has {actual} bytes, its manifest says {manifest.size}: truncated or altered",
        )
    return BackupEntry(path, manifest, "ok")


def scan_backups(directory: Path) -> list[BackupEntry]:
    """Every backup in ``directory``, newest first; temporary files are ignored."""
    if not directory.is_dir():
        return []
    seen: set[Path] = set()
    entries: list[BackupEntry] = []
    for child in sorted(directory.iterdir()):
        if child.name.startswith(".") or is_partial(child):
            continue
        if child.name.endswith(MANIFEST_SUFFIX):
            data_path = child.with_name(child.name[: -len(MANIFEST_SUFFIX)])
        elif child.name.startswith("backup_") or child.suffix in (".dump", ".sql") or child.is_dir():
            data_path = child
        else:
            continue
        if data_path in seen:
            continue
        if data_path.is_dir() and not (data_path / "toc.dat").exists() and not manifest_path_for(data_path).exists():
            continue
        seen.add(data_path)
        entries.append(load_entry(data_path))

    def sort_key(entry: BackupEntry) -> tuple[str, str]:
        created = (
            entry.manifest.created_at
            if entry.manifest
            else datetime.fromtimestamp(entry.path.stat().st_mtime if entry.path.exists() else 0, UTC).isoformat()
        )
        return created, entry.path.name  # same second: the later name (``_2``, a later stamp) is newer

    entries.sort(key=sort_key, reverse=True)
    return entries
