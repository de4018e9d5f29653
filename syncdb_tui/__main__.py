"""`python -m syncdb_tui` runs the `syncdb` command."""

from __future__ import annotations

from syncdb_tui.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
