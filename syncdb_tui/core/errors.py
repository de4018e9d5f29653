"""The exception family of syncdb: one subclass per exit code of the CLI contract.

Every error carries a short ``title`` (a few words), a ``message`` (what
happened and why, with the specific value) and a ``hint`` (what to do).  The
CLI prints them on stderr and exits with ``exit_code``; the TUI shows the same
words in a notification.  Core code never exits the process.
"""

from __future__ import annotations


class SyncdbError(Exception):
    """Base of every error a user can cause or meet; never shown as a traceback."""

    exit_code: int = 5
    default_title: str = "operation failed"

    def __init__(self, message: str, *, hint: str = "", title: str = "") -> None:
        super().__init__(message)
        self.title = title or self.default_title
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def render(self) -> str:
        """The error as the plain lines the CLI writes to stderr."""
        lines = [f"error: {self.title}: {self.message}"]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)


class ConfigError(SyncdbError):
    """Usage or configuration problem (exit 2)."""

    exit_code = 2
    default_title = "configuration error"


class UsageError(ConfigError):
    """A command was called with arguments that cannot work (exit 2)."""

    default_title = "usage error"


class RefusedError(SyncdbError):
    """Needs a confirmation or --force, or is never allowed here (exit 3)."""

    exit_code = 3
    default_title = "refused"


class UnreachableError(SyncdbError):
    """Database unreachable or authentication failed (exit 4)."""

    exit_code = 4
    default_title = "database unreachable"


class OperationError(SyncdbError):
    """The operation failed (rolled back where PostgreSQL allows) (exit 5)."""

    exit_code = 5
    default_title = "operation failed"


class CheckFailed(SyncdbError):
    """`syncdb check` (or a --fail-on gate) found a problem (exit 1)."""

    exit_code = 1
    default_title = "check failed"
