"""The per-statement rules of the risk engine: dispatch, CREATE/DROP/RENAME of tables.

Who calls what: :func:`syncdb_tui.core.risk.analyse_sql` parses the SQL with
pglast (JSON form), keeps a ``ScanState`` across statements, and calls
:func:`judge_statement` for each statement; the rules return ``Hit`` records
(what the statement does, its lock, its baseline severity) and the locks it
takes. ALTER TABLE commands live in ``risk_rules_alter.py``, indexes, data and
operations in ``risk_rules_ops.py``. Live context, "new table" downgrades,
suppressions and transaction-wide rules are applied by ``risk.py``.
"""

from __future__ import annotations

from collections.abc import Callable

from syncdb_tui.core.risk import mitigations as fix
from syncdb_tui.core.risk.kinds import ALTER_TABLE_KINDS, RULES, STATEMENT_KINDS, Quiet, quiet_lock_table
from syncdb_tui.core.risk.model import (
    ACCESS_EXCLUSIVE,
    BOOKKEEPING_TABLES,
    NO_LOCK,
    SHARE_ROW_EXCLUSIVE,
    SHARE_UPDATE_EXCLUSIVE,
    Hit,
    Judgement,
    Node,
    ScanState,
    Severity,
    bare,
    range_name,
    strings,
    type_name,
)
from syncdb_tui.core.risk.rules_alter import ALTER_HANDLERS
from syncdb_tui.core.risk.rules_objects import (
    OBJECT_HANDLERS,
    drop_object,
    not_judged,
    rename_enum_value,
    rename_object,
)
from syncdb_tui.core.risk.rules_ops import OPS_HANDLERS, concurrently_in_transaction


def judge_statement(kind: str, node: Node, text: str, state: ScanState) -> Judgement:
    """Apply the rules for one parsed statement; updates ``state`` with what it creates.

    A kind missing from ``kinds.STATEMENT_KINDS`` (or one never produced at top level)
    yields a ``not-judged`` finding; a "no lock that matters" kind yields only its lock.
    """
    entry = STATEMENT_KINDS.get(kind)
    handler = _HANDLERS.get(kind)
    if entry is RULES and handler is not None:
        return handler(node, text, state)
    if isinstance(entry, Quiet) and entry.why and not entry.why.startswith("not a top-level"):
        table = quiet_lock_table(entry, node)
        return Judgement(locks=[(table, entry.lock)] if table else [])
    return Judgement(hits=[not_judged(f"{kind} statements" if kind else "this statement")])


def _create_table(node: Node, text: str, state: ScanState) -> Judgement:
    table = range_name(node.get("relation"))
    if table is None or bare(table) in BOOKKEEPING_TABLES:
        return Judgement(skip=True)
    if not (node.get("if_not_exists") and (table in state.existing_tables or bare(table) in state.existing_tables)):
        state.new_tables.add(bare(table))
    referenced = []
    for element in node.get("tableElts") or ():
        if "ColumnDef" in element:
            column = element["ColumnDef"]
            state.column_types[(bare(table), column.get("colname", ""))] = type_name(column.get("typeName"))
            for constraint in column.get("constraints") or ():
                if constraint.get("Constraint", {}).get("contype") == "CONSTR_FOREIGN":
                    referenced.append(range_name(constraint["Constraint"].get("pktable")))
        elif element.get("Constraint", {}).get("contype") == "CONSTR_FOREIGN":
            referenced.append(range_name(element["Constraint"].get("pktable")))
    referenced_existing = sorted({r for r in referenced if r and not state.is_new(r)})
    judgement = Judgement()
    lock = SHARE_ROW_EXCLUSIVE if referenced_existing else NO_LOCK
    message = f"creates the new table {table}"
    if referenced_existing:
        message += (
            f"; its foreign keys take a brief SHARE ROW EXCLUSIVE lock on {', '.join(referenced_existing)}"
            " (writes there wait a moment)"
        )
        judgement.locks += [(r, SHARE_ROW_EXCLUSIVE) for r in referenced_existing]
    judgement.hits.append(Hit("create-table", Severity.LOW, lock, table, message, fix.none_needed()))
    return judgement


def _create_table_as(node: Node, text: str, state: ScanState) -> Judgement:
    into = node.get("into", {}).get("IntoClause", node.get("into", {}))
    table = range_name(into.get("rel"))
    if table is None:
        return Judgement()
    state.new_tables.add(bare(table))
    return Judgement(
        hits=[
            Hit(
                "create-table",
                Severity.LOW,
                NO_LOCK,
                table,
                f"creates the new table {table} from a query (the query reads its source tables once)",
                fix.none_needed(),
            )
        ]
    )


