"""The vocabulary of the risk engine: severities, lock modes, rule ids, and AST helpers.

Who calls what: ``risk.py`` and the rule modules (``risk_rules*.py``) share these
types; nothing here looks at more than one statement.
"""

from __future__ import annotations

import enum
from typing import Any

Node = dict[str, Any]


class Severity(enum.IntEnum):
    """How dangerous a finding is for a live database."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3


ACCESS_EXCLUSIVE = "ACCESS EXCLUSIVE"
EXCLUSIVE = "EXCLUSIVE"
SHARE_ROW_EXCLUSIVE = "SHARE ROW EXCLUSIVE"
SHARE = "SHARE"
SHARE_UPDATE_EXCLUSIVE = "SHARE UPDATE EXCLUSIVE"
ROW_EXCLUSIVE = "ROW EXCLUSIVE"
NO_LOCK = "none"
UNKNOWN_LOCK = "unknown"

LOCK_MODES = {
    1: "ACCESS SHARE",
    2: "ROW SHARE",
    3: ROW_EXCLUSIVE,
    4: SHARE_UPDATE_EXCLUSIVE,
    5: SHARE,
    6: SHARE_ROW_EXCLUSIVE,
    7: EXCLUSIVE,
    8: ACCESS_EXCLUSIVE,
}
LOCK_STRENGTH = {name: level for level, name in LOCK_MODES.items()} | {NO_LOCK: 0, UNKNOWN_LOCK: 0}
"""Locks that block writers (SHARE and stronger) are level 5 and up."""

BOOKKEEPING_TABLES = frozenset({"alembic_version"})

RULE_IDS = frozenset(
    {
        "add-check-constraint",
        "add-check-constraint-not-valid",
        "add-column-constant-default",
        "add-column-not-null-no-default",
        "add-column-nullable",
        "add-column-volatile-default",
        "add-exclusion-constraint",
        "add-foreign-key",
        "add-foreign-key-not-valid",
        "add-primary-key",
        "add-serial-column",
        "add-stored-generated-column",
        "add-unique-constraint",
        "alter-domain-constraint",
        "attach-partition",
        "backfill-in-ddl-transaction",
        "change-column-type",
        "cluster",
        "concurrently-in-transaction",
        "create-index",
        "create-index-concurrently",
        "create-table",
        "create-trigger",
        "delete-without-where",
        "detach-partition",
        "drop-column",
        "drop-constraint",
        "drop-database",
        "drop-function",
        "drop-index",
        "drop-index-concurrently",
        "drop-not-null",
        "drop-object",
        "drop-schema",
        "drop-table",
        "drop-trigger",
        "drop-type",
        "drop-view",
        "enable-row-security",
        "enum-add-value",
        "lock-table",
        "missing-lock-timeout",
        "multiple-access-exclusive-locks",
        "needs-live-database",
        "not-judged",
        "refresh-materialized-view",
        "reindex",
        "reindex-concurrently",
        "rename-column",
        "rename-object",
        "rename-table",
        "rename-type",
        "set-not-null",
        "set-schema",
        "table-rewrite",
        "truncate",
        "truncate-cascade",
        "unparseable-statement",
        "update-without-where",
        "vacuum-full",
        "vacuum-in-transaction",
        "validate-constraint",
    }
)
"""Every rule id the engine reports; docs/risk-rules.md documents each one."""


SERIAL_TYPES = frozenset({"serial", "bigserial", "smallserial", "serial2", "serial4", "serial8"})
VOLATILE_FUNCTIONS = frozenset(
    {
        "random",
        "gen_random_uuid",
        "uuid_generate_v1",
        "uuid_generate_v1mc",
        "uuid_generate_v4",
        "uuidv4",
        "uuidv7",
        "clock_timestamp",
        "timeofday",
        "nextval",
        "setseed",
        "txid_current",
        "pg_current_xact_id",
    }
)
STABLE_FUNCTIONS = frozenset(
    {
        "now",
        "current_timestamp",
        "transaction_timestamp",
        "statement_timestamp",
        "current_date",
        "localtimestamp",
        "current_user",
        "session_user",
        "current_setting",
        "lower",
        "upper",
        "coalesce",
        "to_jsonb",
        "jsonb_build_object",
        "json_build_object",
        "jsonb_build_array",
        "array",
        "make_interval",
        "timezone",
        "date_trunc",
        "concat",
        "length",
    }
)


class Record:
    """A plain class with ``__slots__``, compared and shown field by field like a dataclass.

    The engine's own records (built for every statement) are not dataclasses: ``@dataclass``
    compiles their methods each time the module is imported, a cost ``syncdb risk FILE.sql``
    pays on every run.
    """

    __slots__: tuple[str, ...] = ()

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    # defining __eq__ leaves __hash__ None: unhashable, like a mutable dataclass


class Hit(Record):
    """One rule matched by one statement, before context and suppressions are applied.

    ``scales``: its cost grows with the table (scan, rewrite, index build): live context sets the
    severity. ``cap``: the highest severity live context may give it. ``empty_is_safe``: safe only
    on an empty table (NOT NULL without default): live context decides LOW or HIGH.
    ``keep_on_new_table``: stays as is on a table created earlier in the same SQL (it fails or
    matters regardless).
    """

    __slots__ = (
        "cap",
        "empty_is_safe",
        "keep_on_new_table",
        "lock",
        "message",
        "mitigation",
        "rule",
        "scales",
        "severity",
        "table",
    )

    def __init__(
        self,
        rule: str,
        severity: Severity,
        lock: str,
        table: str | None,
        message: str,
        mitigation: str,
        scales: bool = False,
        cap: Severity = Severity.HIGH,
        empty_is_safe: bool = False,
        keep_on_new_table: bool = False,
    ) -> None:
        self.rule = rule
        self.severity = severity
        self.lock = lock
        self.table = table
        self.message = message
        self.mitigation = mitigation
        self.scales = scales
        self.cap = cap
        self.empty_is_safe = empty_is_safe
        self.keep_on_new_table = keep_on_new_table


class ScanState(Record):
    """What the engine knows at a statement from the statements before it.

    ``new_tables``: bare names of tables created earlier in this SQL. ``not_valid``: (table,
    constraint) → (kind, transaction id, column of a ``col IS NOT NULL`` check).
    ``validated_not_null``: (table, column) with a validated ``CHECK (col IS NOT NULL)``: SET NOT
    NULL skips its scan. ``index_tables``: index bare name → its table, from this SQL and the live
    context. ``existing_tables``: tables the live context found in the target database.
    ``single_command``: the ALTER TABLE being judged has one command (its text can be extended as
    it is).
    """

    __slots__ = (
        "column_types",
        "existing_tables",
        "in_transaction",
        "index_tables",
        "new_tables",
        "not_valid",
        "server_version_num",
        "single_command",
        "transaction_id",
        "validated_not_null",
    )

    def __init__(
        self,
        server_version_num: int | None = None,
        in_transaction: bool = False,
        transaction_id: int = 0,
        new_tables: set[str] | None = None,
        not_valid: dict[tuple[str, str], tuple[str, int, str | None]] | None = None,
        validated_not_null: set[tuple[str, str]] | None = None,
        column_types: dict[tuple[str, str], str] | None = None,
        index_tables: dict[str, str] | None = None,
        existing_tables: set[str] | None = None,
        single_command: bool = False,
    ) -> None:
        self.server_version_num = server_version_num
        self.in_transaction = in_transaction
        self.transaction_id = transaction_id
        self.new_tables: set[str] = set() if new_tables is None else new_tables
        self.not_valid: dict[tuple[str, str], tuple[str, int, str | None]] = {} if not_valid is None else not_valid
        self.validated_not_null: set[tuple[str, str]] = set() if validated_not_null is None else validated_not_null
        self.column_types: dict[tuple[str, str], str] = {} if column_types is None else column_types
        self.index_tables: dict[str, str] = {} if index_tables is None else index_tables
        self.existing_tables: set[str] = set() if existing_tables is None else existing_tables
        self.single_command = single_command

    def is_new(self, table: str | None) -> bool:
        return table is not None and table[table.rfind(".") + 1 :] in self.new_tables  # bare(table)


class Judgement(Record):
    """The rules' verdict on one statement.

    ``locks``: (table, lock mode) for each table the statement locks. ``dml_table``: the table an
    UPDATE / DELETE / INSERT … SELECT writes (a possible backfill). ``skip``: bookkeeping
    (alembic_version): not reported, not counted.
    """

    __slots__ = ("dml_table", "hits", "locks", "skip")

    def __init__(
        self,
        hits: list[Hit] | None = None,
        locks: list[tuple[str, str]] | None = None,
        dml_table: str | None = None,
        skip: bool = False,
    ) -> None:
        self.hits: list[Hit] = [] if hits is None else hits
        self.locks: list[tuple[str, str]] = [] if locks is None else locks
        self.dml_table = dml_table
        self.skip = skip


# ---------------------------------------------------------------- AST helpers


def range_name(rangevar: Node | None) -> str | None:
    """``schema.table`` or ``table`` of a RangeVar dict."""
    if not rangevar:
        return None
    if "RangeVar" in rangevar:
        rangevar = rangevar["RangeVar"]
    name = rangevar.get("relname")
    if name is None:
        return None
    schema = rangevar.get("schemaname")
    return f"{schema}.{name}" if schema else name


def bare(table: str) -> str:
    """The name after the last dot (``table`` of ``schema.table``)."""
    return table[table.rfind(".") + 1 :]


def strings(items: list[Node] | None) -> list[str]:
    """The ``sval`` of a list of String nodes (qualified names)."""
    out = []
    for item in items or ():
        if "String" in item:
            out.append(item["String"]["sval"])
        elif "List" in item:
            out.append(".".join(strings(item["List"].get("items"))))
    return out


SQL_TYPE_NAMES = {
    "int8": "bigint",
    "int4": "integer",
    "int2": "smallint",
    "bool": "boolean",
    "float8": "double precision",
    "float4": "real",
    "timestamptz": "timestamptz",
    "bpchar": "char",
    "character varying": "varchar",
    "character": "char",
    "bit varying": "varbit",
    "timestamp with time zone": "timestamptz",
    "timestamp without time zone": "timestamp",
    "time with time zone": "timetz",
    "time without time zone": "time",
    "int": "integer",
    "decimal": "numeric",
}


def canonical_type(text: str) -> str:
    """``character varying(20)`` (format_type) and ``varchar(20)`` (parser) both → ``varchar(20)``."""
    base, paren, mods = text.strip().lower().partition("(")
    array = base.endswith("[]") or mods.endswith("[]")
    base = base.removesuffix("[]").strip()
    name = SQL_TYPE_NAMES.get(base, base)
    return name + (paren + mods if paren else "") + ("[]" if array and not mods.endswith("[]") else "")


def type_name(node: Node | None) -> str:
    """A readable type name from a TypeName dict (``varchar(20)``, ``text``, ``bigint[]``)."""
    if not node:
        return "?"
    names = [n for n in strings(node.get("names")) if n != "pg_catalog"]
    text = ".".join(SQL_TYPE_NAMES.get(n, n) for n in names) or "?"
    mods = []
    for mod in node.get("typmods") or ():
        const = mod.get("A_Const", {})
        if "ival" in const:
            mods.append(str(const["ival"].get("ival", 0)))
        elif "sval" in const:
            mods.append(str(const["sval"].get("sval", "")))
    if mods:
        text += "(" + ",".join(mods) + ")"
    if node.get("arrayBounds"):
        text += "[]"
    return text


def _func_name(call: Node) -> str:
    return (strings(call.get("funcname")) or ["?"])[-1].lower()


def expression_volatility(expr: Node | None) -> str:
    """``"constant"`` when PostgreSQL 11+ stores the default without rewriting, else ``"volatile"``."""
    if expr is None:
        return "constant"
    ((kind, body),) = expr.items()
    if kind in ("A_Const", "SQLValueFunction", "ParamRef"):
        return "constant"
    if kind == "TypeCast":
        return expression_volatility(body.get("arg"))
    if kind == "FuncCall":
        name = _func_name(body)
        if name in VOLATILE_FUNCTIONS or name not in STABLE_FUNCTIONS:
            return "volatile"
        return "volatile" if any(expression_volatility(a) == "volatile" for a in body.get("args") or ()) else "constant"
    if kind in ("A_Expr", "BoolExpr"):
        parts = [body.get("lexpr"), body.get("rexpr"), *(body.get("args") or ())]
        return "volatile" if any(expression_volatility(p) == "volatile" for p in parts if p) else "constant"
    if kind == "A_ArrayExpr":
        elements = body.get("elements") or ()
        return "volatile" if any(expression_volatility(e) == "volatile" for e in elements) else "constant"
    return "volatile"


def default_text(expr: Node | None) -> str:
    if expr is None:
        return "NULL"
    ((kind, body),) = expr.items()
    if kind == "FuncCall":
        return f"{_func_name(body)}()"
    if kind == "A_Const":
        for key in ("sval", "ival", "fval", "boolval"):
            if key in body:
                value = body[key]
                if key == "sval":
                    return "'" + str(value.get("sval", "")).replace("'", "''") + "'"
                if key == "boolval":
                    return "true" if value.get("boolval") else "false"
                return str(value.get(key, 0))
        return "NULL"
    if kind == "TypeCast":
        return default_text(body.get("arg"))
    return "<expression>"
