"""Environments: where a database lives, how to reach it, and how to show it safely.

Who calls what: front ends call :func:`resolve` (or :func:`resolve_async`) to
turn a configured environment into an :class:`Environment`; core modules call
:func:`connect` for asyncpg connections, :meth:`ConnectionInfo.sqlalchemy_url`
for Alembic, and :meth:`ConnectionInfo.libpq_env` for child processes
(pg_dump, pg_restore, psql), which receive the password in their environment
and never on their command line.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlencode

from syncdb_tui.core.envs.embedded import EmbeddedServer, ensure_server
from syncdb_tui.core.errors import ConfigError, UnreachableError
from syncdb_tui.core.secrets import redact, register_secret

if TYPE_CHECKING:
    import asyncpg
    from sqlalchemy.engine import URL

    from syncdb_tui.config import Config, EnvironmentConfig

CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class ConnectionInfo:
    """The parts of a PostgreSQL URL; ``password`` is never shown."""

    host: str | None
    port: int | None
    user: str | None
    database: str
    password: str | None = field(default=None, repr=False)
    driver: str | None = None
    """The SQLAlchemy driver named in the URL (``asyncpg``, ``psycopg``…), if any."""
    params: tuple[tuple[str, str], ...] = ()
    """Other query parameters (``sslmode``…)."""

    def __post_init__(self) -> None:
        register_secret(self.password)

    @classmethod
    def from_url(cls, url: str) -> ConnectionInfo:
        """Parse ``postgresql[+driver]://user:pass@host:port/db?host=/socket&sslmode=…&service=…``.

        The password may hold ``#``, ``/``, ``?``, ``@`` and ``%`` as they are, or percent-encoded as
        libpq accepts them (``%40`` for ``@``); a literal ``%`` followed by two hex digits must be
        written ``%25``.  What the URL leaves out comes from a ``service=`` entry of pg_service.conf,
        then from libpq's ``PG*`` variables (PGHOST, PGPORT, PGUSER, PGDATABASE, PGSSLMODE,
        PGSSLROOTCERT…); the password, when absent, from PGPASSWORD or ~/.pgpass (PGPASSFILE) at
        connection time.  Errors never show any part of the URL after its scheme.

        Raises:
            ConfigError: the URL cannot be parsed.
        """
        parts = _split_url(url)
        scheme, userinfo, hostspec, path, query_text = parts
        driver = scheme.split("+", 1)[1] if "+" in scheme else None
        try:
            query = dict(parse_qsl(query_text, keep_blank_values=True))
        except ValueError:
            raise _url_error(scheme, "its query string (after ?) cannot be parsed") from None
        user: str | None = None
        password: str | None = None
        if userinfo is not None:
            raw_user, sep, raw_password = userinfo.partition(":")
            user = unquote(raw_user) or None
            password = unquote(raw_password) if sep else None
            register_secret(raw_password)
            register_secret(password)
        host: str | None = None
        port: int | None = None
        if hostspec:
            host_text, port_text = hostspec, ""
            if hostspec.startswith("["):
                close = hostspec.find("]")
                host_text, port_text = hostspec[1:close], hostspec[close + 2 :]
            elif ":" in hostspec:
                host_text, _, port_text = hostspec.rpartition(":")
            host = unquote(host_text) or None
            if port_text:
                port = _port(scheme, port_text)
        host = query.pop("host", None) or host
        if "port" in query:
            port = _port(scheme, query.pop("port"))
        user = query.pop("user", None) or user
        password = query.pop("password", None) or password
        database = unquote(path) or query.pop("dbname", "") or None
        query.pop("dbname", None)
        service = query.pop("service", None) or os.environ.get("PGSERVICE")
        defaults = _service_entry(service) if service else {}
        env = os.environ

        def pick(value: str | None, key: str, variable: str) -> str | None:
            return value or defaults.get(key) or env.get(variable) or None

        host = pick(host, "host", "PGHOST")
        port_value = str(port) if port else pick(None, "port", "PGPORT")
        user = pick(user, "user", "PGUSER")
        password = password or defaults.get("password") or None
        for key, variable in (
            ("sslmode", "PGSSLMODE"),
            ("sslrootcert", "PGSSLROOTCERT"),
            ("sslcert", "PGSSLCERT"),
            ("sslkey", "PGSSLKEY"),
        ):
            value = query.get(key) or defaults.get(key) or env.get(variable)
            if value:
                query[key] = value
        database = database or defaults.get("dbname") or env.get("PGDATABASE") or user or _os_user()
        return cls(
            host=host,
            port=_port(scheme, port_value) if port_value else None,
            user=user,
            database=database,
            password=password or None,
            driver=driver,
            params=tuple(sorted(query.items())),
        )

    @property
    def display(self) -> str:
        """``user@host:port/db`` with no password, for screens and reports."""
        where = self.host or "localhost"
        if self.port:
            where = f"{where}:{self.port}"
        user = f"{self.user}@" if self.user else ""
        return f"{user}{where}/{self.database}"

    def with_database(self, database: str) -> ConnectionInfo:
        """The same server, another database."""
        return ConnectionInfo(
            host=self.host,
            port=self.port,
            user=self.user,
            database=database,
            password=self.password,
            driver=self.driver,
            params=self.params,
        )

    def asyncpg_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``asyncpg.connect``."""
        kwargs: dict[str, Any] = {"database": self.database}
        if self.host:
            kwargs["host"] = self.host
        if self.port:
            kwargs["port"] = self.port
        if self.user:
            kwargs["user"] = self.user
        if self.password:
            kwargs["password"] = self.password
        ssl = self.ssl_params()
        if ssl:
            # asyncpg reads sslmode, sslrootcert, sslcert and sslkey as libpq does, from a DSN's query
            kwargs["dsn"] = "postgresql://?" + urlencode(ssl)
        return kwargs

    def ssl_params(self) -> dict[str, str]:
        """sslmode, sslrootcert, sslcert… as given (libpq's names), for asyncpg, pg_dump and psql alike."""
        return {key: value for key, value in self.params if key in SSL_PARAMS}

    def sqlalchemy_url(self, driver: str | None = None) -> URL:
        """A SQLAlchemy URL object (the password is kept inside, never rendered)."""
        from sqlalchemy.engine import URL

        chosen = driver or self.driver
        query = dict(self.params)
        if chosen == "asyncpg":
            # SQLAlchemy passes the query to asyncpg.connect as keywords: libpq's ssl names go in a DSN
            ssl = {key: query.pop(key) for key in list(query) if key in SSL_PARAMS}
            query = {key: value for key, value in query.items() if key in ("host", "port")}
            if ssl:
                query["dsn"] = "postgresql://?" + urlencode(ssl)
        if self.host and self.host.startswith("/"):
            query["host"] = self.host
            host = None
        else:
            host = self.host
        return URL.create(
            drivername=f"postgresql+{chosen}" if chosen else "postgresql",
            username=self.user,
            password=self.password,
            host=host,
            port=self.port,
            database=self.database,
            query=query,
        )

    def libpq_env(self) -> dict[str, str]:
        """PG* variables for a child process (the password travels here, not in argv)."""
        from syncdb_tui.core.secrets import is_credential_variable

        # nothing of other environments: no PG* of the parent, no variable holding a URL or a known secret
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("PG") and not is_credential_variable(key, value)
        }
        for key in ("PGPASSFILE", "PGSSLROOTCERT", "PGSERVICEFILE", "PGSSLCERT", "PGSSLKEY", "PGSYSCONFDIR"):
            if key in os.environ:
                env[key] = os.environ[key]
        if self.host:
            env["PGHOST"] = self.host
        if self.port:
            env["PGPORT"] = str(self.port)
        if self.user:
            env["PGUSER"] = self.user
        env["PGDATABASE"] = self.database
        password = self.password or os.environ.get("PGPASSWORD")
        register_secret(password)
        if password:
            env["PGPASSWORD"] = password
        for key, value in self.ssl_params().items():
            env["PG" + key.upper()] = value
        env["PGAPPNAME"] = "syncdb"
        env["PGCONNECT_TIMEOUT"] = str(int(CONNECT_TIMEOUT))
        return env