def _alter_table(node: Node, text: str, state: ScanState) -> Judgement:
    table = range_name(node.get("relation"))
    if table is None or bare(table) in BOOKKEEPING_TABLES:
        return Judgement(skip=True)
    objtype = node.get("objtype", "OBJECT_TABLE")
    judgement = Judgement()
    state.single_command = len(node.get("cmds") or ()) == 1
    table_like = objtype in ("OBJECT_TABLE", "OBJECT_MATVIEW", "OBJECT_FOREIGN_TABLE")
    for item in node.get("cmds") or ():
        cmd = item.get("AlterTableCmd", {})
        subtype = cmd.get("subtype", "")
        entry = ALTER_TABLE_KINDS.get(subtype)
        handler = ALTER_HANDLERS.get(subtype)
        rewrites_object = subtype == "AT_SetTableSpace"
        if entry is RULES and handler is not None and (table_like or rewrites_object):
            handler(cmd, table, text, state, judgement)
        elif isinstance(entry, Quiet) and entry.why and not entry.why.startswith("not a top-level"):
            judgement.locks.append((table, entry.lock))
        elif entry is RULES and not table_like:
            # ALTER INDEX/SEQUENCE/VIEW … with a table command: catalog only on that object
            judgement.locks.append((table, ACCESS_EXCLUSIVE))
        else:
            judgement.hits.append(not_judged(f"ALTER TABLE … {subtype.removeprefix('AT_') or 'this command'}"))
    return judgement


def _rename(node: Node, text: str, state: ScanState) -> Judgement:
    table = range_name(node.get("relation"))
    rename = node.get("renameType")
    if table is None or rename not in ("OBJECT_COLUMN", "OBJECT_TABLE"):
        judgement = Judgement()
        rename_object(str(rename), node, text, state, judgement)
        return judgement
    if bare(table) in BOOKKEEPING_TABLES:
        return Judgement(skip=True)
    judgement = Judgement()
    newname = node.get("newname", "?")
    if rename == "OBJECT_COLUMN":
        old = node.get("subname", "?")
        judgement.locks.append((table, ACCESS_EXCLUSIVE))
        judgement.hits.append(
            Hit(
                "rename-column",
                Severity.MEDIUM,
                ACCESS_EXCLUSIVE,
                table,
                f"renames {table}.{old} to {newname}: running code that uses the old name fails until it is deployed",
                fix.rename_column(table, old, newname, state.column_types.get((bare(table), old))),
            )
        )
        key = (bare(table), old)
        if key in state.column_types:
            state.column_types[(bare(table), newname)] = state.column_types.pop(key)
    elif rename == "OBJECT_TABLE":
        judgement.locks.append((table, ACCESS_EXCLUSIVE))
        judgement.hits.append(
            Hit(
                "rename-table",
                Severity.HIGH,
                ACCESS_EXCLUSIVE,
                table,
                f"renames {table} to {newname}: every query using the old name fails until the code is deployed",
                fix.rename_table(table, newname),
            )
        )
        if state.is_new(table):
            state.new_tables.add(newname)
    else:
        rename_object(str(rename), node, text, state, judgement)
    return judgement


def _drop(node: Node, text: str, state: ScanState) -> Judgement:
    kind = node.get("removeType")
    judgement = Judgement()
    objects = node.get("objects") or ()
    names = [".".join(strings(o["List"].get("items"))) if "List" in o else ".".join(strings([o])) for o in objects]
    cascade = node.get("behavior") == "DROP_CASCADE"
    if kind == "OBJECT_TABLE":
        names = [n for n in names if bare(n) not in BOOKKEEPING_TABLES]
        if not names:
            return Judgement(skip=True)
        for table in names:
            judgement.locks.append((table, ACCESS_EXCLUSIVE))
            more = " and, with CASCADE, the views and foreign keys that depend on it" if cascade else ""
            judgement.hits.append(
                Hit(
                    "drop-table",
                    Severity.HIGH,
                    ACCESS_EXCLUSIVE,
                    table,
                    f"drops {table} with all its data{more}; code still using it fails",
                    fix.drop_table(table),
                )
            )
    elif kind == "OBJECT_INDEX":
        for index in names:
            index_table = state.index_tables.get(bare(index))
            if node.get("concurrent"):
                if state.in_transaction:
                    judgement.hits.append(concurrently_in_transaction("DROP INDEX CONCURRENTLY", index_table, text))
                else:
                    judgement.hits.append(
                        Hit(
                            "drop-index-concurrently",
                            Severity.LOW,
                            SHARE_UPDATE_EXCLUSIVE,
                            index_table,
                            f"drops the index {index} concurrently: queries go on",
                            fix.none_needed(),
                        )
                    )
                if index_table:
                    judgement.locks.append((index_table, SHARE_UPDATE_EXCLUSIVE))
                continue
            judgement.locks.append((index_table or index, ACCESS_EXCLUSIVE))
            judgement.hits.append(
                Hit(
                    "drop-index",
                    Severity.MEDIUM,
                    ACCESS_EXCLUSIVE,
                    index_table,
                    f"DROP INDEX {index} takes ACCESS EXCLUSIVE on {index_table or 'its table'}: it queues behind "
                    "every running query and blocks all others meanwhile",
                    fix.drop_index(index),
                )
            )
    elif kind == "OBJECT_SCHEMA":
        for schema in names:
            more = " and everything in it" if cascade else ""
            judgement.hits.append(
                Hit(
                    "drop-schema",
                    Severity.HIGH,
                    ACCESS_EXCLUSIVE,
                    None,
                    f"drops the schema {schema}{more}",
                    fix.drop_schema(schema),
                    keep_on_new_table=True,
                )
            )
    else:
        drop_object(str(kind), node, text, state, judgement)
    return judgement


