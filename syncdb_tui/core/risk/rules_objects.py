"""Rules for objects other than tables and indexes: triggers, functions, types, views, schemas, domains.

Who calls what: ``rules.py`` dispatches DROP / RENAME of these object types here
(:func:`drop_object`, :func:`rename_object`), and the statement kinds in
:data:`OBJECT_HANDLERS`. Each rule's lock and reason are in docs/risk-rules.md;
the kinds that take no lock that matters are in ``kinds.py``.
"""

from __future__ import annotations

from collections.abc import Callable

from syncdb_tui.core.risk import mitigations as fix
from syncdb_tui.core.risk.kinds import OBJECT_KINDS
from syncdb_tui.core.risk.model import (
    ACCESS_EXCLUSIVE,
    NO_LOCK,
    ROW_EXCLUSIVE,
    SHARE,
    SHARE_ROW_EXCLUSIVE,
    SHARE_UPDATE_EXCLUSIVE,
    UNKNOWN_LOCK,
    Hit,
    Judgement,
    Node,
    ScanState,
    Severity,
    range_name,
    strings,
    type_name,
)

CASCADE_NOTE = "; with CASCADE every object that depends on it is dropped too"


def object_name(item: Node) -> str:
    """A readable name for one entry of a DROP's ``objects`` (or a RENAME's ``object``)."""
    if "List" in item:
        return ".".join(strings(item["List"].get("items")))
    if "String" in item:
        return str(item["String"].get("sval", "?"))
    if "ObjectWithArgs" in item:
        body = item["ObjectWithArgs"]
        name = ".".join(strings(body.get("objname")))
        if body.get("args_unspecified"):
            return name
        args = ", ".join(type_name(a.get("TypeName")) for a in body.get("objargs") or ())
        return f"{name}({args})"
    if "TypeName" in item:
        return type_name(item["TypeName"])
    return "?"


def not_judged(what: str, why: str = "") -> Hit:
    """The finding for a statement no rule judges: never silence."""
    return Hit(
        "not-judged",
        Severity.MEDIUM,
        UNKNOWN_LOCK,
        None,
        f"syncdb has no rule for {what}{': ' + why if why else ''}; review by hand which locks it takes "
        "and what depends on it",
        "-- review it by hand: which tables it locks, for how long, and what code depends on what it changes;\n"
        "-- then suppress this finding with: -- syncdb: ignore not-judged <your reason>",
        keep_on_new_table=True,
    )


# --------------------------------------------------------------------- DROP


_DROP_RULES: dict[str, tuple[str, str]] = {
    "OBJECT_FUNCTION": ("drop-function", "triggers, defaults, views and code calling it fail"),
    "OBJECT_PROCEDURE": ("drop-function", "code calling it fails"),
    "OBJECT_ROUTINE": ("drop-function", "code calling it fails"),
    "OBJECT_AGGREGATE": ("drop-function", "queries using it fail"),
    "OBJECT_VIEW": ("drop-view", "every query reading it fails"),
    "OBJECT_MATVIEW": ("drop-view", "every query reading it fails"),
    "OBJECT_TYPE": ("drop-type", "casts and code naming it fail (it fails itself while a column uses it)"),
    "OBJECT_DOMAIN": ("drop-type", "casts and code naming it fail (it fails itself while a column uses it)"),
}
"""Object types with a rule of their own; the rest that matter are ``drop-object``."""

_DROP_QUIET = frozenset({"OBJECT_STATISTIC_EXT", "OBJECT_TABLESPACE", "OBJECT_ROLE", "OBJECT_USER_MAPPING"})
"""Drops that break no query: planner statistics, empty tablespaces, roles (fail while they own anything)."""


