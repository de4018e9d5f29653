"""The Risk checklist: findings worst first, then the operator's checklist.

The screen calls :meth:`RiskChecklist.show_findings` with the findings of the
selected revision (or of everything pending).  Findings are sorted worst first,
each with its severity word in a fixed column, rule, lock, table, what happens and
the safe way as highlighted SQL (``y`` copies those SQL mitigations).  Each HIGH
finding becomes an "ack HIGH" item at the top of the checklist, above the standing
operator items (backup taken, code references removed, tested on staging, …).
Focusing the pane puts the cursor on the first unticked HIGH item, so ``4`` then
``space`` acknowledges it; items read ``[x]``/``[ ]``, not only in colour.  Ticks
are kept per environment across redraws; :meth:`acknowledged` tells the screen
which HIGH findings the operator acknowledged.  PageUp/PageDown scroll the findings
while the cursor stays in the checklist; Tab focuses the findings themselves.  ``S``
asks the screen (a :class:`RiskChecklist.SafePatternRequested` message) to write the
safe pattern of the highlighted HIGH item's finding, else of the worst finding that may
have one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from syncdb_tui.ui.actions import bindings
from syncdb_tui.ui.severity import severity_style, severity_text
from syncdb_tui.ui.widgets.sql_preview import HighlightedSql

if TYPE_CHECKING:
    from textual.app import ComposeResult

SEVERITY_ORDER = {"HIGH": 0, "MEDIUM": 1, "LOW": 2}
OPERATOR_CHECKLIST: tuple[tuple[str, str], ...] = (
    ("backup", "backup taken (or backup before migrate on)"),
    ("code", "app code no longer uses dropped/renamed names"),
    ("staging", "tested on staging with production-like data"),
    ("rollback", "downgrade path reviewed (or a restore plan)"),
    ("window", "team told; long locks in a quiet window"),
)
"""The standing checklist an operator ticks before touching a shared environment."""

Item = tuple[str, Any]
"""(revision, Finding) as the screen passes them."""


def finding_key(revision: str, finding: Any) -> str:
    return f"{revision}:{finding.rule}:{finding.line}:{finding.table}"


def severity_name(finding: Any) -> str:
    severity = finding.severity
    return getattr(severity, "name", str(severity))


def worst_first(findings: Sequence[Item]) -> list[Item]:
    """``findings`` by severity (HIGH first), keeping the order of the SQL within a level."""
    return sorted(findings, key=lambda item: SEVERITY_ORDER.get(severity_name(item[1]), 3))


def mitigation_script(findings: Sequence[Item]) -> str:
    """The safe ways of ``findings`` as one SQL script, each under a comment naming its finding."""
    parts = [
        f"-- {severity_name(finding)} {finding.rule} on {finding.table or '?'} ({revision})\n"
        f"{finding.mitigation.strip()}\n"
        for revision, finding in findings
        if finding.mitigation.strip()
    ]
    return "\n".join(parts)


class TickList(OptionList):
    """The checklist: ``[x]``/``[ ]`` items ticked with space or Enter; PageUp/PageDown scroll the findings."""

    BINDINGS = [
        Binding("pageup", "scroll_findings(-1)", "Findings up", show=False),
        Binding("pagedown", "scroll_findings(1)", "Findings down", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.texts: dict[str, Text] = {}
        self.ticked: set[str] = set()

    def set_items(self, items: Sequence[tuple[str, Text]], ticked: set[str]) -> None:
        """Show ``items`` (key, text); the ones in ``ticked`` as ticked."""
        keep = self.highlighted_option.id if self.highlighted_option is not None else None
        self.texts = dict(items)
        self.ticked = {key for key in ticked if key in self.texts}
        self.set_options([Option(self._prompt(key), id=key) for key, _ in items])
        if keep in self.texts:
            self.highlighted = self.get_option_index(keep)

    @property
    def selected(self) -> list[str]:
        return [key for key in self.texts if key in self.ticked]

    def toggle(self, key: str) -> None:
        if key not in self.texts:
            return
        self.ticked.symmetric_difference_update({key})
        self.replace_option_prompt(key, self._prompt(key))
        self.post_message(RiskChecklist.Ticked())

    def toggle_highlighted(self) -> None:
        option = self.highlighted_option
        if option is not None and option.id is not None:
            self.toggle(option.id)

    def _prompt(self, key: str) -> Text:
        mark = "[x] " if key in self.ticked else "[ ] "
        return Text.assemble((mark, "bold"), self.texts[key])

    def action_select(self) -> None:
        self.toggle_highlighted()

    def action_scroll_findings(self, direction: int) -> None:
        checklist = next((node for node in self.ancestors if isinstance(node, RiskChecklist)), None)
        if checklist is not None:
            checklist.scroll_findings(direction)


class RiskChecklist(Vertical):
    """Findings of the selected revision (or all pending) and the operator's ticks."""

    BINDINGS = bindings("risk")

    class Ticked(Message):
        """An item was ticked or unticked (the checklist keeps the ticks itself)."""

    class SafePatternRequested(Message):
        """The operator asked for the safe pattern of a finding (``S``); the screen runs it."""

        def __init__(self, revision: str, rule: str, table: str | None) -> None:
            super().__init__()
            self.revision = revision
            self.rule = rule
            self.table = table

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._findings_view = Static(Text("no revision selected", style="dim"), id="risk-findings")
        self._findings_scroll = VerticalScroll(self._findings_view, id="risk-findings-scroll", can_focus=True)
        self._checklist = TickList(id="risk-ticks")
        self._env_name = ""
        self._ticks: dict[str, set[str]] = {}
        self._rebuilding = False
        self._shown_shape: tuple[object, ...] = ()
        self.findings: list[Item] = []

    def compose(self) -> ComposeResult:
        yield self._findings_scroll
        yield self._checklist

    @property
    def tick_list(self) -> TickList:
        return self._checklist

    def focus_checklist(self) -> None:
        """Focus the checklist with the cursor on the first unticked HIGH item (else the first item)."""
        ticks = self._checklist
        ticks.focus()
        if not ticks.option_count:
            return
        first = 0
        for index in range(ticks.option_count):
            key = ticks.get_option_at_index(index).id or ""
            if key not in dict(OPERATOR_CHECKLIST) and key not in ticks.ticked:
                first = index
                break
        ticks.highlighted = first

    def scroll_findings(self, direction: int) -> None:
        scroll = self._findings_scroll
        scroll.scroll_to(y=scroll.scroll_y + direction * max(1, scroll.size.height - 1), animate=False)

    def show_findings(self, env_name: str, title: str, findings: Sequence[Item], note: str = "") -> None:
        """Show ``findings`` for ``env_name`` and rebuild the checklist under them."""
        self._env_name = env_name
        self.findings = worst_first(findings)
        self.border_subtitle = title
        self._findings_view.update(self._render_findings(note))
        self._findings_scroll.scroll_home(animate=False)
        ticks = self._ticks.setdefault(env_name, set())
        no_color = self.app.no_color
        items = [
            (
                finding_key(revision, finding),
                Text.assemble(
                    ("ack HIGH", severity_style("HIGH", no_color=no_color)),
                    f" {finding.rule} on {finding.table or '?'} ({revision[:8]})",
                ),
            )
            for revision, finding in self.findings
            if severity_name(finding) == "HIGH"
        ]
        items += [(key, Text(text)) for key, text in OPERATOR_CHECKLIST]
        shape = (env_name, tuple((key, key in ticks) for key, _ in items))
        if shape == self._shown_shape:
            return
        self._shown_shape = shape
        self._rebuilding = True
        try:
            self._checklist.set_items(items, ticks)
        finally:
            self._rebuilding = False

    def unacknowledged(self, env_name: str, findings: Sequence[Item]) -> list[str]:
        """Keys of the HIGH ``findings`` not yet ticked for ``env_name``."""
        ticks = self._ticks.get(env_name, set())
        return [
            finding_key(revision, finding)
            for revision, finding in findings
            if severity_name(finding) == "HIGH" and finding_key(revision, finding) not in ticks
        ]

    def acknowledged(self, env_name: str, findings: Sequence[Item]) -> list[str]:
        """The policy's keys (``revision:rule``) of the HIGH ``findings`` whose every item is ticked."""
        ticks = self._ticks.get(env_name, set())
        high = [(revision, finding) for revision, finding in findings if severity_name(finding) == "HIGH"]
        unticked = {f"{rev}:{f.rule}" for rev, f in high if finding_key(rev, f) not in ticks}
        return sorted({f"{rev}:{f.rule}" for rev, f in high} - unticked)

    def acknowledge_all(self, env_name: str) -> None:
        """Tick every HIGH finding shown (used by tests and the palette's explicit ack)."""
        ticks = self._ticks.setdefault(env_name, set())
        ticks.update(finding_key(rev, f) for rev, f in self.findings if severity_name(f) == "HIGH")
        self._shown_shape = ()
        self.show_findings(env_name, str(self.border_subtitle or ""), self.findings)

    def action_tick(self) -> None:
        self._checklist.toggle_highlighted()

    def finding_for_safe_pattern(self) -> Item | None:
        """The highlighted HIGH item's finding, else the worst finding that may have a safe pattern, else the worst."""
        from syncdb_tui.core.project.safe_patterns import PATTERN_RULES

        option = self._checklist.highlighted_option
        if option is not None and option.id:
            for revision, finding in self.findings:
                if finding_key(revision, finding) == option.id:
                    return revision, finding
        for item in self.findings:
            if item[1].rule in PATTERN_RULES:
                return item
        return self.findings[0] if self.findings else None

    def action_safe_pattern(self) -> None:
        item = self.finding_for_safe_pattern()
        if item is None:
            self.notify("no finding here to write a safe pattern for", severity="warning")
            return
        revision, finding = item
        self.post_message(self.SafePatternRequested(revision, finding.rule, finding.table))

    def action_copy_mitigations(self) -> None:
        """Copy the safe ways of the findings shown, as SQL (OSC 52: works over SSH in most terminals)."""
        script = mitigation_script(self.findings)
        if not script:
            self.notify("no SQL mitigation to copy here", severity="warning")
            return
        self.app.copy_to_clipboard(script)
        count = script.count("\n-- ") + 1
        self.notify(f"copied {count} mitigation(s) as SQL", timeout=3)

    def _render_findings(self, note: str) -> RenderableType:
        if not self.findings:
            return Text(note or "no findings", style="dim" if not note else "italic")
        no_color = self.app.no_color
        dark = self.app.current_theme.dark
        parts: list[RenderableType] = []
        for revision, finding in self.findings:
            name = severity_name(finding)
            head = Text(no_wrap=False)
            head.append_text(severity_text(name, no_color=no_color))
            head.append(" ")
            head.append(finding.rule, style="bold")
            head.append(f" on {finding.table or '?'}")
            head.append(f"\n       {finding.lock or 'no'} lock · {revision[:12]} line {finding.line}", style="italic")
            parts.append(head)
            parts.append(Padding(Text(finding.message), (0, 0, 0, 7)))
            if finding.mitigation.strip():
                parts.append(Text("       safe way (y copies):", style="dim"))
                parts.append(
                    HighlightedSql(
                        finding.mitigation.strip(),
                        "sql",
                        theme="monokai" if dark else "default",
                        word_wrap=True,
                        background_color="default",
                        padding=(0, 0, 0, 7),
                    )
                )
            parts.append(Text(""))
        return Group(*parts[:-1])

    @on(Ticked)
    def _keep_ticks(self, event: Ticked) -> None:
        event.stop()
        if self._rebuilding or not self._env_name:
            return
        shown = {finding_key(rev, f) for rev, f in self.findings} | {key for key, _ in OPERATOR_CHECKLIST}
        ticks = self._ticks.setdefault(self._env_name, set())
        ticks.difference_update(shown)
        ticks.update(self._checklist.selected)
        self._shown_shape = ()
