"""The one place where secrets are masked.

Every URL syncdb shows goes through :func:`mask_url`; every free text that may
echo a driver's message (errors, logs, child process output) goes through
:func:`redact`, which removes every password syncdb has seen in this process.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import unquote

MASK = "***"

_known_secrets: set[str] = set()
_secret_variables: set[str] = set()
_lock = threading.Lock()

# the password runs to the last @ of the URL (a raw @ / ? # may be part of it): over-masking is safe
_URL_PASSWORD = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<password>[^\s]*)@(?=[^@\s]*(?:\s|$|['\"),;]))",
    re.IGNORECASE,
)
_DATABASE_URL_VALUE = re.compile(r"^\s*postgres(?:ql)?(?:\+[a-z0-9_]+)?://", re.IGNORECASE)
# SQL text of other sessions (blockers) may carry ALTER/CREATE ROLE … PASSWORD '…'
_SQL_PASSWORD = re.compile(
    r"(?P<key>\bPASSWORD\s+)(?P<value>'(?:[^']|'')*'|\$[A-Za-z_]*\$.*?\$[A-Za-z_]*\$)", re.IGNORECASE
)
_KEYWORD_PASSWORD = re.compile(r"(?P<key>\bpassword\s*=\s*)(?P<value>'[^']*'|\"[^\"]*\"|[^\s&]+)", re.IGNORECASE)


def register_secret(secret: str | None) -> None:
    """Remember ``secret`` so that :func:`redact` removes it from any text."""
    if secret and len(secret) >= 1:
        with _lock:
            _known_secrets.add(secret)


def register_secret_variable(name: str) -> None:
    """Remember that the environment variable ``name`` holds (part of) a database URL or a password:
    child processes never inherit it (they get their own environment's credentials only)."""
    with _lock:
        _secret_variables.add(name)


def is_credential_variable(name: str, value: str) -> bool:
    """Whether a child process must not inherit ``name=value``: a variable a config URL expands
    (``${VAR}``), one holding a PostgreSQL URL (DATABASE_URL, POSTGRES_URL, …), or one whose value
    is a secret seen in this process."""
    if name in ("DATABASE_URL", "POSTGRES_URL") or _DATABASE_URL_VALUE.match(value):
        return True
    with _lock:
        if name in _secret_variables:
            return True
        secrets = [secret for secret in _known_secrets if len(secret) >= 4]
    return any(secret in value for secret in secrets)


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (the user name stays)."""

    def replace(match: re.Match[str]) -> str:
        password = match.group("password")
        register_secret(unquote(password))
        register_secret(password)
        return f"{match.group('scheme')}{match.group('user')}:{MASK}@" if password else match.group(0)

    masked = _URL_PASSWORD.sub(replace, url)
    masked = _SQL_PASSWORD.sub(lambda m: f"{m.group('key')}'{MASK}'", masked)
    return _KEYWORD_PASSWORD.sub(lambda m: f"{m.group('key')}{MASK}", masked)


def redact(text: str) -> str:
    """``text`` with URLs masked and every registered secret replaced by ``***``."""
    text = mask_url(text)
    with _lock:
        secrets = sorted(_known_secrets, key=len, reverse=True)
    for secret in secrets:
        if len(secret) >= 3:
            text = text.replace(secret, MASK)
    return text
