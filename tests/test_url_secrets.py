"""Database URLs with awkward passwords, libpq conventions, and secrets kept out of output and children."""

from __future__ import annotations

import os
import string
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from syncdb_tui.core.envs.environments import ConnectionInfo
from syncdb_tui.core.errors import ConfigError
from syncdb_tui.core.secrets import mask_url, redact

PRINTABLE = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=8, max_size=40)


def _shown(text: str, password: str) -> bool:
    return password in text


@settings(max_examples=300, deadline=None, derandomize=True)
@given(password=PRINTABLE)
def test_percent_encoded_password_always_parses_exactly(password: str) -> None:
    url = f"postgresql://app:{quote(password, safe='')}@db.example.com:5432/shop?sslmode=require"
    info = ConnectionInfo.from_url(url)
    assert (info.password, info.user, info.host, info.port, info.database) == (
        password,
        "app",
        "db.example.com",
        5432,
        "shop",
    )
    assert not _shown(mask_url(url), password) and not _shown(repr(info), password)
    assert not _shown(redact(f"connecting to {url} failed: {password}"), password)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(password=PRINTABLE)
def test_raw_password_parses_or_fails_without_showing_it(password: str) -> None:
    """A raw password either reads back exactly, or the error shows no part of it."""
    assume(password.strip() == password and "%" not in password)
    url = f"postgresql://app:{password}@db.example.com:5432/shop"
    try:
        info = ConnectionInfo.from_url(url)
    except ConfigError as error:
        rendered = error.render()
        assert not _shown(rendered, password)
        assert not any(password[i : i + 6] in rendered for i in range(len(password) - 5) if password[i : i + 6].strip())
        return
    assert info.password == password and info.host == "db.example.com" and info.database == "shop"
    assert not _shown(redact(url), password)


@pytest.mark.parametrize("raw", ["Hunter2Secret#", "a/b?c#d@e", "p@ss@word", "x:y:z/?#@"])
def test_the_issue_passwords(raw: str) -> None:
    info = ConnectionInfo.from_url(f"postgresql://u:{raw}@h:5432/db")
    assert info.password == raw and info.host == "h" and info.port == 5432 and info.database == "db"


def test_bad_port_message_shows_nothing_of_the_url() -> None:
    with pytest.raises(ConfigError) as caught:
        ConnectionInfo.from_url("postgresql://u:Hunter2Secret@host:notaport/db")
    assert "Hunter2Secret" not in caught.value.render() and "notaport" not in caught.value.render()


def test_libpq_variables_service_file_and_ssl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service = tmp_path / "services.conf"
    service.write_text(
        "[shop]\nhost=db.internal\nport=6543\nuser=svc\ndbname=shopdb\nsslmode=verify-full\nsslrootcert=/etc/ca.pem\n"
    )
    monkeypatch.setenv("PGSERVICEFILE", str(service))
    info = ConnectionInfo.from_url("postgresql://?service=shop")
    assert (info.host, info.port, info.user, info.database) == ("db.internal", 6543, "svc", "shopdb")
    assert info.ssl_params() == {"sslmode": "verify-full", "sslrootcert": "/etc/ca.pem"}
    env = info.libpq_env()
    assert env["PGSSLMODE"] == "verify-full" and env["PGSSLROOTCERT"] == "/etc/ca.pem"
    assert "dsn" in info.asyncpg_kwargs() and "sslrootcert=%2Fetc%2Fca.pem" in info.asyncpg_kwargs()["dsn"]
    assert "sslrootcert" in str(info.sqlalchemy_url("asyncpg").query.get("dsn"))
    monkeypatch.setenv("PGHOST", "from-env")
    monkeypatch.setenv("PGDATABASE", "envdb")
    plain = ConnectionInfo.from_url("postgresql://")
    assert (plain.host, plain.database) == ("from-env", "envdb")
    with pytest.raises(ConfigError, match="not defined"):
        ConnectionInfo.from_url("postgresql://?service=nope")


def test_children_get_only_their_own_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAGING_URL", "postgresql://stage:StagingSecret1@stage/db")
    monkeypatch.setenv("DATABASE_URL", "postgresql://other:OtherSecret22@other/db")
    monkeypatch.setenv("PGPASSWORD", "ParentPassword3")
    monkeypatch.setenv("HARMLESS", "keep me")
    from syncdb_tui.config import expand_variables
    from syncdb_tui.core.secrets import register_secret_variable

    expand_variables("${STAGING_URL}", "environments.staging.url", None)
    register_secret_variable("PROD_URL")
    monkeypatch.setenv("PROD_URL", "prod-without-scheme")
    env = ConnectionInfo.from_url("postgresql://dev:DevSecret99@dev:5432/app").libpq_env()
    assert env["PGPASSWORD"] == "DevSecret99" and env["HARMLESS"] == "keep me"
    assert "STAGING_URL" not in env and "DATABASE_URL" not in env and "PROD_URL" not in env
    assert "ParentPassword3" not in "".join(env.values())


def test_debug_traceback_is_redacted(tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "env.py").write_text("")
    (tmp_path / "syncdb.toml").write_text(
        'script_location = "migrations"\n[environments.dev]\nurl = "postgresql://u:Hunter2Secret@host:99999/db"\n'
    )
    os.environ["SYNCDB_DEBUG"] = "1"
    try:
        result = run_cli("status", cwd=tmp_path)
    finally:
        os.environ.pop("SYNCDB_DEBUG", None)
    assert result.code == 2
    assert "Traceback" in result.err and "Hunter2Secret" not in result.err + result.out


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(password=st.text(alphabet=string.ascii_letters + string.digits + "#/?@%:!$ ", min_size=8, max_size=20))
def test_password_roles_connect_or_fail_cleanly(password: str, pg_server, fresh_db, run_cli, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    """A role with that password on the test server: status with its percent-encoded URL connects,
    and nothing of the password reaches stdout or stderr.  (The embedded server trusts its socket,
    so this proves the URL reaches the server intact, not that the password is checked.)"""
    from conftest import run_psql

    # a drawn word can be a piece of ordinary output ("protecte" in "protected"): the suffix makes the
    # password itself never appear by chance, so finding it means it leaked
    password += "!#9?"
    database = fresh_db().split("@/", 1)[1].split("?", 1)[0]
    literal = password.replace("'", "''")
    run_psql(
        pg_server, "postgres", f"DROP ROLE IF EXISTS pw_role; CREATE ROLE pw_role LOGIN SUPERUSER PASSWORD '{literal}';"
    )
    root = tmp_path_factory.mktemp("pw")
    (root / "migrations" / "versions").mkdir(parents=True)
    (root / "migrations" / "env.py").write_text("")
    url = f"postgresql://pw_role:{quote(password, safe='')}@/{database}?host={pg_server.socket_dir}"
    (root / "syncdb.toml").write_text(f'script_location = "migrations"\n[environments.dev]\nurl = "{url}"\n')
    result = run_cli("status", "--json", cwd=root)
    assert result.code == 0, result.err
    assert password not in result.out + result.err
