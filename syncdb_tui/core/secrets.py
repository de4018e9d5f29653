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
_lock = threading.Lock()

_URL_PASSWORD = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@\s]*)@",
    re.IGNORECASE,
)
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