SSL_PARAMS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "sslpassword")
_SCHEME = re.compile(r"^(?P<scheme>postgres(?:ql)?(?:\+[A-Za-z0-9_]+)?)://", re.IGNORECASE)
_HOSTSPEC = re.compile(r"^(?:\[[0-9A-Fa-f:.%a-z]*\]|[A-Za-z0-9._~%!$&'()*+,;=-]*)(?::[^/?@#]*)?$")


def _url_error(scheme: str, why: str) -> ConfigError:
    return ConfigError(
        f"cannot parse the database URL ({scheme}://…, the rest not shown: it may hold a password): {why}",
        hint="write postgresql://user:password@host:5432/dbname; in the password, # / ? @ may stay as they are or "
        "be percent-encoded (%23 %2F %3F %40), and a % must be written %25",
        title="invalid URL",
    )


def _split_url(url: str) -> tuple[str, str | None, str, str, str]:
    """``(scheme, userinfo or None, hostspec, database, query)`` of a PostgreSQL URL.

    The userinfo ends at the last ``@`` after which a host[:port] (then ``/db``, ``?query`` or
    the end) follows, so a password may hold raw ``@``, ``/``, ``?`` and ``#`` (a raw ``@`` in
    the query string is read as part of the password: percent-encode it there).

    Raises:
        ConfigError: not a postgresql:// URL, or no reading of it makes sense (nothing of it shown).
    """
    match = _SCHEME.match(url)
    if match is None:
        raise ConfigError(
            "the database URL does not start with postgresql:// (not shown: it may hold a password)",
            hint="write postgresql://user:password@host:5432/dbname",
            title="invalid URL",
        )
    scheme = match.group("scheme")
    rest = url[match.end() :]
    candidates = [index for index, char in enumerate(rest) if char == "@"]
    # the last @ that leaves a sensible host/database wins: a password may hold raw @ / ? #
    readings: list[int | None] = list(reversed(candidates)) if candidates else [None]
    for at in readings:
        userinfo = rest[:at] if at is not None else None
        tail = rest[at + 1 :] if at is not None else rest
        if userinfo is not None and ("?" in userinfo.split(":", 1)[0] or "/" in userinfo.split(":", 1)[0]):
            continue  # a user name never holds / or ?: this @ belongs to the query or the path
        cut = len(tail)
        for separator in "/?":
            position = tail.find(separator)
            if position != -1:
                cut = min(cut, position)
        hostspec, remainder = tail[:cut], tail[cut:]
        if not _HOSTSPEC.match(hostspec):
            continue
        path, query = remainder, ""
        if "?" in remainder:
            path, _, query = remainder.partition("?")
        path = path[1:] if path.startswith("/") else path
        if "/" in path or "@" in path or "#" in path:
            continue
        query = query.split("#", 1)[0] if "#" in query and "=" not in query.split("#", 1)[1] else query
        return scheme, userinfo, hostspec, path, query
    if candidates:
        register_secret(rest[: candidates[-1]])
    raise _url_error(scheme, "no host[:port]/database follows the user and password")


