"""The embedded server: started on demand, shared by concurrent syncdb processes, stopped cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from alembic_factory import make_project


def test_concurrent_processes_share_one_server_and_it_stops(tmp_path: Path) -> None:
    root = Path(tempfile.mkdtemp(prefix="syncdb-embedded-"))
    root.chmod(0o755)
    make_project(root, {"dev": "embedded", "other": "embedded"}, revisions=2)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "syncdb_tui", "status", "--json", "--env", env],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for env in ("dev", "other", "dev")
    ]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        data = json.loads(out)
        assert data["server_version"].startswith("18") and len(data["pending"]) == 2
    assert {json.loads(out)["database"] for out, _ in outputs} == {"dev", "other"}
    pgdata = root / ".syncdb" / "pgdata"
    assert (pgdata / "PG_VERSION").is_file()
    # every process has exited: the last one stopped the server cleanly
    assert not (pgdata / "postmaster.pid").exists()
    again = subprocess.run(
        [sys.executable, "-m", "syncdb_tui", "migrate", "--json"], cwd=root, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["after"] == ["r0002"]
