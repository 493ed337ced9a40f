"""Home: the procedure library (filter as you type), the inventory, and runs to resume."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Label, Static

from runbook import library

if TYPE_CHECKING:
    from .app import RunbookApp

RISK = {"low": "low", "medium": "medium", "high": "[b]high[/b]", "critical": "[b red]critical[/]"}


class HomeScreen(Screen[None]):
    """Pick a procedure to run, or a run to resume."""

    BINDINGS = [
        Binding("enter", "open", "Open", show=True),
        Binding("slash", "focus_filter", "Filter", id="filter"),
        Binding("tab", "focus_next", "Next pane", show=False),
        Binding("f5", "refresh", "Refresh", id="refresh"),
        Binding("q", "app.quit", "Quit", id="quit"),
    ]

    app: RunbookApp

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="home"):
            yield Input(placeholder="Filter procedures (vendor, title, source)...", id="filter")
            yield Label("Procedures", classes="pane-title")
            yield DataTable(id="procedures", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="home-bottom"):
                with Vertical(id="runs-pane"):
                    yield Label("Runs (unfinished first; Enter resumes)", classes="pane-title")
                    yield DataTable(id="runs", cursor_type="row")
                with Vertical(id="inventory-pane"):
                    yield Label("Inventory", classes="pane-title")
                    yield Static(id="inventory")
        yield Footer()

    def on_mount(self) -> None:
        procs = self.query_one("#procedures", DataTable)
        procs.add_columns("Vendor", "Title", "Risk", "Source")
        self.query_one("#runs", DataTable).add_columns("Run", "State", "Procedure")
        self.action_refresh()
        procs.focus()

    def action_refresh(self) -> None:
        self.fill_procedures(self.query_one("#filter", Input).value)
        runs = self.query_one("#runs", DataTable)
        runs.clear()
        for r in sorted(self.app.journal.list_runs(), key=lambda r: (r.finished, r.id),
                        reverse=False):
            runs.add_row(r.id, r.state, r.procedure_id, key=r.id)
        inv = self.app.inventory
        if inv is None:
            text = "No inventory loaded (start with --inventory or `runbook demo`)."
        else:
            roles: dict[str, list[str]] = {}
            for t in inv.targets.values():
                for role in t.roles or ("-",):
                    roles.setdefault(role, []).append(t.name)
            text = "\n".join(f"{role}: {', '.join(names)}" for role, names in roles.items())
        self.query_one("#inventory", Static).update(text)

    def fill_procedures(self, needle: str) -> None:
        table = self.query_one("#procedures", DataTable)
        table.clear()
        needle = needle.lower().strip()
        for e in library.catalogue():
            if needle and needle not in f"{e.vendor} {e.title} {e.source} {e.id}".lower():
                continue
            table.add_row(e.vendor, e.title, RISK.get(e.risk, e.risk), e.source, key=e.ref)

    def on_input_changed(self, event: Input.Changed) -> None:
        self.fill_procedures(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#procedures", DataTable).focus()

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        if event.data_table.id == "procedures" and key:
            self.app.open_procedure(key)
        elif event.data_table.id == "runs" and key:
            self.app.open_run(key)

    def action_open(self) -> None:
        focused = self.focused
        if isinstance(focused, DataTable) and focused.row_count:
            key = focused.coordinate_to_cell_key(focused.cursor_coordinate).row_key.value
            if key:
                (self.app.open_procedure if focused.id == "procedures" else self.app.open_run)(key)
