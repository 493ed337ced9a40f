"""Parameters: a form built from the procedure's params, checked as you type, and its plan."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Markdown, Select, Static

from runbook.errors import RunbookError
from runbook.export import build_plan, render
from runbook.loader import load_procedure, procedure_hash
from runbook.params import coerce

if TYPE_CHECKING:
    from .app import RunbookApp


class ParamsScreen(Screen[None]):
    """Fill in the parameters, look at the plan, start the run."""

    BINDINGS = [
        Binding("f2", "plan", "Plan", id="plan"),
        Binding("ctrl+r", "start", "Start run", id="start"),
        Binding("escape", "app.pop_screen", "Back", id="back"),
    ]

    app: RunbookApp

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.procedure = load_procedure(path)
        self.text = open(path).read()

    def compose(self) -> ComposeResult:
        p = self.procedure
        yield Header()
        with VerticalScroll(id="params"):
            yield Label(f"{p.title}  [dim]({p.vendor}, risk {p.risk})[/dim]", id="proc-title")
            yield Static(f"Source: {p.source.document} {p.source.section}".strip(),
                         id="proc-source", markup=False)
            inv = self.app.inventory
            names = sorted(inv.targets) if inv else []
            for name, param in p.params.items():
                with Vertical(classes="param"):
                    yield Label(f"{name} [dim]({param.type})[/dim] {param.description}",
                                markup=True)
                    if param.type == "choice":
                        yield Select([(c, c) for c in param.choices or []], id=f"p-{name}",
                                     value=param.default or Select.NULL)
                    elif param.type == "target" and names:
                        yield Select([(n, n) for n in names], id=f"p-{name}",
                                     value=_guess(inv, name, param) or Select.NULL)
                    else:
                        hint = _hint(inv) if param.type == "targets" else ""
                        yield Input(value="" if param.default is None else str(param.default),
                                    password=param.type == "secret", id=f"p-{name}",
                                    placeholder=hint or param.type)
                    yield Static("", id=f"e-{name}", classes="error")
            with Horizontal(id="param-buttons"):
                yield Button("Plan", id="plan")
                yield Button("Start run", id="start", variant="warning")
        yield Footer()

    def values(self) -> tuple[dict[str, Any], dict[str, str], bool]:
        """Params, secrets, and whether every field is valid (errors shown inline)."""
        given: dict[str, Any] = {}
        secrets: dict[str, str] = {}
        ok = True
        for name, param in self.procedure.params.items():
            widget = self.query_one(f"#p-{name}")
            raw = widget.value  # type: ignore[attr-defined]
            raw = None if raw in (Select.NULL, "", None) else str(raw)
            error = self.query_one(f"#e-{name}", Static)
            if raw is None:
                if param.required and param.default is None:
                    error.update("required")
                    ok = False
                else:
                    error.update("")
                continue
            try:
                coerce(name, param, raw, self.app.inventory)
                error.update("")
            except RunbookError as exc:
                error.update(str(exc))
                ok = False
            (secrets if param.type == "secret" else given)[name] = raw
        return given, secrets, ok

    def on_input_changed(self, event: Input.Changed) -> None:
        self.values()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "plan":
            self.action_plan()
        elif event.button.id == "start":
            self.action_start()

    def action_plan(self) -> None:
        given, _, ok = self.values()
        if not ok:
            self.notify("Fix the parameters marked in red first.", severity="warning")
            return
        try:
            plan = build_plan(self.procedure, procedure_hash(self.text), self.path, given,
                              self.app.inventory)
        except RunbookError as exc:
            self.notify(str(exc), title=exc.title, severity="error")
            return
        self.app.push_screen(PlanScreen(render(plan, "md")))

    def action_start(self) -> None:
        given, secrets, ok = self.values()
        if not ok:
            self.notify("Fix the parameters marked in red first.", severity="warning")
            return
        try:
            run_id = self.app.engine().create(self.procedure, self.text, self.path, given,
                                              secrets, self.app.inventory)
        except RunbookError as exc:
            self.notify(str(exc), title=exc.title, severity="error")
            return
        self.app.start_run(run_id, secrets)


class PlanScreen(Screen[None]):
    """The implementation and backout plan, as the change board will read it."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back", id="back")]

    def __init__(self, markdown: str) -> None:
        super().__init__()
        self.markdown = markdown

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="plan"):
            yield Markdown(self.markdown)
        yield Footer()


def _guess(inv: Any, name: str, param: Any) -> str | None:
    """Preselect a device only when it is unambiguous and the param is required."""
    if param.default and param.default in inv.targets:
        return str(param.default)
    if not param.required:
        return None  # an optional device (an HA peer) is chosen deliberately or not at all
    wanted = name.replace("_", "-")
    matches = [t.name for t in inv.targets.values() if wanted in t.roles]
    return matches[0] if len(matches) == 1 else None


def _hint(inv: Any) -> str:
    if inv is None:
        return "device names"
    roles = sorted({r for t in inv.targets.values() for r in t.roles})
    return "names, groups or role=X (" + ", ".join(f"role={r}" for r in roles[:4]) + ")"
