"""The one table of statement kinds: every pglast statement node either has rules or a stated lock.

Who calls what: ``analysis.py`` looks a statement's kind up in :data:`STATEMENT_KINDS`
before judging it; a kind that is not in the table, or an entry marked ``internal``
(never produced by the parser at top level), yields a ``not-judged`` finding — never
silence. ``rules_alter.py`` does the same for ALTER TABLE commands with
:data:`ALTER_TABLE_KINDS`, and ``rules_objects.py`` for the object types of DROP,
RENAME and SET SCHEMA with :data:`OBJECT_KINDS`. ``tests/test_risk_kinds.py`` fails
when pglast knows a kind these tables lack; docs/risk-rules.md lists the
"no lock that matters" entries with their reasons.

An entry is either ``RULES`` (the statement is judged by a rule handler) or a
:class:`Quiet` entry: the lock the statement takes and why it stops no ordinary read
or write for long (the lock still counts for ``missing-lock-timeout`` and
``multiple-access-exclusive-locks`` when it is on a named table).
"""

from __future__ import annotations

from syncdb_tui.core.risk.model import (
    ACCESS_EXCLUSIVE,
    NO_LOCK,
    ROW_EXCLUSIVE,
    SHARE_ROW_EXCLUSIVE,
    SHARE_UPDATE_EXCLUSIVE,
    Record,
    range_name,
)

ACCESS_SHARE = "ACCESS SHARE"


class Quiet(Record):
    """A kind that takes no lock that matters: the lock it takes and why that is harmless.

    ``table_key``: the node key naming the table it locks (``relation``, ``table``), if any.
    """

    __slots__ = ("lock", "table_key", "why")

    def __init__(self, lock: str, why: str, table_key: str | None = None) -> None:
        self.lock = lock
        self.why = why
        self.table_key = table_key

    def __hash__(self) -> int:
        return hash((self.lock, self.why, self.table_key))


RULES = "rules"
"""The kind is judged by a handler in ``rules.py``'s dispatch table (or by the analyser itself)."""

INTERNAL = Quiet(
    NO_LOCK, "not a top-level statement: pglast produces it only inside other nodes; seen alone it is not judged"
)

_NONE_CATALOG = "changes only the catalog entry of a non-table object; no table is locked"
_NONE_SESSION = "affects only this session or the client protocol; no table is locked"
_NONE_GLOBAL = "changes a cluster-wide or database-wide object, not the application's tables"

