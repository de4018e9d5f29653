"""Safe-pattern generation (``syncdb generate --safe``): risky operations as multi-revision sequences.

Autogenerate's diff is split: every operation that has a safe pattern becomes its own
revision(s), the rest stays in one ordinary revision rendered by Alembic, first.

- ``CREATE INDEX`` on an existing table → ``CREATE INDEX CONCURRENTLY`` inside Alembic's
  ``autocommit_block()`` (writes go on during the build);
- a foreign key on an existing table → ``ADD CONSTRAINT … NOT VALID`` (brief lock, no scan),
  then ``VALIDATE CONSTRAINT`` in a second revision (SHARE UPDATE EXCLUSIVE: writes go on);
- ``SET NOT NULL`` on an existing column → a ``CHECK (col IS NOT NULL) NOT VALID``, then
  ``VALIDATE``, then ``SET NOT NULL`` (PostgreSQL 12+ uses the validated check instead of a
  full scan under ACCESS EXCLUSIVE) and the check dropped.

A ``NOT NULL`` column added without a default, a type change and a rename have no automatic
pattern (they need the application's help: a backfill value, dual writes); they stay in
the ordinary revision, where the risk engine names them and their manual safe pattern.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.errors import UsageError

if TYPE_CHECKING:
    from syncdb_tui.core.envs.environments import Environment
    from syncdb_tui.core.project.revisions import Project

_HEADER = '''"""{message}

Revision ID: {rev}
Revises: {down}
Create Date: {date}

