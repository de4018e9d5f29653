"""Rules for indexes, data changes and operations (VACUUM, CLUSTER, REFRESH, LOCK, REINDEX, enums)."""

from __future__ import annotations

from collections.abc import Callable

from syncdb_tui.core.risk import mitigations as fix
from syncdb_tui.core.risk.model import (
    ACCESS_EXCLUSIVE,
    BOOKKEEPING_TABLES,
    LOCK_MODES,
    LOCK_STRENGTH,
    NO_LOCK,
    ROW_EXCLUSIVE,
    SHARE,
    SHARE_UPDATE_EXCLUSIVE,
    UNKNOWN_LOCK,
    Hit,
    Judgement,
    Node,
    ScanState,
    Severity,
    bare,
    range_name,
    strings,
)


def concurrently_in_transaction(what: str, table: str | None, text: str) -> Hit:
    return Hit(
        "concurrently-in-transaction",
        Severity.HIGH,
        SHARE_UPDATE_EXCLUSIVE,
        table,
        f"{what} cannot run inside a transaction block: the migration fails at this statement",
        fix.outside_transaction(text),
        keep_on_new_table=True,
    )


def _index(node: Node, text: str, state: ScanState) -> Judgement:
    table = range_name(node.get("relation"))
    if table is None or bare(table) in BOOKKEEPING_TABLES:
        return Judgement(skip=True)
    name = node.get("idxname")
    if name:
        state.index_tables[bare(name)] = table
    judgement = Judgement()
    label = name or "an index"
    if node.get("concurrent"):
        judgement.locks.append((table, SHARE_UPDATE_EXCLUSIVE))
        if state.in_transaction:
            judgement.hits.append(concurrently_in_transaction("CREATE INDEX CONCURRENTLY", table, text))
        else:
            judgement.hits.append(
                Hit(
                    "create-index-concurrently",
                    Severity.LOW,
                    SHARE_UPDATE_EXCLUSIVE,
                    table,
                    f"builds {label} concurrently: reads and writes go on (if it fails, drop the INVALID index "
                    "and retry)",
                    fix.none_needed(),
                )
            )
        return judgement
    judgement.locks.append((table, SHARE))
    unique = "unique index" if node.get("unique") else "index"
    judgement.hits.append(
        Hit(
            "create-index",
            Severity.MEDIUM,
            SHARE,
            table,
            f"builds the {unique} {label} without CONCURRENTLY: writes to {table} wait for the whole build",
            fix.create_index_concurrently(text),
            scales=True,
        )
    )
    return judgement


def _truncate(node: Node, text: str, state: ScanState) -> Judgement:
    judgement = Judgement()
    cascade = node.get("behavior") == "DROP_CASCADE"
    for relation in node.get("relations") or ():
        table = range_name(relation)
        if table is None or bare(table) in BOOKKEEPING_TABLES:
            continue
        judgement.locks.append((table, ACCESS_EXCLUSIVE))
        if cascade:
            judgement.hits.append(
                Hit(
                    "truncate-cascade",
                    Severity.HIGH,
                    ACCESS_EXCLUSIVE,
                    table,
                    f"TRUNCATE {table} CASCADE also empties every table with a foreign key to it",
                    fix.truncate(table),
                )
            )
        else:
            judgement.hits.append(
                Hit(
                    "truncate",
                    Severity.HIGH,
                    ACCESS_EXCLUSIVE,
                    table,
                    f"TRUNCATE empties {table} under ACCESS EXCLUSIVE",
                    fix.truncate(table),
                )
            )
    if not judgement.locks:
        judgement.skip = True
    return judgement


def _update(node: Node, text: str, state: ScanState) -> Judgement:
    return _dml(node, text, "UPDATE", "update-without-where")


def _delete(node: Node, text: str, state: ScanState) -> Judgement:
    return _dml(node, text, "DELETE", "delete-without-where")