def _dropdb(node: Node, text: str, state: ScanState) -> Judgement:
    name = node.get("dbname", "?")
    return Judgement(
        hits=[
            Hit(
                "drop-database",
                Severity.HIGH,
                ACCESS_EXCLUSIVE,
                None,
                f"drops the database {name} and all its data",
                fix.drop_database(name),
                keep_on_new_table=True,
            )
        ]
    )


def _alter_enum(node: Node, text: str, state: ScanState) -> Judgement:
    if node.get("oldVal"):
        type_ = ".".join(strings(node.get("typeName")))
        return Judgement(hits=[rename_enum_value(type_, node["oldVal"], node.get("newVal", "?"))])
    return OPS_HANDLERS["AlterEnumStmt"](node, text, state)


def _explain(node: Node, text: str, state: ScanState) -> Judgement:
    options = {o.get("DefElem", {}).get("defname") for o in node.get("options") or ()}
    query = node.get("query") or {}
    if "analyze" not in options or not query:
        return Judgement()  # plain EXPLAIN plans the query without running it
    ((kind, body),) = query.items()
    return judge_statement(kind, body, text, state)  # EXPLAIN ANALYZE runs it


_HANDLERS: dict[str, Callable[[Node, str, ScanState], Judgement]] = {
    "CreateStmt": _create_table,
    "CreateTableAsStmt": _create_table_as,
    "AlterTableStmt": _alter_table,
    "RenameStmt": _rename,
    "DropStmt": _drop,
    "DropdbStmt": _dropdb,
    **OPS_HANDLERS,
    **OBJECT_HANDLERS,
    "AlterEnumStmt": _alter_enum,
    "ExplainStmt": _explain,
}


def tables_of(kind: str, node: Node) -> list[str]:
    """Tables a statement names (for the live context and the lock preview), bookkeeping excluded."""
    found: list[str] = []
    if kind in ("CreateStmt", "AlterTableStmt", "RenameStmt", "IndexStmt", "UpdateStmt", "DeleteStmt", "InsertStmt"):
        found.append(range_name(node.get("relation")) or "")
        if kind == "AlterTableStmt":
            for item in node.get("cmds") or ():
                definition = item.get("AlterTableCmd", {}).get("def")
                if definition and "Constraint" in definition and definition["Constraint"].get("pktable"):
                    found.append(range_name(definition["Constraint"]["pktable"]) or "")
        if kind == "CreateStmt":
            for element in node.get("tableElts") or ():
                if "Constraint" in element and element["Constraint"].get("pktable"):
                    found.append(range_name(element["Constraint"]["pktable"]) or "")
                for constraint in element.get("ColumnDef", {}).get("constraints") or ():
                    if constraint.get("Constraint", {}).get("pktable"):
                        found.append(range_name(constraint["Constraint"]["pktable"]) or "")
    elif kind in ("TruncateStmt", "LockStmt"):
        found += [range_name(r) or "" for r in node.get("relations") or ()]
    elif kind == "DropStmt" and node.get("removeType") == "OBJECT_TABLE":
        found += [".".join(strings(o["List"].get("items"))) for o in node.get("objects") or () if "List" in o]
    elif kind in ("ClusterStmt", "RefreshMatViewStmt"):
        found.append(range_name(node.get("relation")) or "")
    elif kind == "VacuumStmt":
        found += [range_name(r.get("VacuumRelation", {}).get("relation")) or "" for r in node.get("rels") or ()]
    elif kind == "DropStmt" and node.get("removeType") == "OBJECT_INDEX":
        found += [".".join(strings(o["List"].get("items"))) for o in node.get("objects") or () if "List" in o]
    elif kind == "ReindexStmt" and node.get("kind") in ("REINDEX_OBJECT_TABLE", "REINDEX_OBJECT_INDEX"):
        found.append(range_name(node.get("relation")) or "")
    return [t for t in found if t and t[t.rfind(".") + 1 :] not in BOOKKEEPING_TABLES]  # bare(t)