def drop_object(kind: str, node: Node, text: str, state: ScanState, judgement: Judgement) -> None:
    """DROP of anything but a table, an index, a schema or a database (those are in rules.py)."""
    label = OBJECT_KINDS.get(kind, kind.removeprefix("OBJECT_").lower().replace("_", " "))
    cascade = node.get("behavior") == "DROP_CASCADE"
    names = [object_name(o) for o in node.get("objects") or ()]
    if kind in _DROP_QUIET:
        return
    if kind in ("OBJECT_TRIGGER", "OBJECT_POLICY", "OBJECT_RULE"):
        for name in names:
            table, _, what = name.rpartition(".")
            table = table or "?"
            judgement.locks.append((table, ACCESS_EXCLUSIVE))
            if kind == "OBJECT_TRIGGER":
                judgement.hits.append(
                    Hit(
                        "drop-trigger",
                        Severity.MEDIUM,
                        ACCESS_EXCLUSIVE,
                        table,
                        f"DROP TRIGGER {what} takes ACCESS EXCLUSIVE on {table} (it queues behind every running "
                        "query and blocks all others meanwhile), and whatever the trigger did on each write "
                        "(audit rows, denormalised columns, checks) stops",
                        fix.lock_timeout_only(text) + "\n-- and make sure no code relies on what the trigger did",
                    )
                )
            else:
                judgement.hits.append(
                    Hit(
                        "drop-object",
                        Severity.MEDIUM,
                        ACCESS_EXCLUSIVE,
                        table,
                        f"DROP {label.upper()} {what} takes ACCESS EXCLUSIVE on {table}, and "
                        + (
                            "the row-level security it granted is gone (readers may see nothing)"
                            if kind == "OBJECT_POLICY"
                            else "the query rewrite it did stops"
                        ),
                        fix.lock_timeout_only(text),
                    )
                )
        return
    rule, breaks = _DROP_RULES.get(kind, ("drop-object", "code and objects using it fail"))
    if kind in ("OBJECT_VIEW", "OBJECT_MATVIEW", "OBJECT_FOREIGN_TABLE"):
        judgement.locks += [(n, ACCESS_EXCLUSIVE) for n in names]
    for name in names:
        if kind in ("OBJECT_VIEW", "OBJECT_MATVIEW") and state.is_new(name):
            continue
        severity = Severity.HIGH if cascade else Severity.MEDIUM
        lock = ACCESS_EXCLUSIVE if kind in ("OBJECT_VIEW", "OBJECT_MATVIEW", "OBJECT_FOREIGN_TABLE") else NO_LOCK
        if kind == "OBJECT_FOREIGN_TABLE":
            rule = "drop-view"
        judgement.hits.append(
            Hit(
                rule,
                severity,
                lock,
                name if lock != NO_LOCK else None,
                f"drops the {label} {name}: {breaks}{CASCADE_NOTE if cascade else ''}",
                "-- first deploy code that no longer uses it; keep the DROP without CASCADE so that it fails "
                "while anything still depends on it:\n" + fix.lock_timeout_only(text),
                keep_on_new_table=True,
            )
        )


# ------------------------------------------------------------------- RENAME


_RENAME_HIGH = frozenset({"OBJECT_VIEW", "OBJECT_MATVIEW", "OBJECT_FOREIGN_TABLE", "OBJECT_SCHEMA", "OBJECT_DATABASE"})
_RENAME_QUIET = frozenset(
    {"OBJECT_INDEX", "OBJECT_TABCONSTRAINT", "OBJECT_TRIGGER", "OBJECT_POLICY", "OBJECT_RULE", "OBJECT_STATISTIC_EXT"}
)
"""Renames of objects no query names: indexes, constraints, triggers, policies, rules, statistics."""