def _dml(node: Node, text: str, verb: str, rule: str) -> Judgement:
    table = range_name(node.get("relation"))
    if table is None or bare(table) in BOOKKEEPING_TABLES:
        return Judgement(skip=True)
    judgement = Judgement(locks=[(table, ROW_EXCLUSIVE)], dml_table=table)
    if node.get("whereClause") is None:
        effect = "changes" if verb == "UPDATE" else "deletes"
        judgement.hits.append(
            Hit(
                rule,
                Severity.HIGH,
                ROW_EXCLUSIVE,
                table,
                f"{verb} without WHERE {effect} every row of {table} in one transaction",
                fix.batched_dml(
                    table,
                    verb,
                    text,
                    not any(node.get(k) for k in ("returningList", "fromClause", "usingClause", "withClause")),
                ),
            )
        )
    return judgement


def _insert(node: Node, text: str, state: ScanState) -> Judgement:
    table = range_name(node.get("relation"))
    if table is None or bare(table) in BOOKKEEPING_TABLES:
        return Judgement(skip=True)
    select = node.get("selectStmt", {}).get("SelectStmt", {})
    from_query = bool(select.get("fromClause"))
    return Judgement(locks=[(table, ROW_EXCLUSIVE)], dml_table=table if from_query else None)


def _vacuum(node: Node, text: str, state: ScanState) -> Judgement:
    if not node.get("is_vacuumcmd"):
        return Judgement()
    options = {o.get("DefElem", {}).get("defname") for o in node.get("options") or ()}
    tables = [range_name(r.get("VacuumRelation", {}).get("relation")) for r in node.get("rels") or ()]
    tables = [t for t in tables if t]
    judgement = Judgement()
    if state.in_transaction:
        judgement.hits.append(
            Hit(
                "vacuum-in-transaction",
                Severity.HIGH,
                UNKNOWN_LOCK,
                tables[0] if tables else None,
                "VACUUM cannot run inside a transaction block: the migration fails at this statement",
                fix.outside_transaction(text),
                keep_on_new_table=True,
            )
        )
    if "full" in options:
        for table in tables or [None]:
            if table:
                judgement.locks.append((table, ACCESS_EXCLUSIVE))
            judgement.hits.append(
                Hit(
                    "vacuum-full",
                    Severity.HIGH,
                    ACCESS_EXCLUSIVE,
                    table,
                    f"VACUUM FULL rewrites {table or 'every table of the database'} under ACCESS EXCLUSIVE",
                    fix.vacuum_full(table),
                    scales=table is not None,
                )
            )
    return judgement


def _cluster(node: Node, text: str, state: ScanState) -> Judgement:
    table = range_name(node.get("relation"))
    judgement = Judgement()
    if table:
        judgement.locks.append((table, ACCESS_EXCLUSIVE))
    judgement.hits.append(
        Hit(
            "cluster",
            Severity.HIGH,
            ACCESS_EXCLUSIVE,
            table,
            f"CLUSTER rewrites {table or 'every clustered table'} in index order under ACCESS EXCLUSIVE",
            fix.cluster(table),
            scales=table is not None,
        )
    )
    return judgement


def _refresh(node: Node, text: str, state: ScanState) -> Judgement:
    view = range_name(node.get("relation"))
    if node.get("concurrent"):
        return Judgement()  # EXCLUSIVE on a materialized view: reads go on, nothing writes to it
    return Judgement(
        locks=[(view, ACCESS_EXCLUSIVE)] if view else [],
        hits=[
            Hit(
                "refresh-materialized-view",
                Severity.MEDIUM,
                ACCESS_EXCLUSIVE,
                view,
                f"REFRESH MATERIALIZED VIEW {view} without CONCURRENTLY blocks every read of it until the refresh ends",
                fix.refresh_concurrently(view or "?"),
                scales=True,
            )
        ],
    )