def _port(scheme: str, text: str) -> int:
    if text.isdigit() and 0 < int(text) < 65536:
        return int(text)
    raise _url_error(
        scheme,
        "the port is not a number from 1 to 65535 (a password with : / ? # @ may have "
        "been read as host:port; percent-encode those characters)",
    )


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:
        return "postgres"


def _service_file_paths() -> list[Path]:
    paths = []
    if os.environ.get("PGSERVICEFILE"):
        paths.append(Path(os.environ["PGSERVICEFILE"]))
    else:
        paths.append(Path.home() / ".pg_service.conf")
    sysconf = os.environ.get("PGSYSCONFDIR")
    if sysconf:
        paths.append(Path(sysconf) / "pg_service.conf")
    return paths


def _service_entry(name: str) -> dict[str, str]:
    """The settings of service ``name`` from pg_service.conf (PGSERVICEFILE, ~/.pg_service.conf, PGSYSCONFDIR).

    Raises:
        ConfigError: no such service in any of those files.
    """
    import configparser

    for path in _service_file_paths():
        if not path.is_file():
            continue
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path)
        except (configparser.Error, OSError, UnicodeDecodeError) as error:
            raise ConfigError(
                f"cannot read the service file {path}: {type(error).__name__}",
                hint="check its syntax (see PostgreSQL's pg_service.conf documentation)",
                title="invalid service file",
            ) from None
        if parser.has_section(name):
            entry = {key: value.strip() for key, value in parser.items(name)}
            register_secret(entry.get("password"))
            return entry
    shown = ", ".join(str(path) for path in _service_file_paths())
    raise ConfigError(
        f"the connection service {name!r} is not defined in {shown}",
        hint="add a [" + name + "] section to ~/.pg_service.conf (or PGSERVICEFILE), or fix service= in the URL",
        title="unknown service",
    )