def rename_object(kind: str, node: Node, text: str, state: ScanState, judgement: Judgement) -> None:
    """RENAME of anything but a table or a table's column (those are in rules.py)."""
    label = OBJECT_KINDS.get(kind, kind.lower())
    relation = range_name(node.get("relation"))
    new = node.get("newname", "?")
    if kind in _RENAME_QUIET:
        if relation:
            lock = SHARE_UPDATE_EXCLUSIVE if kind in ("OBJECT_INDEX", "OBJECT_TABCONSTRAINT") else ACCESS_EXCLUSIVE
            judgement.locks.append((relation, lock))
        return
    old = relation or (object_name(node["object"]) if node.get("object") else node.get("subname") or "?")
    if kind == "OBJECT_ATTRIBUTE":
        old = f"{old}.{node.get('subname', '?')}"
    if kind in ("OBJECT_TYPE", "OBJECT_DOMAIN", "OBJECT_ATTRIBUTE"):
        judgement.hits.append(
            Hit(
                "rename-type",
                Severity.MEDIUM,
                NO_LOCK,
                None,
                f"renames the {label} {old} to {new}: columns keep working, but casts and code naming the old "
                "name (SQL, ORM enum/type declarations, functions) fail until they are deployed",
                "-- deploy code that names the new type first, or keep both names working:\n"
                "-- CREATE DOMAIN <old name> AS <new name>;  -- until the deploy, then drop it",
                keep_on_new_table=True,
            )
        )
        return
    if relation:
        judgement.locks.append((relation, ACCESS_EXCLUSIVE))
    severity = Severity.HIGH if kind in _RENAME_HIGH else Severity.MEDIUM
    judgement.hits.append(
        Hit(
            "rename-object",
            severity,
            ACCESS_EXCLUSIVE if relation else NO_LOCK,
            relation,
            f"renames the {label} {old} to {new}: every query or call using the old name fails until the code "
            "is deployed",
            "-- expand/contract: create the new name beside the old one (a view or wrapper function), deploy "
            "code using it, then drop the old one",
        )
    )


def rename_enum_value(type_: str, old: str, new: str) -> Hit:
    return Hit(
        "rename-type",
        Severity.MEDIUM,
        NO_LOCK,
        None,
        f"renames the value {old!r} of the enum {type_} to {new!r}: stored rows change meaning for code, and code "
        f"writing or comparing {old!r} fails until it is deployed",
        f"-- add the new value first (ALTER TYPE {type_} ADD VALUE {new!r}), deploy code writing it, "
        "migrate the rows in batches, then stop using the old value",
        keep_on_new_table=True,
    )


# ---------------------------------------------------------------- SET SCHEMA


def _set_schema(node: Node, text: str, state: ScanState) -> Judgement:
    kind = node.get("objectType", "")
    label = OBJECT_KINDS.get(kind, kind.lower())
    relation = range_name(node.get("relation"))
    name = relation or (object_name(node["object"]) if node.get("object") else "?")
    schema = node.get("newschema", "?")
    judgement = Judgement()
    if relation:
        judgement.locks.append((relation, ACCESS_EXCLUSIVE))
    relation_like = kind in ("OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW", "OBJECT_FOREIGN_TABLE")
    judgement.hits.append(
        Hit(
            "set-schema",
            Severity.HIGH if relation_like else Severity.MEDIUM,
            ACCESS_EXCLUSIVE if relation else NO_LOCK,
            relation,
            f"moves the {label} {name} to the schema {schema}: queries naming it by its old schema (or finding it "
            "through search_path) fail until the code is deployed",
            "-- expand/contract: leave a view (or wrapper) under the old name until the deploy, in the same short "
            "transaction, with SET LOCAL lock_timeout = '5s'",
        )
    )
    return judgement


# ----------------------------------------------------------------- triggers


def _create_trigger(node: Node, text: str, state: ScanState) -> Judgement:
    table = range_name(node.get("relation"))
    if table is None:
        return Judgement()
    name = node.get("trigname", "?")
    return Judgement(
        locks=[(table, SHARE_ROW_EXCLUSIVE)],
        hits=[
            Hit(
                "create-trigger",
                Severity.LOW,
                SHARE_ROW_EXCLUSIVE,
                table,
                f"creates the trigger {name} on {table}: a brief SHARE ROW EXCLUSIVE lock (writes wait a moment); "
                "from then on it runs on every matching write",
                fix.lock_timeout_only(text),
            )
        ],
    )


# ------------------------------------------------------------------ domains


