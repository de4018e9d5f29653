"""core/, config.py and the headless CLI never import Textual (checked in a fresh interpreter)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import syncdb_tui.commands
import syncdb_tui.core

HEADLESS = [
    "syncdb_tui.config",
    "syncdb_tui.cli",
    *(m.name for m in pkgutil.walk_packages(syncdb_tui.core.__path__, "syncdb_tui.core.")),
    *(f"syncdb_tui.commands.{m.name}" for m in pkgutil.iter_modules([str(Path(syncdb_tui.commands.__file__).parent)])),
]


def test_headless_modules_do_not_import_textual() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {HEADLESS!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"textual imported by a headless module: {result.stdout}"
    assert len(HEADLESS) > 20


def test_status_path_does_not_import_textual_or_build_the_parser_slowly() -> None:
    code = (
        "import sys\n"
        "from syncdb_tui.cli import build_parser\n"
        "build_parser().parse_args(['status', '--json'])\n"
        "print(any(m.startswith('textual') for m in sys.modules), 'alembic' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