@dataclass(frozen=True)
class Environment:
    """A configured environment, resolved to something that can be connected to."""

    name: str
    protected: bool
    conninfo: ConnectionInfo
    config: EnvironmentConfig
    embedded: EmbeddedServer | None = None

    @property
    def database(self) -> str:
        return self.conninfo.database

    @property
    def display_url(self) -> str:
        """Where the environment lives, safe to show anywhere."""
        if self.embedded is not None:
            return f"embedded:{self.conninfo.database} ({self.embedded.pgdata})"
        return self.conninfo.display

    def __repr__(self) -> str:
        return f"Environment(name={self.name!r}, url={self.display_url!r}, protected={self.protected})"


def resolve(config: Config, name: str | None = None) -> Environment:
    """Resolve the environment ``name`` (default: the config's default one).

    For an embedded environment this starts (or joins) the embedded server and
    creates its database if needed: it blocks for up to a few seconds, so call it
    from a thread or through :func:`resolve_async`.

    Raises:
        ConfigError: unknown environment or invalid URL.
        OperationError: the embedded server would not start.
    """
    env_config = config.environment(name)
    return resolve_config(config, env_config)


def resolve_config(config: Config, env_config: EnvironmentConfig) -> Environment:
    """Resolve one :class:`EnvironmentConfig` of ``config``.

    Raises:
        ConfigError: the environment's URL uses a variable that is not set.
    """
    if env_config.unresolved is not None:
        raise env_config.unresolved
    if env_config.is_embedded:
        server = ensure_server(config.data_dir, configured_idle_stop=config.embedded_idle_stop)
        database = env_config.database or env_config.name
        ensure_embedded_database(server, database)
        conninfo = ConnectionInfo(host=str(server.socket_dir), port=None, user=server.user, database=database)
        return Environment(
            name=env_config.name,
            protected=env_config.protected,
            conninfo=conninfo,
            config=env_config,
            embedded=server,
        )
    return Environment(
        name=env_config.name,
        protected=env_config.protected,
        conninfo=ConnectionInfo.from_url(env_config.url),
        config=env_config,
    )


async def resolve_async(config: Config, name: str | None = None) -> Environment:
    """:func:`resolve` off the event loop."""
    return await asyncio.to_thread(resolve, config, name)