def _lock(node: Node, text: str, state: ScanState) -> Judgement:
    mode = LOCK_MODES.get(int(node.get("mode", 8)), ACCESS_EXCLUSIVE)
    judgement = Judgement()
    strong = LOCK_STRENGTH[mode] >= 5
    for relation in node.get("relations") or ():
        table = range_name(relation)
        if table is None:
            continue
        judgement.locks.append((table, mode))
        if not state.in_transaction:
            severity, message = (
                Severity.HIGH,
                f"LOCK TABLE {table} outside a transaction block fails (it only works inside BEGIN … COMMIT)",
            )
        elif strong:
            severity, message = (
                Severity.MEDIUM,
                f"LOCK TABLE {table} IN {mode} MODE blocks "
                f"{'every query' if mode == ACCESS_EXCLUSIVE else 'writes'} on it until the transaction ends",
            )
        else:
            severity, message = Severity.LOW, f"LOCK TABLE {table} IN {mode} MODE only blocks DDL on it"
        judgement.hits.append(Hit("lock-table", severity, mode, table, message, fix.lock_table(table, mode)))
    return judgement


def _alter_enum(node: Node, text: str, state: ScanState) -> Judgement:
    type_ = ".".join(strings(node.get("typeName")))
    if not node.get("newVal") or node.get("oldVal"):
        return Judgement()
    value = node["newVal"]
    version = state.server_version_num
    if not state.in_transaction:
        severity, message = Severity.LOW, f"adds the value {value!r} to the enum {type_} (a catalog change)"
    elif version is not None and version < 120000:
        severity = Severity.HIGH
        message = f"ALTER TYPE {type_} ADD VALUE cannot run inside a transaction block before PostgreSQL 12: it fails"
    elif version is None:
        severity = Severity.MEDIUM
        message = (
            f"ALTER TYPE {type_} ADD VALUE inside a transaction fails before PostgreSQL 12, and the new value "
            "cannot be used until the transaction commits"
        )
    else:
        severity = Severity.LOW
        message = (
            f"adds the value {value!r} to the enum {type_}; it cannot be used in this same transaction (PostgreSQL 12+)"
        )
    return Judgement(
        hits=[
            Hit(
                "enum-add-value",
                severity,
                NO_LOCK,
                None,
                message,
                fix.enum_add_value(text),
                keep_on_new_table=True,
            )
        ]
    )


def _reindex(node: Node, text: str, state: ScanState) -> Judgement:
    kind = node.get("kind", "")
    params = {p.get("DefElem", {}).get("defname") for p in node.get("params") or ()}
    concurrent = "concurrently" in params
    relation = range_name(node.get("relation"))
    table = relation
    if kind == "REINDEX_OBJECT_INDEX" and relation:
        table = state.index_tables.get(bare(relation))
    target = relation or node.get("name") or "the database"
    judgement = Judgement()
    if concurrent:
        if table:
            judgement.locks.append((table, SHARE_UPDATE_EXCLUSIVE))
        if state.in_transaction:
            judgement.hits.append(concurrently_in_transaction("REINDEX CONCURRENTLY", table, text))
        else:
            judgement.hits.append(
                Hit(
                    "reindex-concurrently",
                    Severity.LOW,
                    SHARE_UPDATE_EXCLUSIVE,
                    table,
                    f"rebuilds {target} concurrently: reads and writes go on (PostgreSQL 12+)",
                    fix.none_needed(),
                )
            )
        return judgement
    if table or relation:
        judgement.locks.append((table or relation or "", SHARE))
    wide = kind in ("REINDEX_OBJECT_SCHEMA", "REINDEX_OBJECT_DATABASE", "REINDEX_OBJECT_SYSTEM")
    judgement.hits.append(
        Hit(
            "reindex",
            Severity.HIGH if wide else Severity.MEDIUM,
            SHARE,
            table,
            f"REINDEX {target} blocks writes to {table or 'the tables'} and reads that use the index being rebuilt",
            fix.reindex_concurrently(text),
            scales=table is not None,
        )
    )
    return judgement


OPS_HANDLERS: dict[str, Callable[[Node, str, ScanState], Judgement]] = {
    "IndexStmt": _index,
    "TruncateStmt": _truncate,
    "UpdateStmt": _update,
    "DeleteStmt": _delete,
    "InsertStmt": _insert,
    "VacuumStmt": _vacuum,
    "ClusterStmt": _cluster,
    "RefreshMatViewStmt": _refresh,
    "LockStmt": _lock,
    "AlterEnumStmt": _alter_enum,
    "ReindexStmt": _reindex,
}
