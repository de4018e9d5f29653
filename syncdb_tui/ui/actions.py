"""The one registry of bindable actions: bindings, footer, help screen and palette all read it.

Who reads what: ``app.py`` binds the ``app`` scope, ``screens/main.py`` the ``main``
scope, each pane widget its own scope (``environments``, ``timeline``, ``sql``,
``risk``, ``jobs``) so the footer shows what applies where the focus is;
``screens/help.py`` lists every entry; ``commands.py`` offers each entry that has a
palette name, if the screen's ``check_action`` allows it now.  Users can remap a key
by the binding's ``id`` through ``App.set_keymap``.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType


@dataclass(frozen=True)
class ActionSpec:
    """One thing the user can do, with its key, words and where it applies."""

    id: str
    """Stable id for keymaps (``syncdb.migrate``…)."""
    key: str
    """Textual key name(s), comma-separated for alternatives."""
    action: str
    """The action string run by the binding (``migrate``, ``screen.toggle_direction``…)."""
    description: str
    """Short label for the footer."""
    tooltip: str
    """One sentence for the help screen and the footer tooltip."""
    scope: str = "main"
    """``app``, ``main`` or a pane id: where the binding lives."""
    palette: str = ""
    """``area: verb`` name in the command palette (empty: not offered there)."""
    show: bool = True
    """Shown in the footer."""
    priority: bool = False

    @property
    def key_display(self) -> str:
        return display_key(self.key.split(",")[0])


PANES: dict[str, str] = {
    "environments": "Environments",
    "timeline": "Migration timeline",
    "sql": "SQL preview",
    "risk": "Risk checklist",
    "jobs": "Jobs",
}
"""Pane id → title, in the order of the number keys 1-5."""

ACTIONS: tuple[ActionSpec, ...] = (
    # app
    ActionSpec(
        "syncdb.help",
        "question_mark,f1",
        "app.help",
        "Help",
        "Show every key, and what the focused pane does.",
        "app",
        "help: show keys",
    ),
    ActionSpec(
        "syncdb.quit",
        "q",
        "app.quit",
        "Quit",
        "Leave syncdb (running backups are cancelled and cleaned up).",
        "app",
        "app: quit",
    ),
    # main screen: actions on the selected environment
    ActionSpec(
        "syncdb.migrate",
        "m",
        "migrate",
        "Migrate",
        "Upgrade the selected environment to head (asks for its name on a protected one).",
        palette="migrate: upgrade to head",
    ),
    ActionSpec(
        "syncdb.downgrade",
        "d",
        "downgrade",
        "Downgrade",
        "Roll the selected environment back to a revision you choose.",
        palette="migrate: downgrade to a revision",
    ),
    ActionSpec(
        "syncdb.generate",
        "g",
        "generate",
        "Generate",
        "Autogenerate a revision from the models; shows the new revision and its risk.",
        palette="migrate: generate a revision",
    ),
    ActionSpec(
        "syncdb.merge",
        "M",
        "merge",
        "Merge heads",
        "Write the merge revision that joins the history's heads (shown with its risk); migrate applies it.",
        palette="migrate: merge the heads",
        show=False,
    ),
    ActionSpec(
        "syncdb.push",
        "p",
        "push",
        "Push",
        "Apply the models' schema directly (dev only; not offered on protected environments).",
        palette="dev: push the models' schema",
    ),
    ActionSpec(
        "syncdb.seed",
        "s",
        "seed",
        "Seed",
        "Fill the database with test data (not offered on protected environments).",
        palette="dev: seed test data",
    ),
    ActionSpec(
        "syncdb.backup",
        "b",
        "backup",
        "Backup",
        "Take a backup: kind, tables, format and destination.",
        palette="backup: new backup",
    ),
    ActionSpec(
        "syncdb.restore",
        "r",
        "restore",
        "Restore",
        "Restore a backup into a new database or into the environment.",
        palette="backup: restore a backup",
    ),
    ActionSpec(
        "syncdb.report",
        "w",
        "report",
        "Report",
        "Write the Markdown Database Sync Report and show it.",
        palette="report: write the sync report",
    ),
    ActionSpec(
        "syncdb.dry_run",
        "n",
        "toggle_dry_run",
        "Dry run",
        "Toggle dry-run mode: every action shows what it would do and changes nothing.",
        palette="mode: toggle dry run",
    ),
    ActionSpec(
        "syncdb.refresh",
        "f5,ctrl+r",
        "refresh",
        "Refresh",
        "Read every environment's status again (also runs periodically).",
        palette="view: refresh status",
    ),
    ActionSpec(
        "syncdb.switch_env",
        "e",
        "next_environment",
        "Next env",
        "Select the next environment (the target of every action).",
        palette="environment: next environment",
    ),
    ActionSpec(
        "syncdb.explorer",
        "t",
        "explorer",
        "Tables",
        "Open the table explorer on the selected environment.",
        palette="explorer: open the table explorer",
    ),
    ActionSpec(
        "syncdb.range",
        "a",
        "toggle_range",
        "All pending",
        "Preview SQL and risk of everything pending (current → head) instead of the selected revision.",
        palette="view: toggle all pending / selected revision",
    ),
    ActionSpec(
        "syncdb.history",
        "h",
        "history",
        "History",
        "Show the selected environment's ledger: every change syncdb applied there, newest first.",
        palette="view: change history (ledger)",
    ),
    ActionSpec(
        "syncdb.rehearse",
        "R",
        "rehearse",
        "Rehearse",
        "Run the pending migration on a scratch copy of the selected environment and show the locks it took "
        "and how long it ran (the live database is not changed).",
        palette="migrate: rehearse on a scratch copy",
    ),
    ActionSpec(
        "syncdb.focus_environments",
        "1",
        "focus_pane('environments')",
        "Envs",
        "Focus the Environments pane.",
        show=False,
    ),
    ActionSpec(
        "syncdb.focus_timeline", "2", "focus_pane('timeline')", "Timeline", "Focus the Migration timeline.", show=False
    ),
    ActionSpec("syncdb.focus_sql", "3", "focus_pane('sql')", "SQL", "Focus the SQL preview.", show=False),
    ActionSpec("syncdb.focus_risk", "4", "focus_pane('risk')", "Risk", "Focus the Risk checklist.", show=False),
    ActionSpec("syncdb.focus_jobs", "5", "focus_pane('jobs')", "Jobs", "Focus the Jobs pane.", show=False),
    # panes
    ActionSpec(
        "syncdb.sql.direction",
        "u",
        "screen.toggle_direction",
        "Up/Down",
        "Switch the preview between upgrade and downgrade SQL.",
        "sql",
        "sql: toggle upgrade / downgrade",
    ),
    ActionSpec(
        "syncdb.risk.tick",
        "space",
        "tick",
        "Tick",
        "Tick or untick the highlighted checklist item (acknowledge a HIGH finding).",
        "risk",
    ),
    ActionSpec(
        "syncdb.risk.copy",
        "y",
        "copy_mitigations",
        "Copy SQL",
        "Copy the safe ways (SQL mitigations) of the findings shown to the clipboard.",
        "risk",
        "risk: copy the SQL mitigations",
    ),
    ActionSpec(
        "syncdb.risk.safe",
        "S",
        "safe_pattern",
        "Safe pattern",
        "Write the safe multi-revision pattern for the highlighted finding (as generate --safe), in place of its "
        "pending revision; or say why there is none.",
        "risk",
        "risk: write the safe pattern of a finding",
    ),
    ActionSpec(
        "syncdb.jobs.cancel",
        "c",
        "screen.cancel_job",
        "Cancel job",
        "Cancel the highlighted running job (a running migration finishes its revision first).",
        "jobs",
        "jobs: cancel the selected job",
    ),
    # explorer screen (screens/explorer.py): browse, filter, sort, follow, edit
    ActionSpec(
        "explorer.next_page",
        "n",
        "next_page",
        "Next page",
        "Keyset page after this one",
        "explorer",
        "explorer: next page",
    ),
    ActionSpec(
        "explorer.prev_page",
        "p",
        "prev_page",
        "Prev page",
        "Keyset page before this one",
        "explorer",
        "explorer: prev page",
    ),
    ActionSpec("explorer.first_page", "g", "first_page", "First", "First page", "explorer", "explorer: first"),
    ActionSpec("explorer.last_page", "G", "last_page", "Last", "Last page", "explorer", "explorer: last"),
    ActionSpec(
        "explorer.sort", "o", "sort", "Sort", "Sort by the current column: asc, desc, off", "explorer", "explorer: sort"
    ),
    ActionSpec(
        "explorer.filter", "f", "add_filter", "Filter", "Add a filter (values bound)", "explorer", "explorer: filter"
    ),
    ActionSpec(
        "explorer.clear_filters",
        "F",
        "clear_filters",
        "Unfilter",
        "Remove all filters",
        "explorer",
        "explorer: unfilter",
    ),
    ActionSpec(
        "explorer.row_detail", "v", "row_detail", "Row", "Show the whole row (also Enter)", "explorer", "explorer: row"
    ),
    ActionSpec(
        "explorer.follow_fk",
        "k",
        "follow_fk",
        "Follow FK",
        "Open the referenced row",
        "explorer",
        "explorer: follow fk",
    ),
    ActionSpec(
        "explorer.back", "b", "back", "Back", "Back to where the foreign key was followed", "explorer", "explorer: back"
    ),
    ActionSpec(
        "explorer.copy_json", "y", "copy_json", "Copy JSON", "Copy the row as JSON", "explorer", "explorer: copy json"
    ),
    ActionSpec(
        "explorer.export",
        "e",
        "export",
        "Export CSV",
        "Export the filtered view to CSV",
        "explorer",
        "explorer: export csv",
    ),
    ActionSpec(
        "explorer.count", "c", "count", "Count", "Exact count of the filtered view", "explorer", "explorer: count"
    ),
    ActionSpec(
        "explorer.structure",
        "s",
        "toggle_structure",
        "Structure",
        "Columns, indexes, keys",
        "explorer",
        "explorer: structure",
    ),
    ActionSpec(
        "explorer.ddl", "D", "show_ddl", "CREATE", "The table's CREATE statement", "explorer", "explorer: create"
    ),
    ActionSpec(
        "explorer.reload", "r", "reload", "Reload", "Reload tables and the page", "explorer", "explorer: reload"
    ),
    ActionSpec("explorer.edit_cell", "u", "edit_cell", "Edit", "Update the current cell", "explorer", "explorer: edit"),
    ActionSpec("explorer.insert_row", "i", "insert_row", "Insert", "Insert a row", "explorer", "explorer: insert"),
    ActionSpec("explorer.mark_row", "x", "mark_row", "Mark", "Mark the row for deletion", "explorer", "explorer: mark"),
    ActionSpec(
        "explorer.delete_rows", "delete", "delete_rows", "Delete", "Delete marked rows", "explorer", "explorer: delete"
    ),
    ActionSpec(
        "explorer.cancel",
        "escape",
        "cancel",
        "Cancel/back",
        "Cancel the running query; else go back; else close the explorer",
        "explorer",
        "explorer: cancel/back",
    ),
    ActionSpec(
        "explorer.find_table",
        "slash",
        "focus_find",
        "Find table",
        "Filter the table list",
        "explorer",
        "explorer: find table",
    ),
    ActionSpec("explorer.tables", "t", "focus_tree", "Tables", "Focus the table list", "explorer", "explorer: tables"),
    ActionSpec(
        "explorer.keys", "question_mark", "keys", "Keys", "List every explorer key", "explorer", "explorer: keys"
    ),
)

KEY_NAMES = {"question_mark": "?", "slash": "/", "space": "space", "delete": "del", "escape": "esc", "enter": "enter"}
"""Textual key names as people write them."""


def display_key(key: str) -> str:
    """One Textual key name as shown to people: ``question_mark`` → ``?``, ``ctrl+r`` → ``^r``."""
    key = key.strip()
    if key.startswith("ctrl+"):
        return "^" + display_key(key[5:])
    return KEY_NAMES.get(key, key)


def display_keys(keys: str) -> str:
    """Comma-separated alternatives as shown to people: ``question_mark,f1`` → ``? / f1``."""
    return " / ".join(display_key(key) for key in keys.split(","))


def bindings(scope: str) -> list[BindingType]:
    """The Textual bindings of one scope, built from :data:`ACTIONS`."""
    return [
        Binding(
            spec.key,
            spec.action,
            spec.description,
            show=spec.show,
            key_display=spec.key_display,
            priority=spec.priority,
            tooltip=spec.tooltip,
            id=spec.id,
        )
        for spec in ACTIONS
        if spec.scope == scope
    ]


def palette_actions(scopes: tuple[str, ...] = ("app", "main", *PANES)) -> list[ActionSpec]:
    """Entries offered in the command palette of the screens that own ``scopes``."""
    return [spec for spec in ACTIONS if spec.palette and spec.scope in scopes]