def _alter_domain(node: Node, text: str, state: ScanState) -> Judgement:
    subtype = node.get("subtype", "")
    domain = ".".join(strings(node.get("typeName")))
    constraint = node.get("def", {}).get("Constraint", {})
    if subtype == "C" and constraint.get("skip_validation"):
        return Judgement(
            hits=[
                Hit(
                    "alter-domain-constraint",
                    Severity.LOW,
                    NO_LOCK,
                    None,
                    f"adds a constraint to the domain {domain} NOT VALID: new values only, no scan",
                    fix.none_needed(),
                    keep_on_new_table=True,
                )
            ]
        )
    if subtype in ("C", "O", "V"):
        what = {"C": "ADD CONSTRAINT", "O": "SET NOT NULL", "V": "VALIDATE CONSTRAINT"}[subtype]
        return Judgement(
            hits=[
                Hit(
                    "alter-domain-constraint",
                    Severity.MEDIUM,
                    SHARE,
                    None,
                    f"ALTER DOMAIN {domain} {what} scans every column of every table using the domain, holding "
                    "SHARE on those tables (writes wait for the whole scan)",
                    f"ALTER DOMAIN {domain} ADD CONSTRAINT … NOT VALID;  -- new values only\n"
                    f"ALTER DOMAIN {domain} VALIDATE CONSTRAINT …;      -- later, in its own transaction",
                    keep_on_new_table=True,
                )
            ]
        )
    return Judgement()  # SET/DROP DEFAULT, DROP NOT NULL, DROP CONSTRAINT: catalog only


# -------------------------------------------------------- opaque statements


def _opaque(what: str, why: str) -> Callable[[Node, str, ScanState], Judgement]:
    def handler(node: Node, text: str, state: ScanState) -> Judgement:
        return Judgement(hits=[not_judged(what, why)])

    return handler


def _drop_owned(node: Node, text: str, state: ScanState) -> Judgement:
    roles = ", ".join(r.get("RoleSpec", {}).get("rolename", "?") for r in node.get("roles") or ())
    return Judgement(
        hits=[
            Hit(
                "drop-object",
                Severity.HIGH,
                UNKNOWN_LOCK,
                None,
                f"DROP OWNED BY {roles} drops every table, view and function those roles own, with their data",
                "-- list what they own first (\\dt, \\df in psql), back it up, and drop objects one by one",
                keep_on_new_table=True,
            )
        ]
    )


def _move_all(node: Node, text: str, state: ScanState) -> Judgement:
    source = node.get("orig_tablespacename", "?")
    return Judgement(
        hits=[
            Hit(
                "table-rewrite",
                Severity.HIGH,
                ACCESS_EXCLUSIVE,
                None,
                f"ALTER … ALL IN TABLESPACE {source} copies every table in it under ACCESS EXCLUSIVE, one after "
                "another",
                "-- move tables one at a time in a maintenance window, or with pg_repack --tablespace",
                keep_on_new_table=True,
            )
        ]
    )


def _copy(node: Node, text: str, state: ScanState) -> Judgement:
    table = range_name(node.get("relation"))
    if table is None or not node.get("is_from"):
        return Judgement()  # COPY (query) TO / COPY table TO: reads only
    return Judgement(locks=[(table, ROW_EXCLUSIVE)], dml_table=table)


def _merge(node: Node, text: str, state: ScanState) -> Judgement:
    table = range_name(node.get("relation"))
    if table is None:
        return Judgement()
    return Judgement(locks=[(table, ROW_EXCLUSIVE)], dml_table=table)


OBJECT_HANDLERS: dict[str, Callable[[Node, str, ScanState], Judgement]] = {
    "AlterObjectSchemaStmt": _set_schema,
    "CreateTrigStmt": _create_trigger,
    "AlterDomainStmt": _alter_domain,
    "DropOwnedStmt": _drop_owned,
    "AlterTableMoveAllStmt": _move_all,
    "CopyStmt": _copy,
    "MergeStmt": _merge,
    "CallStmt": _opaque("CALL", "the procedure's statements are not in the SQL"),
    "ExecuteStmt": _opaque("EXECUTE of a prepared statement", "judge the PREPARE's query by hand"),
    "AlterExtensionStmt": _opaque(
        "ALTER EXTENSION", "its upgrade script runs statements syncdb cannot see (it may rewrite tables)"
    ),
}