STATEMENT_KINDS: dict[str, str | Quiet] = {
    # -- judged by rules
    "AlterDomainStmt": RULES,
    "AlterEnumStmt": RULES,
    "AlterExtensionStmt": RULES,
    "AlterObjectSchemaStmt": RULES,
    "AlterTableMoveAllStmt": RULES,
    "AlterTableStmt": RULES,
    "CallStmt": RULES,
    "ClusterStmt": RULES,
    "CopyStmt": RULES,
    "CreateStmt": RULES,
    "CreateTableAsStmt": RULES,
    "CreateTrigStmt": RULES,
    "DeleteStmt": RULES,
    "DoStmt": RULES,
    "DropOwnedStmt": RULES,
    "DropStmt": RULES,
    "DropdbStmt": RULES,
    "ExecuteStmt": RULES,
    "ExplainStmt": RULES,
    "IndexStmt": RULES,
    "InsertStmt": RULES,
    "LockStmt": RULES,
    "MergeStmt": RULES,
    "RefreshMatViewStmt": RULES,
    "ReindexStmt": RULES,
    "RenameStmt": RULES,
    "TransactionStmt": RULES,
    "TruncateStmt": RULES,
    "UpdateStmt": RULES,
    "VacuumStmt": RULES,
    "VariableSetStmt": RULES,
    # -- take no lock that matters
    "AlterCollationStmt": Quiet(NO_LOCK, _NONE_CATALOG),
    "AlterDatabaseRefreshCollStmt": Quiet(NO_LOCK, _NONE_GLOBAL),
    "AlterDatabaseSetStmt": Quiet(NO_LOCK, "a database setting, read by new sessions only"),
    "AlterDatabaseStmt": Quiet(NO_LOCK, _NONE_GLOBAL),
    "AlterDefaultPrivilegesStmt": Quiet(NO_LOCK, "applies to objects created later"),
    "AlterEventTrigStmt": Quiet(NO_LOCK, _NONE_CATALOG),
    "AlterExtensionContentsStmt": Quiet(NO_LOCK, _NONE_CATALOG),
    "AlterFdwStmt": Quiet(NO_LOCK, _NONE_CATALOG),
    "AlterForeignServerStmt": Quiet(NO_LOCK, _NONE_CATALOG),
    "AlterFunctionStmt": Quiet(NO_LOCK, "locks the function's catalog row only; running calls go on"),
    "AlterObjectDependsStmt": Quiet(NO_LOCK, _NONE_CATALOG),
    "AlterOpFamilyStmt": Quiet(NO_LOCK, _NONE_CATALOG),
    "AlterOperatorStmt": Quiet(NO_LOCK, _NONE_CATALOG),
    "AlterOwnerStmt": Quiet(NO_LOCK, "ownership of a non-table object (ALTER TABLE … OWNER TO is an ALTER TABLE)"),
    "AlterPolicyStmt": Quiet(ACCESS_EXCLUSIVE, "catalog only: a brief ACCESS EXCLUSIVE lock on the table", "table"),
    "AlterPublicationStmt": Quiet(SHARE_UPDATE_EXCLUSIVE, "publication membership; reads and writes go on"),
    "AlterRoleSetStmt": Quiet(NO_LOCK, _NONE_GLOBAL),
    "AlterRoleStmt": Quiet(NO_LOCK, _NONE_GLOBAL),
    "AlterSeqStmt": Quiet(NO_LOCK, "locks only the sequence; nextval() callers wait a moment at most"),
    "AlterStatsStmt": Quiet(SHARE_UPDATE_EXCLUSIVE, "planner statistics target; reads and writes go on"),
    "AlterSubscriptionStmt": Quiet(NO_LOCK, _NONE_GLOBAL),
    "AlterSystemStmt": Quiet(NO_LOCK, "writes postgresql.auto.conf; no table is locked"),
    "AlterTSConfigurationStmt": Quiet(NO_LOCK, _NONE_CATALOG),
    "AlterTSDictionaryStmt": Quiet(NO_LOCK, _NONE_CATALOG),
    "AlterTableSpaceOptionsStmt": Quiet(NO_LOCK, _NONE_GLOBAL),
    "AlterTypeStmt": Quiet(NO_LOCK, "options of a base type; no table is locked"),
    "AlterUserMappingStmt": Quiet(NO_LOCK, _NONE_GLOBAL),
    "CheckPointStmt": Quiet(NO_LOCK, "forces a checkpoint (I/O), takes no lock"),
    "ClosePortalStmt": Quiet(NO_LOCK, _NONE_SESSION),
    "CommentStmt": Quiet(SHARE_UPDATE_EXCLUSIVE, "COMMENT ON a table takes SHARE UPDATE EXCLUSIVE; traffic goes on"),
    "CompositeTypeStmt": Quiet(NO_LOCK, "creates a new type"),
    "ConstraintsSetStmt": Quiet(NO_LOCK, _NONE_SESSION),
    "CreateAmStmt": Quiet(NO_LOCK, "creates a new object"),
    "CreateCastStmt": Quiet(NO_LOCK, "creates a new object"),
    "CreateConversionStmt": Quiet(NO_LOCK, "creates a new object"),
    "CreateDomainStmt": Quiet(NO_LOCK, "creates a new type"),
    "CreateEnumStmt": Quiet(NO_LOCK, "creates a new type"),
    "CreateEventTrigStmt": Quiet(NO_LOCK, "creates a new object"),
    "CreateExtensionStmt": Quiet(NO_LOCK, "creates new objects only (its script may not touch existing tables)"),
    "CreateFdwStmt": Quiet(NO_LOCK, "creates a new object"),
    "CreateForeignServerStmt": Quiet(NO_LOCK, "creates a new object"),
    "CreateForeignTableStmt": Quiet(NO_LOCK, "creates a new (foreign) table"),
    "CreateFunctionStmt": Quiet(
        NO_LOCK, "creating or replacing a function runs none of its body; calls in progress finish with the old body"
    ),
    "CreateOpClassStmt": Quiet(NO_LOCK, "creates a new object"),
    "CreateOpFamilyStmt": Quiet(NO_LOCK, "creates a new object"),
    "CreatePLangStmt": Quiet(NO_LOCK, "creates a new object"),
    "CreatePolicyStmt": Quiet(ACCESS_EXCLUSIVE, "catalog only: a brief ACCESS EXCLUSIVE lock on the table", "table"),
    "CreatePublicationStmt": Quiet(SHARE_UPDATE_EXCLUSIVE, "publication membership; reads and writes go on"),
    "CreateRangeStmt": Quiet(NO_LOCK, "creates a new type"),
    "CreateRoleStmt": Quiet(NO_LOCK, _NONE_GLOBAL),
    "CreateSchemaStmt": Quiet(NO_LOCK, "creates a new schema (and new objects in it)"),
    "CreateSeqStmt": Quiet(NO_LOCK, "creates a new sequence"),
    "CreateStatsStmt": Quiet(SHARE_UPDATE_EXCLUSIVE, "extended statistics; reads and writes go on"),
    "CreateSubscriptionStmt": Quiet(NO_LOCK, _NONE_GLOBAL),
    "CreateTableSpaceStmt": Quiet(NO_LOCK, _NONE_GLOBAL),
    "CreateTransformStmt": Quiet(NO_LOCK, "creates a new object"),
    "CreateUserMappingStmt": Quiet(NO_LOCK, _NONE_GLOBAL),
    "CreatedbStmt": Quiet(NO_LOCK, "creates a new database"),
    "DeallocateStmt": Quiet(NO_LOCK, _NONE_SESSION),
    "DeclareCursorStmt": Quiet(ACCESS_SHARE, "a cursor over a query reads like a SELECT"),
    "DefineStmt": Quiet(NO_LOCK, "creates a new aggregate, operator, type or collation"),
    "DiscardStmt": Quiet(NO_LOCK, _NONE_SESSION),
    "DropRoleStmt": Quiet(NO_LOCK, _NONE_GLOBAL),
    "DropSubscriptionStmt": Quiet(NO_LOCK, _NONE_GLOBAL),
    "DropTableSpaceStmt": Quiet(NO_LOCK, "fails unless the tablespace is empty"),
    "DropUserMappingStmt": Quiet(NO_LOCK, _NONE_GLOBAL),
    "FetchStmt": Quiet(NO_LOCK, _NONE_SESSION),
    "GrantRoleStmt": Quiet(NO_LOCK, _NONE_GLOBAL),
    "GrantStmt": Quiet(NO_LOCK, "privileges are catalog rows; no table lock that blocks traffic"),
    "ImportForeignSchemaStmt": Quiet(NO_LOCK, "creates new foreign tables"),
    "ListenStmt": Quiet(NO_LOCK, _NONE_SESSION),
    "LoadStmt": Quiet(NO_LOCK, _NONE_SESSION),
    "NotifyStmt": Quiet(NO_LOCK, _NONE_SESSION),
    "PrepareStmt": Quiet(NO_LOCK, "prepares a statement without running it (EXECUTE runs it)"),
    "ReassignOwnedStmt": Quiet(NO_LOCK, "ownership changes in the catalog"),
    "RuleStmt": Quiet(ACCESS_EXCLUSIVE, "catalog only: a brief ACCESS EXCLUSIVE lock on the table", "relation"),
    "SecLabelStmt": Quiet(NO_LOCK, _NONE_CATALOG),
    "SelectStmt": Quiet(ACCESS_SHARE, "reads; blocks only ACCESS EXCLUSIVE requests"),
    "UnlistenStmt": Quiet(NO_LOCK, _NONE_SESSION),
    "VariableShowStmt": Quiet(NO_LOCK, _NONE_SESSION),
    "ViewStmt": Quiet(
        ACCESS_EXCLUSIVE, "CREATE OR REPLACE VIEW: a brief ACCESS EXCLUSIVE lock on the view only (catalog change)"
    ),
    # -- never a top-level statement
    "PLAssignStmt": INTERNAL,
    "RawStmt": INTERNAL,
    "ReplicaIdentityStmt": INTERNAL,
    "ReturnStmt": INTERNAL,
    "SetOperationStmt": INTERNAL,
}
"""Every pglast ``*Stmt`` node kind → ``RULES`` or the lock it takes and why it does not matter."""


