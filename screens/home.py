"""The Home screen: the procedure library (filter as you type), the runs, the inventory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header, Static, TabbedContent, TabPane

from .base import RunbookScreen
from .footer import Footer
from .format import STATE_STYLE, icon, label, short_time
from .modals import confirm_resume
from .widgets import Field

if TYPE_CHECKING:
    from runbook.library import Entry

    from .backend import Backend

RISK_STYLE = {"low": "green", "medium": "yellow", "high": "red", "critical": "bold red"}


class HomeScreen(RunbookScreen[None]):
    """Where every session starts."""

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="home.filter"),
        Binding("p", "tab('procedures')", "Procedures", id="home.procedures"),
        Binding("u", "tab('runs')", "Runs", id="home.runs"),
        Binding("i", "tab('inventory')", "Inventory", id="home.inventory"),
        Binding("o", "open_run", "Open run", id="home.open"),
        Binding("r", "resume", "Resume", id="home.resume",
                tooltip="Resume the selected unfinished run (asks first)"),
        Binding("g", "reload", "Reload", id="home.reload"),
    ]
    COMMANDS_LIST = [("Filter procedures", "Type to filter the library", "filter"),
                     ("Show runs", "Unfinished runs first", "tab('runs')"),
                     ("Show inventory", "Devices of the inventory", "tab('inventory')"),
                     ("Open run without resuming", "Look at a run", "open_run"),
                     ("Resume run", "Resume the selected unfinished run (asks first)",
                      "resume")]

    def __init__(self, backend: Backend) -> None:
        super().__init__()
        self.backend = backend
        self.entries: list[Entry] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="banner")
        with TabbedContent(initial="procedures"):
            with TabPane("Procedures", id="procedures"):
                yield Field(placeholder="filter: vendor, title, source…", id="filter")
                yield DataTable(id="procedure-table", cursor_type="row")
            with TabPane("Runs", id="runs"):
                yield DataTable(id="run-table", cursor_type="row")
            with TabPane("Inventory", id="inventory"):
                yield Static(id="inventory-source")
                yield DataTable(id="inventory-table", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "runbook"
        self.sub_title = "trust re-establishment procedures"
        t = self.query_one("#procedure-table", DataTable)
        for col in ("Vendor", "Risk", "Procedure", "Source"):  # risk stays visible at 80 columns
            t.add_column(col, key=col.lower())
        r = self.query_one("#run-table", DataTable)
        for col in (" ", "Run", "Procedure", "State", "Started", ""):
            r.add_column(col, key=col.strip().lower() or ("icon" if col == " " else "action"))
        inv = self.query_one("#inventory-table", DataTable)
        for col in ("Device", "Address", "User", "Roles", "Groups"):
            inv.add_column(col, key=col.lower())
        self.entries = self.backend.procedures()
        self.reload()
        t.focus()

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Re-read runs and inventory (procedures are read once)."""
        self.show_procedures(self.query_one("#filter", Field).value)
        self.show_runs()
        self.show_inventory()

    def show_procedures(self, query: str) -> None:
        words = query.lower().split()
        t = self.query_one("#procedure-table", DataTable)
        t.clear()
        for e in self.entries:
            hay = f"{e.vendor} {e.title} {e.id} {e.source} {e.risk}".lower()
            if all(w in hay for w in words):
                t.add_row(e.vendor, Text(e.risk, style=RISK_STYLE.get(e.risk, "")), e.title,
                          e.source, key=e.path)

    def show_runs(self) -> None:
        r = self.query_one("#run-table", DataTable)
        r.clear()
        runs = self.backend.runs()
        for rec in runs:
            state = self.backend.shown_state(rec)
            style = STATE_STYLE.get(state, "")
            r.add_row(Text(icon(state), style=style), rec.id, rec.procedure_title,
                      Text(label(state), style=style), short_time(rec.created_at),
                      "" if rec.finished else Text("r: resume", style="dim"), key=rec.id)
        unfinished = [x for x in runs if not x.finished]
        banner = self.query_one("#banner", Static)
        banner.display = bool(unfinished)
        if unfinished:
            last = unfinished[0]
            banner.update(f"[b]{len(unfinished)} unfinished run(s)[/b] — latest {last.id} "
                          f"({label(self.backend.shown_state(last))}): press [b]r[/b] to "
                          "resume it, [b]u[/b] to see every run")

    def show_inventory(self) -> None:
        inv = self.backend.inventory
        t = self.query_one("#inventory-table", DataTable)
        t.clear()
        self.query_one("#inventory-source", Static).update(
            f"from {escape(str(self.backend.inventory_path))}" if inv else
            "No inventory: start with `runbook -i inventory.yaml` (or `runbook demo`).")
        if inv is None:
            return
        for name, tgt in inv.targets.items():
            t.add_row(name, f"{tgt.host}:{tgt.port}", tgt.user or "", ", ".join(tgt.roles),
                      ", ".join(g for g in tgt.groups if g != "all"), key=name)

    @on(Field.Changed, "#filter")
    def _filter(self, event: Field.Changed) -> None:
        self.show_procedures(event.value)

    @on(Field.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#procedure-table", DataTable).focus()

    @on(DataTable.RowSelected, "#procedure-table")
    def _procedure(self, event: DataTable.RowSelected) -> None:
        from .params import ParamsScreen

        path = str(event.row_key.value)
        self.app.call_with_errors(
            lambda: self.app.push_screen(ParamsScreen(self.backend, path)))

    @on(DataTable.RowSelected, "#run-table")
    def _run(self, event: DataTable.RowSelected) -> None:
        """Enter opens a run to look at it: nothing is resumed without `r`."""
        self.app.open_run(str(event.row_key.value), resume=False)

    def action_resume(self) -> None:
        """Resume the run under the cursor (Runs tab) or the latest unfinished one, after a
        one-line confirmation naming the step and device that run next."""
        table = self.query_one("#run-table", DataTable)
        run_id: str | None = None
        if self.query_one(TabbedContent).active == "runs" and table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            run_id = str(key) if key else None
        else:
            unfinished = [r for r in self.backend.runs() if not r.finished]
            run_id = unfinished[0].id if unfinished else None
        if run_id is None:
            self.notify("no unfinished run to resume")
            return
        confirm_resume(self, run_id, lambda: self.app.open_run(run_id, resume=True))

    def action_filter(self) -> None:
        self.query_one(TabbedContent).active = "procedures"
        self.query_one("#filter", Field).focus()

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        table = {"procedures": "#procedure-table", "runs": "#run-table",
                 "inventory": "#inventory-table"}[tab]
        self.query_one(table, DataTable).focus()

    def action_open_run(self) -> None:
        table = self.query_one("#run-table", DataTable)
        if self.query_one(TabbedContent).active != "runs" or not table.row_count:
            self.action_tab("runs")
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if key:
            self.app.open_run(str(key), resume=False)

    def action_reload(self) -> None:
        self.reload()
