"""The walkthroughs in docs/ run exactly as written: every file block is written, every
edit made, every `$ command` run in a shell from the project's directory (a real `syncdb`
process, as a user would), in order.

Blocks: ```python file=PATH (write the file), ```python edit=PATH replaces="TEXT" (replace
TEXT in the file with the block), ```sh lines starting with "$ " (run; "# exits N"
expects that exit code, else 0).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def steps(doc: Path) -> list[tuple[str, dict[str, str], str]]:
    """(kind, options, body) for each block the harness acts on, in order."""
    found = []
    for match in BLOCK.finditer(doc.read_text()):
        words = shlex.split(match.group("info"))
        if not words:
            continue
        options = dict(word.split("=", 1) for word in words[1:] if "=" in word)
        if words[0] == "sh":
            found.append(("sh", options, match.group("body")))
        elif "file" in options or "edit" in options:
            found.append(("file" if "file" in options else "edit", options, match.group("body")))
    return found


def run_walkthrough(doc: Path, project: Path, env: dict[str, str]) -> list[str]:
    done = []
    for kind, options, body in steps(doc):
        if kind == "file":
            path = project / options["file"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body)
            done.append(f"wrote {options['file']}")
        elif kind == "edit":
            path = project / options["edit"]
            text = path.read_text()
            assert options["replaces"] in text, f"{path} has no {options['replaces']!r}"
            path.write_text(text.replace(options["replaces"], body.rstrip("\n"), 1))
            done.append(f"edited {options['edit']}")
        else:
            for line in body.splitlines():
                if not line.startswith("$ "):
                    continue
                command, _, comment = line[2:].partition("#")
                expected = int(comment.split("exits", 1)[1]) if "exits" in comment else 0
                result = subprocess.run(
                    ["bash", "-c", command], cwd=project, env=env, capture_output=True, text=True, timeout=180
                )
                assert result.returncode == expected, (
                    f"{doc.name}: `{command.strip()}` exited {result.returncode}, expected {expected}\n"
                    f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}\nsteps so far: {done}"
                )
                done.append(command.strip())
    return done


@pytest.fixture
def project_dir() -> Iterator[Path]:
    # not under pytest's 0700 tmp dir: the embedded server may run as another user (see conftest)
    root = Path(tempfile.mkdtemp(prefix="syncdb-walkthrough-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def user_env(extra: dict[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PG", "SYNCDB_", "PYTHON"))}
    env.pop("DATABASE_URL", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["SYNCDB_CONFIG_CEILING"] = ""
    env.update(extra)
    return env


def test_adopting_an_existing_project(project_dir: Path, fresh_db: Callable[..., str]) -> None:
    env = user_env({"DATABASE_URL": fresh_db(), "SYNCDB_CONFIG_CEILING": str(project_dir)})
    done = run_walkthrough(DOCS / "adopting.md", project_dir, env)
    assert "syncdb init --env-url 'dev=${DATABASE_URL}'" in done
    config = (project_dir / "syncdb.toml").read_text()
    assert 'alembic_ini = "alembic.ini"' in config
    assert 'target_metadata = "myapp.models:Base.metadata"' in config
    revisions = sorted(path.name for path in (project_dir / "migrations" / "versions").glob("*.py"))
    assert len(revisions) == 2 and any("add_customer_email" in name for name in revisions), revisions
    # env.py and alembic.ini are the user's: syncdb init wrote neither
    assert "engine_from_config" in (project_dir / "migrations" / "env.py").read_text()


def test_starting_a_new_project(project_dir: Path) -> None:
    env = user_env({"SYNCDB_CONFIG_CEILING": str(project_dir)})
    done = run_walkthrough(DOCS / "new-project.md", project_dir, env)
    assert done[0] == "wrote shop/__init__.py"
    env_py = (project_dir / "migrations" / "env.py").read_text()
    assert "from shop.models import Base" in env_py and 'attributes.get("connection"' in env_py
    revisions = list((project_dir / "migrations" / "versions").glob("*_add_product_sku.py"))
    assert len(revisions) == 1 and "sku" in revisions[0].read_text()
