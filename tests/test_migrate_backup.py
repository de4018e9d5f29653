"""Protected environments get an automatic backup before migrate, recorded in the output."""

from __future__ import annotations

import json
from pathlib import Path


def test_protected_migrate_takes_a_backup_first(demo_project, run_cli, psql_exec) -> None:
    root = demo_project.root
    assert run_cli("migrate", "0006", "--env", "prod", "--force", "--no-backup", cwd=root).code == 0
    psql_exec(
        demo_project.urls["prod"], "INSERT INTO aibotkit_users (email, name, password_hash) VALUES ('a@b.c', 'A', 'x');"
    )
    result = run_cli("migrate", "--env", "prod", "--force", "--json", cwd=root)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["after"] == ["0008"]
    backup = Path(data["backup"])
    assert backup.exists() and backup.parent == root / "backups"
    manifest = (
        json.loads(Path(str(backup) + ".manifest.json").read_text())
        if Path(str(backup) + ".manifest.json").exists()
        else json.loads(next(backup.parent.glob("*.json")).read_text())
    )
    assert manifest["environment"] == "prod"
    assert "0006" in json.dumps(manifest)
    report = json.loads(run_cli("report", "--env", "prod", "--json", cwd=root).out)
    assert backup.name in report["last_backup"] and "0006" in report["last_backup"]


def test_dev_migrate_takes_no_backup(demo_project, run_cli) -> None:
    result = run_cli("migrate", "--json", cwd=demo_project.root)
    assert result.code == 0, result.err
    assert json.loads(result.out)["backup"] is None
    assert not (demo_project.root / "backups").exists() or not any((demo_project.root / "backups").iterdir())
