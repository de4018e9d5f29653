"""The Risk checklist: findings coloured by severity, then the operator's checklist.

The screen calls :meth:`RiskChecklist.show_findings` with the findings of the
selected revision (or of everything pending); each HIGH finding becomes an
"acknowledge" item in the checklist under the standing operator items (backup
taken, code references removed, tested on staging, …).  Ticks are kept per
environment across redraws; :meth:`unacknowledged` tells the screen which HIGH
findings still need a tick before a protected environment may be migrated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.containers import Vertical, VerticalScroll
from textual.widgets import SelectionList, Static
from textual.widgets.selection_list import Selection

from syncdb_tui.ui.actions import bindings

if TYPE_CHECKING:
    from textual.app import ComposeResult

SEVERITY_STYLES = {"HIGH": "bold red", "MEDIUM": "bold yellow", "LOW": "green"}
OPERATOR_CHECKLIST: tuple[tuple[str, str], ...] = (
    ("backup", "A backup of this environment was taken (or backup before migrate is on)"),
    ("code", "Application code no longer references dropped or renamed columns/tables"),
    ("staging", "Tested on staging with production-like data"),
    ("rollback", "The downgrade path was reviewed (or a restore plan exists)"),
    ("window", "The team knows; long locks fall in a quiet window"),
)
"""The standing checklist an operator ticks before touching a shared environment."""

Item = tuple[str, Any]
"""(revision, Finding) as the screen passes them."""


def finding_key(revision: str, finding: Any) -> str:
    return f"{revision}:{finding.rule}:{finding.line}:{finding.table}"


def severity_name(finding: Any) -> str:
    severity = finding.severity
    return getattr(severity, "name", str(severity))


class RiskChecklist(Vertical):
    """Findings of the selected revision (or all pending) and the operator's ticks."""

    BINDINGS = bindings("risk")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._findings_view = Static(Text("no revision selected", style="dim"), id="risk-findings")
        self._findings_scroll = VerticalScroll(self._findings_view, id="risk-findings-scroll", can_focus=False)
        self._checklist: SelectionList[str] = SelectionList(id="risk-ticks")
        self._env_name = ""
        self._ticks: dict[str, set[str]] = {}
        self._rebuilding = False
        self._shown_shape: tuple[object, ...] = ()
        self.findings: list[Item] = []

    def compose(self) -> ComposeResult:
        yield self._findings_scroll
        yield self._checklist

    def show_findings(self, env_name: str, title: str, findings: Sequence[Item], note: str = "") -> None:
        """Show ``findings`` for ``env_name`` and rebuild the checklist under them."""
        self._env_name = env_name
        self.findings = list(findings)
        self.border_subtitle = title
        self._findings_view.update(self._render_findings(note))
        self._findings_scroll.scroll_home(animate=False)
        ticks = self._ticks.setdefault(env_name, set())
        options = [
            Selection(
                Text.assemble(("ack HIGH ", "bold red"), f"{finding.rule} on {finding.table or '?'} ({revision[:8]})"),
                finding_key(revision, finding),
                finding_key(revision, finding) in ticks,
            )
            for revision, finding in self.findings
            if severity_name(finding) == "HIGH"
        ]
        options += [Selection(text, key, key in ticks) for key, text in OPERATOR_CHECKLIST]
        shape = (env_name, tuple((option.value, option.initial_state) for option in options))
        if shape == self._shown_shape:
            return
        self._shown_shape = shape
        self._rebuilding = True
        try:
            self._checklist.clear_options()
            self._checklist.add_options(options)
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
        self._checklist.select_all()
        self._shown_shape = ()

    def action_tick(self) -> None:
        highlighted = self._checklist.highlighted
        if highlighted is not None:
            self._checklist.toggle(self._checklist.get_option_at_index(highlighted).value)

    def _render_findings(self, note: str) -> Text:
        if not self.findings:
            return Text(note or "no findings", style="green" if not note else "italic yellow")
        text = Text()
        for revision, finding in self.findings:
            name = severity_name(finding)
            style = SEVERITY_STYLES.get(name, "")
            text.append(f"{name:<6} ", style=style)
            text.append(finding.rule, style=style)
            text.append(f"  {finding.lock or ''}  {revision[:10]}\n", style="dim")
            text.append(f"       {finding.message}\n")
            if finding.mitigation:
                text.append(f"       → {finding.mitigation}\n", style="italic")
        text.rstrip()
        return text

    @on(SelectionList.SelectedChanged)
    def _keep_ticks(self, event: SelectionList.SelectedChanged[str]) -> None:
        event.stop()
        if self._rebuilding or not self._env_name:
            return
        shown = {finding_key(rev, f) for rev, f in self.findings} | {key for key, _ in OPERATOR_CHECKLIST}
        ticks = self._ticks.setdefault(self._env_name, set())
        ticks.difference_update(shown)
        ticks.update(self._checklist.selected)
        self._shown_shape = ()