ALTER_TABLE_KINDS: dict[str, str | Quiet] = {
    # -- judged by rules (rules_alter.ALTER_HANDLERS)
    "AT_AddColumn": RULES,
    "AT_AddConstraint": RULES,
    "AT_AlterColumnType": RULES,
    "AT_AttachPartition": RULES,
    "AT_DetachPartition": RULES,
    "AT_DropColumn": RULES,
    "AT_DropConstraint": RULES,
    "AT_DropNotNull": RULES,
    "AT_EnableRowSecurity": RULES,
    "AT_ForceRowSecurity": RULES,
    "AT_SetAccessMethod": RULES,
    "AT_SetExpression": RULES,
    "AT_SetLogged": RULES,
    "AT_SetNotNull": RULES,
    "AT_SetTableSpace": RULES,
    "AT_SetUnLogged": RULES,
    "AT_ValidateConstraint": RULES,
    # -- catalog-only, a brief lock
    "AT_AddIdentity": Quiet(ACCESS_EXCLUSIVE, "catalog only (existing values stay): a brief ACCESS EXCLUSIVE lock"),
    "AT_AddInherit": Quiet(ACCESS_EXCLUSIVE, "catalog only: a brief ACCESS EXCLUSIVE lock on both tables"),
    "AT_AddOf": Quiet(ACCESS_EXCLUSIVE, "catalog only: a brief ACCESS EXCLUSIVE lock"),
    "AT_AlterColumnGenericOptions": Quiet(ACCESS_EXCLUSIVE, "foreign-table options: catalog only, brief"),
    "AT_AlterConstraint": Quiet(ACCESS_EXCLUSIVE, "deferrability of a constraint: catalog only, brief"),
    "AT_ChangeOwner": Quiet(ACCESS_EXCLUSIVE, "catalog only: a brief ACCESS EXCLUSIVE lock"),
    "AT_ClusterOn": Quiet(SHARE_UPDATE_EXCLUSIVE, "marks the index for CLUSTER; traffic goes on"),
    "AT_ColumnDefault": Quiet(
        ACCESS_EXCLUSIVE, "SET/DROP DEFAULT applies to new rows only: catalog, brief ACCESS EXCLUSIVE"
    ),
    "AT_DetachPartitionFinalize": Quiet(SHARE_UPDATE_EXCLUSIVE, "finishes a concurrent detach; traffic goes on"),
    "AT_DisableRowSecurity": Quiet(ACCESS_EXCLUSIVE, "catalog only: a brief ACCESS EXCLUSIVE lock"),
    "AT_DisableRule": Quiet(ACCESS_EXCLUSIVE, "catalog only: a brief ACCESS EXCLUSIVE lock"),
    "AT_DisableTrig": Quiet(SHARE_ROW_EXCLUSIVE, "catalog only: a brief SHARE ROW EXCLUSIVE lock"),
    "AT_DisableTrigAll": Quiet(SHARE_ROW_EXCLUSIVE, "catalog only: a brief SHARE ROW EXCLUSIVE lock"),
    "AT_DisableTrigUser": Quiet(SHARE_ROW_EXCLUSIVE, "catalog only: a brief SHARE ROW EXCLUSIVE lock"),
    "AT_DropCluster": Quiet(SHARE_UPDATE_EXCLUSIVE, "catalog only; traffic goes on"),
    "AT_DropExpression": Quiet(ACCESS_EXCLUSIVE, "the column keeps its values: catalog only, brief"),
    "AT_DropIdentity": Quiet(ACCESS_EXCLUSIVE, "catalog only: a brief ACCESS EXCLUSIVE lock"),
    "AT_DropInherit": Quiet(ACCESS_EXCLUSIVE, "catalog only: a brief ACCESS EXCLUSIVE lock on both tables"),
    "AT_DropOf": Quiet(ACCESS_EXCLUSIVE, "catalog only: a brief ACCESS EXCLUSIVE lock"),
    "AT_EnableAlwaysRule": Quiet(ACCESS_EXCLUSIVE, "catalog only: a brief ACCESS EXCLUSIVE lock"),
    "AT_EnableAlwaysTrig": Quiet(SHARE_ROW_EXCLUSIVE, "catalog only: a brief SHARE ROW EXCLUSIVE lock"),
    "AT_EnableReplicaRule": Quiet(ACCESS_EXCLUSIVE, "catalog only: a brief ACCESS EXCLUSIVE lock"),
    "AT_EnableReplicaTrig": Quiet(SHARE_ROW_EXCLUSIVE, "catalog only: a brief SHARE ROW EXCLUSIVE lock"),
    "AT_EnableRule": Quiet(ACCESS_EXCLUSIVE, "catalog only: a brief ACCESS EXCLUSIVE lock"),
    "AT_EnableTrig": Quiet(SHARE_ROW_EXCLUSIVE, "catalog only: a brief SHARE ROW EXCLUSIVE lock"),
    "AT_EnableTrigAll": Quiet(SHARE_ROW_EXCLUSIVE, "catalog only: a brief SHARE ROW EXCLUSIVE lock"),
    "AT_EnableTrigUser": Quiet(SHARE_ROW_EXCLUSIVE, "catalog only: a brief SHARE ROW EXCLUSIVE lock"),
    "AT_GenericOptions": Quiet(ACCESS_EXCLUSIVE, "foreign-table options: catalog only, brief"),
    "AT_NoForceRowSecurity": Quiet(ACCESS_EXCLUSIVE, "catalog only: a brief ACCESS EXCLUSIVE lock"),
    "AT_ReplicaIdentity": Quiet(ACCESS_EXCLUSIVE, "catalog only: a brief ACCESS EXCLUSIVE lock"),
    "AT_ReplaceRelOptions": Quiet(SHARE_UPDATE_EXCLUSIVE, "storage parameters; traffic goes on"),
    "AT_ResetOptions": Quiet(SHARE_UPDATE_EXCLUSIVE, "column options; traffic goes on"),
    "AT_ResetRelOptions": Quiet(SHARE_UPDATE_EXCLUSIVE, "storage parameters; traffic goes on"),
    "AT_SetCompression": Quiet(ACCESS_EXCLUSIVE, "applies to new values only: catalog, brief"),
    "AT_SetIdentity": Quiet(ACCESS_EXCLUSIVE, "sequence options of an identity: catalog, brief"),
    "AT_SetOptions": Quiet(SHARE_UPDATE_EXCLUSIVE, "column options; traffic goes on"),
    "AT_SetRelOptions": Quiet(SHARE_UPDATE_EXCLUSIVE, "storage parameters; traffic goes on"),
    "AT_SetStatistics": Quiet(SHARE_UPDATE_EXCLUSIVE, "planner statistics target; traffic goes on"),
    "AT_SetStorage": Quiet(ACCESS_EXCLUSIVE, "applies to new values only: catalog, brief"),
    # -- produced by PostgreSQL internally, never by the parser
    "AT_AddColumnToView": INTERNAL,
    "AT_AddIndex": INTERNAL,
    "AT_AddIndexConstraint": INTERNAL,
    "AT_CookedColumnDefault": INTERNAL,
    "AT_DropOids": INTERNAL,
    "AT_ReAddComment": INTERNAL,
    "AT_ReAddConstraint": INTERNAL,
    "AT_ReAddDomainConstraint": INTERNAL,
    "AT_ReAddIndex": INTERNAL,
    "AT_ReAddStatistics": INTERNAL,
}
"""Every ALTER TABLE command kind → ``RULES`` or the lock it takes and why it does not matter."""