def ensure_embedded_database(server: EmbeddedServer, database: str) -> None:
    """Create ``database`` on the embedded server if it does not exist (blocking)."""
    import subprocess

    psql = server.bin_dir / "psql"
    env = ConnectionInfo(host=str(server.socket_dir), port=None, user=server.user, database="postgres").libpq_env()
    quoted = database.replace("'", "''")
    check = subprocess.run(
        [str(psql), "-XAtq", "-c", f"SELECT 1 FROM pg_database WHERE datname = '{quoted}'"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if check.stdout.strip() == "1":
        return
    ident = '"' + database.replace('"', '""') + '"'
    created = subprocess.run(
        [str(psql), "-XAtq", "-c", f"CREATE DATABASE {ident}"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if created.returncode != 0 and "already exists" not in created.stderr:
        raise UnreachableError(
            f"cannot create the embedded database {database!r}: {created.stderr.strip()}",
            hint="check the embedded server's log under .syncdb/pgdata/log",
        )


def translate_connect_error(env_name: str, conninfo: ConnectionInfo, error: BaseException) -> UnreachableError:
    """Turn a driver's connection error into one clear :class:`UnreachableError`."""
    import asyncpg

    where = conninfo.display
    if isinstance(error, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError):
        return UnreachableError(
            f"{env_name}: the server at {where} rejected the login of user {conninfo.user!r}: {redact(str(error))}",
            hint="check the password in the environment's URL variable, PGPASSWORD or ~/.pgpass",
            title="authentication failed",
        )
    if isinstance(error, asyncpg.InvalidCatalogNameError):
        return UnreachableError(
            f"{env_name}: the database {conninfo.database!r} does not exist on {where}",
            hint=f"create it (createdb {conninfo.database}) or fix the database name in the URL",
            title="database missing",
        )
    if isinstance(error, socket.gaierror):
        return UnreachableError(
            f"{env_name}: the host {conninfo.host!r} could not be resolved ({error.strerror})",
            hint="check the host name in the environment's URL",
            title=f"{env_name} unreachable",
        )
    if isinstance(error, TimeoutError | asyncio.TimeoutError):
        return UnreachableError(
            f"{env_name}: no answer from {where} within {CONNECT_TIMEOUT:.0f} s",
            hint="check that the server is up and that a firewall lets you through",
            title=f"{env_name} unreachable",
        )
    if isinstance(error, OSError):
        reason = error.strerror or str(error)
        return UnreachableError(
            f"{env_name}: cannot connect to {where}: {redact(reason)}",
            hint="check that PostgreSQL is running there and that host and port are right",
            title=f"{env_name} unreachable",
        )
    return UnreachableError(
        f"{env_name}: cannot connect to {where}: {redact(str(error))}",
        hint="check the environment's URL and the server's log",
        title=f"{env_name} unreachable",
    )


async def connect(
    env: Environment,
    *,
    database: str | None = None,
    timeout: float = CONNECT_TIMEOUT,
    server_settings: dict[str, str] | None = None,
) -> asyncpg.Connection:
    """Open an asyncpg connection to ``env`` (or another ``database`` on its server).

    Raises:
        UnreachableError: the server cannot be reached, the login is rejected, or the
            database does not exist.
    """
    import asyncpg

    conninfo = env.conninfo.with_database(database) if database else env.conninfo
    settings = {"application_name": "syncdb", **(server_settings or {})}
    try:
        return await asyncpg.connect(**conninfo.asyncpg_kwargs(), timeout=timeout, server_settings=settings)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        raise translate_connect_error(env.name, conninfo, error) from None
    except asyncpg.InterfaceError as error:
        raise translate_connect_error(env.name, conninfo, error) from None


@asynccontextmanager
async def connection(env: Environment, **kwargs: Any) -> AsyncIterator[asyncpg.Connection]:
    """``async with connection(env) as conn:`` — :func:`connect` that always closes."""
    conn = await connect(env, **kwargs)
    try:
        yield conn
    finally:
        await conn.close()


@dataclass(frozen=True)
class ServerInfo:
    """What a short probe learns about a reachable server."""

    server_version: str
    server_version_num: int
    database: str
    user: str


async def probe(env: Environment) -> ServerInfo:
    """Connect once and read the server's version.

    Raises:
        UnreachableError: as :func:`connect`.
    """
    async with connection(env) as conn:
        row = await conn.fetchrow(
            "SELECT current_setting('server_version') AS v, current_setting('server_version_num')::int AS n,"
            " current_database() AS db, current_user AS u"
        )
    assert row is not None
    return ServerInfo(
        server_version=str(row["v"]).split(" ")[0],
        server_version_num=int(row["n"]),
        database=str(row["db"]),
        user=str(row["u"]),
    )
