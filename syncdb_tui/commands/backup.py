"""`syncdb backup`: pg_dump the environment's database, with a manifest beside the file."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext
    from syncdb_tui.core.events import JobProgress, ProgressCallback


def add_arguments(parser: argparse.ArgumentParser) -> None:
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--schema-only", action="store_true", help="definitions only, no rows")
    kind.add_argument("--data-only", action="store_true", help="rows only, no definitions")
    parser.add_argument(
        "-t", "--table", action="append", default=[], metavar="TABLE", help="only this table (repeatable)"
    )
    parser.add_argument(
        "--format",
        "-F",
        choices=("auto", "custom", "plain", "directory"),
        default=None,
        help="archive format (default: [backup] format in the config, else auto: custom, or directory "
        "with one job per core for a database over [backup] parallel_above, 256 MB)",
    )
    parser.add_argument("--jobs", "-j", type=int, default=1, metavar="N", help="parallel workers (directory format)")
    parser.add_argument(
        "-o", "--output", metavar="PATH", help="where to write (default: backup_dir/backup_<env>_<time>)"
    )
    parser.add_argument(
        "--compress",
        "-Z",
        metavar="SPEC",
        default=None,
        help="pg_dump compression: gzip:N, N (0-9) or none (default gzip:1, or [backup] compression)",
    )


def options_from_args(args: argparse.Namespace, default_format: str) -> object:
    from syncdb_tui.core.backups.backup import BackupOptions

    kind = "schema" if args.schema_only else "data" if args.data_only else "full"
    fmt = args.format or default_format
    return BackupOptions(
        kind=kind,
        tables=tuple(args.table),
        fmt=fmt,
        jobs=args.jobs,
        output=Path(args.output) if args.output else None,
        compression=args.compress,
    )


def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    import asyncio

    from syncdb_tui.core.backups.backup import BackupOptions, backup, plan_backup
    from syncdb_tui.core.backups.manifest import human_size

    config = ctx.config
    env = ctx.environment()
    options = options_from_args(args, config.backup_format)
    assert isinstance(options, BackupOptions)
    if ctx.dry_run:
        plan = asyncio.run(plan_backup(env, config, options))
        if ctx.json:
            ctx.write_json(plan.to_json())
        else:
            ctx.write(
                f"would back up {plan.environment} ({plan.database}, PostgreSQL {plan.server_version})\n"
                f"  kind:        {options.kind}{' of ' + ', '.join(options.tables) if options.tables else ''}\n"
                f"  format:      {plan.options.fmt} (compression {plan.compression})"
                + (f", {plan.options.jobs} jobs" if plan.options.jobs > 1 else "")
                + (f"\n  because:     {plan.format_reason}" if plan.format_reason else "")
                + "\n"
                f"  with:        {plan.tool.describe()}\n"
                f"  into:        {plan.destination}\n"
                f"  command:     {plan.command}"
            )
        return 0
    with progress_display(ctx, f"backup of {env.name}") as progress:
        manifest = asyncio.run(backup(env, config, options, progress=progress))
    if ctx.json:
        ctx.write_json(manifest.to_json())
        return 0
    rows = sum(table.rows for table in manifest.tables)
    ctx.note(
        f"backed up {env.name} ({manifest.database}): {len(manifest.tables)} tables, {rows} rows, "
        f"{human_size(manifest.size)} in {manifest.duration_seconds:.1f} s"
        + (f"; alembic revision {', '.join(manifest.alembic_revisions)}" if manifest.alembic_revisions else "")
    )
    ctx.write(str(manifest.path))
    return 0


@contextmanager
def progress_display(ctx: CommandContext, title: str) -> Iterator[ProgressCallback | None]:
    """A rich progress bar on a terminal, plain lines otherwise; nothing in JSON mode."""
    if ctx.json:
        yield None
        return
    if not ctx.err.isatty():
        yield ctx.progress_printer()
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[detail]}"),
        console=ctx.console,
        transient=True,
    ) as bar:
        task = bar.add_task(title, total=None, detail="")

        def show(event: JobProgress) -> None:
            bar.update(task, description=event.phase[:60], completed=event.done, total=event.total, detail=event.detail)

        yield show