OBJECT_KINDS: dict[str, str] = {
    "OBJECT_ACCESS_METHOD": "access method",
    "OBJECT_AGGREGATE": "aggregate",
    "OBJECT_AMOP": "operator of an access method",
    "OBJECT_AMPROC": "function of an access method",
    "OBJECT_ATTRIBUTE": "attribute",
    "OBJECT_CAST": "cast",
    "OBJECT_COLUMN": "column",
    "OBJECT_COLLATION": "collation",
    "OBJECT_CONVERSION": "conversion",
    "OBJECT_DATABASE": "database",
    "OBJECT_DEFAULT": "default",
    "OBJECT_DEFACL": "default privileges",
    "OBJECT_DOMAIN": "domain",
    "OBJECT_DOMCONSTRAINT": "domain constraint",
    "OBJECT_EVENT_TRIGGER": "event trigger",
    "OBJECT_EXTENSION": "extension",
    "OBJECT_FDW": "foreign-data wrapper",
    "OBJECT_FOREIGN_SERVER": "foreign server",
    "OBJECT_FOREIGN_TABLE": "foreign table",
    "OBJECT_FUNCTION": "function",
    "OBJECT_INDEX": "index",
    "OBJECT_LANGUAGE": "language",
    "OBJECT_LARGEOBJECT": "large object",
    "OBJECT_MATVIEW": "materialized view",
    "OBJECT_OPCLASS": "operator class",
    "OBJECT_OPERATOR": "operator",
    "OBJECT_OPFAMILY": "operator family",
    "OBJECT_PARAMETER_ACL": "parameter privilege",
    "OBJECT_POLICY": "policy",
    "OBJECT_PROCEDURE": "procedure",
    "OBJECT_PUBLICATION": "publication",
    "OBJECT_PUBLICATION_NAMESPACE": "publication schema",
    "OBJECT_PUBLICATION_REL": "publication table",
    "OBJECT_ROLE": "role",
    "OBJECT_ROUTINE": "routine",
    "OBJECT_RULE": "rule",
    "OBJECT_SCHEMA": "schema",
    "OBJECT_SEQUENCE": "sequence",
    "OBJECT_SUBSCRIPTION": "subscription",
    "OBJECT_STATISTIC_EXT": "statistics object",
    "OBJECT_TABCONSTRAINT": "constraint",
    "OBJECT_TABLE": "table",
    "OBJECT_TABLESPACE": "tablespace",
    "OBJECT_TRANSFORM": "transform",
    "OBJECT_TRIGGER": "trigger",
    "OBJECT_TSCONFIGURATION": "text search configuration",
    "OBJECT_TSDICTIONARY": "text search dictionary",
    "OBJECT_TSPARSER": "text search parser",
    "OBJECT_TSTEMPLATE": "text search template",
    "OBJECT_TYPE": "type",
    "OBJECT_USER_MAPPING": "user mapping",
    "OBJECT_VIEW": "view",
}
"""Every object type DROP / RENAME / SET SCHEMA can name → its name in messages (see rules_objects.py)."""


def quiet_lock_table(entry: Quiet, node: dict[str, object]) -> str | None:
    """The table a quiet statement locks (``schema.table``), if its entry says where to find it."""
    if entry.table_key is None:
        return None
    value = node.get(entry.table_key)
    return range_name(value) if isinstance(value, dict) else None


__all__ = [
    "ACCESS_SHARE",
    "ALTER_TABLE_KINDS",
    "INTERNAL",
    "OBJECT_KINDS",
    "ROW_EXCLUSIVE",
    "RULES",
    "STATEMENT_KINDS",
    "Quiet",
    "quiet_lock_table",
]