Written by `syncdb generate --safe`: {why}
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = {rev!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
{upgrade}


def downgrade():
{downgrade}
'''


@dataclass(frozen=True)
class SafeRevision:
    """One revision of a safe sequence, before it is written."""

    message: str
    why: str
    upgrade: str
    downgrade: str


@dataclass(frozen=True)
class WrittenRevision:
    revision: str
    message: str
    path: str


def _indent(code: str) -> str:
    return "\n".join(("    " + line) if line.strip() else "" for line in code.strip("\n").splitlines()) or "    pass"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _existing(name: str, created: set[str]) -> bool:
    return name not in created


def _index_pattern(op_: Any) -> list[SafeRevision] | None:
    from sqlalchemy.sql.elements import ColumnClause

    columns: list[str] = []
    for column in op_.columns:
        if isinstance(column, str):
            columns.append(column)
        elif isinstance(column, ColumnClause) and not getattr(column, "is_literal", False):
            columns.append(column.name)
        else:
            return None  # an expression index: leave it to the ordinary revision
    name = op_.index_name or f"ix_{op_.table_name}_{'_'.join(columns)}"
    unique = bool(op_.unique)
    return [
        SafeRevision(
            message=f"create index {name} concurrently",
            why="CREATE INDEX CONCURRENTLY does not block writes to the table during the build",
            upgrade=(
                "with op.get_context().autocommit_block():\n"
                f"    op.create_index({name!r}, {op_.table_name!r}, {columns!r}, unique={unique}, "
                "postgresql_concurrently=True, if_not_exists=True)"
            ),
            downgrade=(
                "with op.get_context().autocommit_block():\n"
                f"    op.drop_index({name!r}, table_name={op_.table_name!r}, postgresql_concurrently=True, "
                "if_exists=True)"
            ),
        )
    ]


def _fk_pattern(op_: Any) -> list[SafeRevision]:
    name = op_.constraint_name or f"fk_{op_.source_table}_{'_'.join(op_.local_cols)}_{op_.referent_table}"
    local = ", ".join(_q(col) for col in op_.local_cols)
    remote = ", ".join(_q(col) for col in op_.remote_cols)
    extra = ""
    for clause in ("ondelete", "onupdate"):
        value = op_.kw.get(clause)
        if value:
            extra += f" ON {clause[2:].upper()} {value}"
    add = (
        f"ALTER TABLE {_q(op_.source_table)} ADD CONSTRAINT {_q(name)} FOREIGN KEY ({local}) "
        f"REFERENCES {_q(op_.referent_table)} ({remote}){extra} NOT VALID"
    )
    return [
        SafeRevision(
            message=f"add foreign key {name} not valid",
            why="NOT VALID adds the constraint without scanning the table (new rows are checked at once)",
            upgrade=f"op.execute({add!r})",
            downgrade=f"op.drop_constraint({name!r}, {op_.source_table!r}, type_='foreignkey')",
        ),
        SafeRevision(
            message=f"validate foreign key {name}",
            why="VALIDATE CONSTRAINT scans the table under SHARE UPDATE EXCLUSIVE: reads and writes go on",
            upgrade=f"op.execute({f'ALTER TABLE {_q(op_.source_table)} VALIDATE CONSTRAINT {_q(name)}'!r})",
            downgrade="pass  # the constraint is dropped by the revision that added it",
        ),
    ]


def _not_null_pattern(op_: Any) -> list[SafeRevision]:
    table, column = op_.table_name, op_.column_name
    check = f"ck_{table}_{column}_not_null"[:63]
    add = f"ALTER TABLE {_q(table)} ADD CONSTRAINT {_q(check)} CHECK ({_q(column)} IS NOT NULL) NOT VALID"
    return [
        SafeRevision(
            message=f"check {table}.{column} is not null (not valid)",
            why="a NOT VALID check is added without a scan; new rows are checked at once",
            upgrade=f"op.execute({add!r})",
            downgrade=f"op.drop_constraint({check!r}, {table!r}, type_='check')",
        ),
        SafeRevision(
            message=f"set {table}.{column} not null",
            why="VALIDATE scans without blocking writes; SET NOT NULL then uses the validated check "
            "instead of a full scan under ACCESS EXCLUSIVE (PostgreSQL 12+)",
            upgrade=(
                f"op.execute({f'ALTER TABLE {_q(table)} VALIDATE CONSTRAINT {_q(check)}'!r})\n"
                f"op.alter_column({table!r}, {column!r}, nullable=False)\n"
                f"op.drop_constraint({check!r}, {table!r}, type_='check')"
            ),
            downgrade=(f"op.alter_column({table!r}, {column!r}, nullable=True)\nop.execute({add!r})"),
        ),
    ]


def split_operations(upgrade_ops: Any) -> tuple[list[Any], list[SafeRevision]]:
    """The operations left for the ordinary revision, and the safe revisions for the rest."""
    from alembic.operations import ops

    created = {item.table_name for item in upgrade_ops.ops if isinstance(item, ops.CreateTableOp)}
    rest: list[Any] = []
    safe: list[SafeRevision] = []

    def place(item: Any, keep: list[Any]) -> None:
        pattern: list[SafeRevision] | None = None
        if isinstance(item, ops.CreateIndexOp) and _existing(item.table_name, created):
            pattern = _index_pattern(item)
        elif isinstance(item, ops.CreateForeignKeyOp) and _existing(item.source_table, created):
            pattern = _fk_pattern(item)
        elif (
            isinstance(item, ops.AlterColumnOp)
            and item.modify_nullable is False
            and item.modify_type is None
            and item.modify_server_default is False
            and item.modify_name is None
        ):
            pattern = _not_null_pattern(item)
        if pattern is None:
            keep.append(item)
        else:
            safe.extend(pattern)

    for item in upgrade_ops.ops:
        if isinstance(item, ops.ModifyTableOps):
            kept: list[Any] = []
            for sub in item.ops:
                place(sub, kept)
            if kept:
                rest.append(ops.ModifyTableOps(item.table_name, kept, schema=item.schema))
        else:
            place(item, rest)
    return rest, safe


def _render_ordinary(rest: list[Any]) -> tuple[str, str]:
    from alembic.autogenerate import render_python_code
    from alembic.operations import ops

    upgrade = ops.UpgradeOps(ops=list(rest))
    downgrade = upgrade.reverse()
    return render_python_code(upgrade).strip(), render_python_code(downgrade).strip()


def _strip_markers(code: str) -> str:
    lines = [line for line in code.splitlines() if not line.strip().startswith("# ###")]
    return "\n".join(line[4:] if line.startswith("    ") else line for line in lines).strip()


def generate_safe(project: Project, env: Environment, message: str, *, dry_run: bool = False) -> list[WrittenRevision]:
    """Autogenerate from the models, writing the risky operations as safe revision sequences.

    Returns the revisions written (or, with ``dry_run``, that would be written: paths empty).

    Raises:
        UsageError: the models match the database (nothing to generate).
        ConfigError, OperationError: as ``generate``.
    """
    from datetime import UTC, datetime

    from alembic.util import rev_id as new_rev_id

    from syncdb_tui.core.project.generate import generate, project_graph_reset

    found = generate(project, env, message, dry_run=True)
    if found.empty or found.upgrade_ops is None:
        raise UsageError(
            "the models match the database: there is nothing to generate",
            hint="change the models first",
            title="nothing to generate",
        )
    rest, safe = split_operations(found.upgrade_ops)
    if not safe:
        result = generate(project, env, message, dry_run=dry_run)
        return [WrittenRevision(result.revision, message, result.path)]
    revisions: list[SafeRevision] = []
    if rest:
        up_code, down_code = _render_ordinary(rest)
        revisions.append(
            SafeRevision(
                message,
                "the operations of this change that need no special pattern",
                _strip_markers(up_code),
                _strip_markers(down_code),
            )
        )
    revisions += safe
    heads = project.graph().heads
    if len(heads) > 1:
        raise UsageError(
            f"the history has {len(heads)} heads ({', '.join(heads)})",
            hint="merge them first (syncdb merge), then generate",
            title="multiple heads",
        )
    down: str | None = heads[0] if heads else None
    versions = project.script_location / "versions"
    written: list[WrittenRevision] = []
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    for item in revisions:
        rev = new_rev_id()
        slug = "".join(ch if ch.isalnum() else "_" for ch in item.message.lower())[:40].strip("_")
        path = versions / f"{rev}_{slug}.py"
        text = _HEADER.format(
            message=item.message,
            rev=rev,
            down=down,
            date=date,
            why=item.why,
            upgrade=_indent(item.upgrade),
            downgrade=_indent(item.downgrade),
        )
        if not dry_run:
            path.parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text)
        written.append(WrittenRevision(rev, item.message, "" if dry_run else str(path)))
        down = rev
    if not dry_run:
        project_graph_reset(project)
    return written
