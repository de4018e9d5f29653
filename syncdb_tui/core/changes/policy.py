"""What a change needs before it may run: the one policy for every entry point.

Both front ends call :func:`requirements` and then ask the questions it lists
(the CLI on the terminal or through ``--force``/``--ack``; the app in modals and
the risk checklist) and finally :func:`check_satisfied`, so neither can add or drop a
rule.  The rules:

- push and seed are refused outright on a protected environment;
- a protected environment, or a HIGH-risk change anywhere, needs the
  environment's name typed back (``--force`` skips the prompt);
- on a protected environment each HIGH finding must be acknowledged (the app's
  checklist ticks, the CLI's ``--ack RULE`` or the typed prompt that lists
  them; ``--force`` acknowledges all);
- migrate/downgrade of an environment with ``backup_before_migrate`` (protected
  ones by default) take a backup first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.errors import RefusedError

if TYPE_CHECKING:
    from syncdb_tui.core.envs.environments import Environment

ACTIONS = (
    "upgrade",
    "downgrade",
    "stamp",
    "push",
    "seed",
    "restore",
    "restore-new-database",
    "reset",
    "psql-write",
    "verify",
    "drop-previous",
)
"""Every kind of change; anything that writes to a database is one of them (``verify``: a deep
backup verify, which creates and drops a scratch database on the environment's server;
``drop-previous``: dropping databases a restore kept beside the environment's, by name or by
``backups --prune``)."""

REFUSED_ON_PROTECTED = {
    "push": "push applies the models directly, without a migration, and is for development databases only",
    "seed": "seed fills tables with fake data, and is never run on a protected environment",
}

BACKUP_ACTIONS = frozenset({"upgrade", "downgrade"})

PSQL_READ_ONLY_SETTING = "default_transaction_read_only=on"
"""What ``syncdb psql`` sets (through ``PGOPTIONS``) on a protected environment without ``--write``."""


def psql_read_only(env: Environment, *, write: bool) -> bool:
    """psql on a protected environment opens read-only; ``--write`` (action ``psql-write``) lifts it."""
    return env.protected and not write


@dataclass(frozen=True)
class HighFinding:
    """A HIGH finding that must be acknowledged before it runs on a protected environment."""

    revision: str
    rule: str
    table: str
    message: str

    @property
    def key(self) -> str:
        """The checklist's key for this finding (``revision:rule``)."""
        return f"{self.revision}:{self.rule}" if self.revision else self.rule

    def describe(self) -> str:
        where = f" on {self.table}" if self.table else ""
        at = f" ({self.revision})" if self.revision else ""
        return f"HIGH {self.rule}{where}{at}: {self.message}"

    def to_json(self) -> dict[str, str]:
        return {"revision": self.revision, "rule": self.rule, "table": self.table, "message": self.message}


@dataclass(frozen=True)
class Requirements:
    """What must happen before a change may run."""

    environment: str
    action: str
    typed_name: bool
    """The environment's name must be typed back (or ``--force``)."""
    reasons: tuple[str, ...]
    """Why (shown in the prompt)."""
    acks: tuple[HighFinding, ...]
    """HIGH findings to acknowledge (protected environments only)."""
    backup: bool
    """A backup is taken before the change."""
    refusal: str = ""
    """Non-empty: the change is refused outright, whatever the answers."""

    @property
    def asks_anything(self) -> bool:
        return self.typed_name or bool(self.acks)

    def to_json(self) -> dict[str, Any]:
        return {
            "typed_name": self.typed_name,
            "reasons": list(self.reasons),
            "acknowledge": [finding.to_json() for finding in self.acks],
            "backup": self.backup,
            "refused": self.refusal or None,
        }


