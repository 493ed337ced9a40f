"""The Export screen: a run's change record (or a plan) as Markdown, JSON or HTML."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Header, Label, Select, Static

from runbook.errors import RunbookError

from .backend import EXPORT_FORMATS
from .base import RunbookScreen
from .footer import Footer
from .widgets import Field

if TYPE_CHECKING:
    from .backend import Backend

FORMAT_NAMES = {"md": "Markdown (for the ticket)", "json": "JSON (for machines; verifiable)",
                "html": "HTML (for people)"}


class ExportScreen(RunbookScreen[Path | None]):
    """Pick a format and a destination; say where the file was written."""

    BINDINGS = [Binding("escape", "back", "Back", id="export.back"),
                Binding("ctrl+s", "write", "Write", id="export.write")]

    def __init__(self, backend: Backend, run_id: str | None = None,
                 plan: dict[str, Any] | None = None, directory: Path | None = None) -> None:
        super().__init__()
        self.backend, self.run_id, self.plan = backend, run_id, plan
        self.directory = directory or Path.cwd()
        self.written: Path | None = None

    @property
    def stem(self) -> str:
        if self.run_id:
            return f"runbook-{self.run_id}"
        proc = (self.plan or {}).get("procedure", {}).get("id", "procedure")
        return f"plan-{proc}"

    def compose(self) -> ComposeResult:
        yield Header()
        what = f"the change record of run {self.run_id}" if self.run_id else \
            "the implementation and backout plan"
        with Vertical(id="export-form", classes="form"):
            yield Static(f"Export {what}. Secrets are masked; the file is written mode 0600.")
            yield Label("Format")
            yield Select([(FORMAT_NAMES[f], f) for f in EXPORT_FORMATS], value="md",
                         allow_blank=False, id="export-format")
            yield Label("Destination")
            yield Field(str(self.directory / f"{self.stem}.md"), id="export-path")
            with Horizontal(classes="buttons"):
                yield Button("Write", id="write", variant="primary")
                yield Button("Back", id="back")
            yield Static("", id="export-result")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Export"

    @on(Select.Changed, "#export-format")
    def _format(self, event: Select.Changed) -> None:
        path = self.query_one("#export-path", Field)
        p = Path(path.value)
        path.value = str(p.with_suffix("." + str(event.value)))

    @on(Button.Pressed, "#write")
    @on(Field.Submitted, "#export-path")
    def action_write(self) -> None:
        fmt = str(self.query_one("#export-format", Select).value)
        dest = self.query_one("#export-path", Field).value.strip()
        result = self.query_one("#export-result", Static)
        if not dest:
            result.update("[red]give a destination path[/]")
            return
        try:
            if self.run_id:
                written = self.backend.export_run(self.run_id, fmt, dest)
            else:
                written = self.backend.export_plan(self.plan or {}, fmt, dest)
        except RunbookError as exc:
            result.update(f"[red]{escape(exc.title)}: {escape(str(exc))}[/]")
            self.notify(str(exc), title=exc.title, severity="error")
            return
        self.written = written
        result.update(f"[green]written:[/] {escape(str(written))}")
        self.notify(str(written), title="exported")

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        self.dismiss(self.written)