def high_findings(findings: Iterable[tuple[str, Any]]) -> tuple[HighFinding, ...]:
    """``(revision, finding)`` pairs reduced to the HIGH ones, once each."""
    seen: dict[str, HighFinding] = {}
    for revision, finding in findings:
        severity = getattr(getattr(finding, "severity", None), "name", str(getattr(finding, "severity", "")))
        if severity != "HIGH":
            continue
        item = HighFinding(revision, str(finding.rule), str(getattr(finding, "table", "") or ""), str(finding.message))
        seen.setdefault(item.key, item)
    return tuple(seen.values())


def requirements(
    env: Environment,
    action: str,
    *,
    risk: str = "NONE",
    findings: Iterable[tuple[str, Any]] = (),
    backup: bool | None = None,
    extra_reasons: Sequence[str] = (),
    development_only: str = "",
) -> Requirements:
    """What ``action`` on ``env`` needs, given the plan's worst ``risk`` and its ``findings``.

    ``findings`` are ``(revision, Finding)`` pairs; ``backup`` overrides the
    environment's ``backup_before_migrate`` (``--no-backup``); ``extra_reasons``
    are consequences that need the typed name on any environment (a restore that
    replaces a database's objects, for instance); ``development_only`` (why the change is
    for development databases only, as ``syncdb reset``) refuses it on a protected
    environment, as push and seed are.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown change action {action!r}")
    refusal = ""
    if env.protected and action in REFUSED_ON_PROTECTED:
        refusal = f"{env.name} is a protected environment: {REFUSED_ON_PROTECTED[action]}"
    elif env.protected and development_only:
        refusal = f"{env.name} is a protected environment: {development_only}"
    reasons: list[str] = []
    if env.protected:
        reasons.append(f"{env.name} is a protected environment")
    if risk == "HIGH":
        reasons.append("the change has HIGH-risk findings")
    reasons.extend(reason for reason in extra_reasons if reason not in reasons)
    acks = high_findings(findings) if env.protected else ()
    wants_backup = env.config.wants_backup_before_migrate if backup is None else backup
    return Requirements(
        environment=env.name,
        action=action,
        typed_name=bool(reasons),
        reasons=tuple(reasons),
        acks=acks,
        backup=bool(wants_backup and action in BACKUP_ACTIONS),
        refusal=refusal,
    )


def missing_acks(req: Requirements, acked: Iterable[str]) -> list[HighFinding]:
    """The HIGH findings of ``req`` not acknowledged by ``acked`` (rule names or ``revision:rule`` keys)."""
    given = {item.strip() for item in acked if item.strip()}
    return [finding for finding in req.acks if finding.rule not in given and finding.key not in given]


def check_refusal(req: Requirements) -> None:
    """Raise when the change is refused outright.

    Raises:
        RefusedError: push or seed on a protected environment.
    """
    if req.refusal:
        raise RefusedError(
            req.refusal,
            hint="run it on a development environment (syncdb --env dev …)",
            title=f"{req.action} refused",
        )


def check_satisfied(req: Requirements, *, confirmed: bool, acked: Iterable[str] = (), force: bool = False) -> None:
    """Raise unless every requirement of ``req`` is met.

    ``confirmed``: the environment's name was typed back; ``acked``: acknowledged
    findings; ``force`` stands for both (but never lifts a refusal).

    Raises:
        RefusedError: refused outright, not confirmed, or HIGH findings not acknowledged.
    """
    check_refusal(req)
    if force:
        return
    if req.typed_name and not confirmed:
        raise RefusedError(
            f"{req.action} on {req.environment} needs a typed confirmation ({'; '.join(req.reasons)})",
            hint="type the environment's name when asked, or pass --force",
            title="confirmation needed",
        )
    missing = missing_acks(req, acked)
    if missing:
        raise RefusedError(
            f"{req.action} on {req.environment} runs HIGH-risk changes, and {len(missing)} of them are not "
            "acknowledged: " + "; ".join(finding.describe() for finding in missing),
            hint="acknowledge each one (--ack " + ",".join(sorted({f.rule for f in missing})) + ", or tick them in "
            "the app's risk checklist), or pass --force",
            title="acknowledge HIGH findings",
        )
