"""The Parameters screen: a form built from the procedure's params, validated as you type."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Header, Label, Select, Static, Switch

from runbook.errors import RunbookError, UsageError
from runbook.model import Param

from .base import RunbookScreen
from .footer import Footer
from .prefill import host_var, prefill
from .widgets import Field

if TYPE_CHECKING:
    from .backend import Backend


class ParamsScreen(RunbookScreen[None]):
    """Fill in the parameters, look at the plan, start the run."""

    BINDINGS = [Binding("ctrl+l", "plan", "Plan", id="params.plan", priority=True),
                Binding("ctrl+r", "start", "Start run", id="params.start", priority=True),
                Binding("escape", "back", "Back", id="params.back")]
    COMMANDS_LIST = [("Show the plan", "Rendered steps, backups and rollback actions", "plan"),
                     ("Start the run", "Create the run and open the Run screen", "start")]

    def __init__(self, backend: Backend, path: str) -> None:
        super().__init__()
        self.backend, self.path = backend, path
        self.procedure, self.text = backend.procedure(path)
        inv = backend.inventory
        self.prefilled = prefill(
            backend, self.procedure.params, backend.remembered(self.procedure),
            lambda n, p: preselect(backend, inv, n, p) if inv is not None else None)

    def compose(self) -> ComposeResult:
        p = self.procedure
        yield Header()
        with VerticalScroll(id="params-form", classes="form"):
            yield Static(f"[b]{escape(p.title)}[/b]  [dim]{escape(p.vendor)} · risk {p.risk} · "
                         f"{escape(p.source.document)}[/]", id="params-head")
            for name, param in p.params.items():
                yield Label(self._label(name, param), classes="param-label")
                yield self._widget(name, param)
                yield Static(self._hint(param), id=f"hint-{name}", classes="hint")
            with Horizontal(classes="buttons"):
                yield Button("Plan  ^l", id="plan")
                yield Button("Start run  ^r", id="start", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.title = self.procedure.title
        self.sub_title = "parameters"
        for name in self.procedure.params:
            self.validate(name)
        first = self.query(".param")
        if first:
            first.first().focus()

    # ---- building --------------------------------------------------------------------------

    @staticmethod
    def _label(name: str, param: Param) -> str:
        req = "" if not param.required or param.default is not None else " *"
        return f"[b]{name}[/b]{req} [dim]({param.type})[/] {escape(param.description)}"

    def _hint(self, param: Param) -> str:
        inv = self.backend.inventory
        if param.type == "targets" and inv is not None:
            roles = sorted({r for t in inv.targets.values() for r in t.roles})
            groups = sorted(g for g in inv.groups if g != "all")
            return ("names, groups or role=X, comma-separated · roles: "
                    f"{', '.join(roles) or '-'} · groups: {', '.join(groups) or '-'}")
        return ""

    def _widget(self, name: str, param: Param) -> Widget:
        wid = f"param-{name}"
        inv = self.backend.inventory
        start = self.prefilled.get(name)
        value = start.value if start is not None else None
        if param.type == "choice":
            return Select([(c, c) for c in param.choices or []], value=value
                          if value in (param.choices or []) else Select.NULL,
                          id=wid, classes="param")
        if param.type == "bool":
            return Switch(value=(value or "").lower() in ("true", "yes", "1", "on"), id=wid,
                          classes="param")
        if param.type == "target" and inv is not None:
            options = [(picker_label(self.backend, param, t), t.name)
                       for t in picker_order(self.backend, param, inv)]
            return Select(options, value=value or Select.NULL, id=wid, classes="param",
                          prompt="pick a device")
        return Field(value or "", password=param.type == "secret", id=wid, classes="param",
                     placeholder="not echoed, never stored" if param.type == "secret" else "")

    def _source(self, name: str, raw: Any) -> str:
        """Where the field's value came from, while it still holds the prefilled value."""
        start = self.prefilled.get(name)
        if start is None or not start.source or raw is None or str(raw) != start.value:
            return ""
        return start.source

    # ---- values ----------------------------------------------------------------------------

    def raw(self, name: str) -> Any:
        """The widget's value as the engine takes it (None when empty)."""
        w = self.query_one(f"#param-{name}")
        if isinstance(w, Switch):
            return "true" if w.value else "false"
        if isinstance(w, Select):
            return None if w.value is Select.NULL else str(w.value)
        value = w.value if isinstance(w, Field) else ""
        return value if value != "" else None

    def validate(self, name: str) -> str | None:
        """Check one field; show the problem under it; return the problem."""
        param = self.procedure.params[name]
        raw = self.raw(name)
        hint = self.query_one(f"#hint-{name}", Static)
        problem = None
        shown = self._hint(param)
        if raw is None:
            if param.required and param.default is None:
                problem = "required"
        else:
            try:
                value = self.backend.check_param(name, param, raw)
                if param.type == "targets":
                    shown = "selects: " + ", ".join(t.name for t in value)
            except RunbookError as exc:
                problem = str(exc)
        source = self._source(name, raw)
        if source and problem is None:
            shown = f"{shown} · {source}" if shown else source
        hint.set_class(problem is not None, "error")
        hint.update(escape(problem or shown))
        return problem

    @on(Field.Changed)
    @on(Select.Changed)
    @on(Switch.Changed)
    def _changed(self, event: Any) -> None:
        wid = event.control.id or ""
        if wid.startswith("param-"):
            name = wid.removeprefix("param-")
            if self.procedure.params[name].type == "target":
                self._refill_from_devices()
            self.validate(name)

    def _refill_from_devices(self) -> None:
        """Another device picked: fields still holding a prefilled (or no) value take that
        device's host variable of their name, if it has one. Typed values are kept."""
        params = self.procedure.params
        picked = [v for n, p in params.items() if p.type == "target"
                  and (v := self.raw(n)) is not None]
        for name, param in params.items():
            if param.type in ("target", "targets", "secret", "bool", "choice"):
                continue
            field = self.query_one(f"#param-{name}")
            start = self.prefilled.get(name)
            if not isinstance(field, Field) or field.value not in ("", start and start.value):
                continue
            found = host_var(self.backend.inventory, picked, name)
            if found is not None and found.value != field.value:
                self.prefilled[name] = found
                field.value = found.value

    def values(self, secrets_too: bool = True) -> tuple[dict[str, str], dict[str, str]]:
        """(given, secrets); raises UsageError naming every field that is wrong.

        A plan needs no secrets (`secrets_too=False`): it shows them as placeholders.
        """
        problems = [f"{n}: {p}" for n, param in self.procedure.params.items()
                    if (p := self.validate(n)) and (secrets_too or param.type != "secret")]
        if problems:
            raise UsageError("fix the parameters first — " + "; ".join(problems))
        given: dict[str, str] = {}
        secrets: dict[str, str] = {}
        for name, param in self.procedure.params.items():
            raw = self.raw(name)
            if raw is None:
                continue
            (secrets if param.type == "secret" else given)[name] = raw
        return given, secrets

    # ---- actions ---------------------------------------------------------------------------

    @on(Button.Pressed, "#plan")
    def action_plan(self) -> None:
        from .plan import PlanScreen

        def show() -> None:
            given, _ = self.values(secrets_too=False)
            plan = self.backend.plan(self.procedure, self.text, self.path, given)
            self.app.push_screen(PlanScreen(self.backend, plan))

        self.app.call_with_errors(show)

    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        from .run import RunScreen

        def start() -> None:
            given, secrets = self.values()
            run_id = self.backend.create_run(self.procedure, self.text, self.path, given,
                                             secrets)
            self.backend.remember(self.procedure, given)
            self.app.switch_screen(RunScreen(self.backend, run_id, secrets, autostart=True))

        self.app.call_with_errors(start)

    def action_back(self) -> None:
        self.app.pop_screen()


def picker_order(backend: Backend, param: Param, inv: Any) -> list[Any]:
    """Devices the parameter accepts first (by role, name), then the others."""
    return sorted(inv.targets.values(),
                  key=lambda t: (backend.unaccepted(param, t) is not None, t.roles, t.name))


def picker_label(backend: Backend, param: Param, target: Any) -> str:
    """`gw1  (gateway · 10.0.0.1:22)`, or why the parameter does not take the device."""
    where = f"{', '.join(target.roles) or 'no role'} · {target.host}:{target.port}"
    why = backend.unaccepted(param, target)
    if why is not None and param.accepts is not None:
        kind = "role" if param.accepts.role else "vendor"
        expected = " or ".join(param.accepts.role or param.accepts.vendor)
        return f"{target.name}  ({where}) ✘ expected {kind} {expected}"
    return f"{target.name}  ({where})"


def preselect(backend: Backend, inv: Any, name: str, param: Param) -> str | None:
    """A device only when unambiguous: the default, or the one device whose role is the name.

    An optional device (an HA peer) is never preselected: it is chosen deliberately or not at
    all, so the UI cannot aim a step at the wrong box.
    """
    if param.default and param.default in inv.targets:
        return str(param.default)
    if not param.required:
        return None
    wanted = name.replace("_", "-")
    if param.accepts is not None:
        matches = [t.name for t in inv.targets.values()
                   if backend.unaccepted(param, t) is None]
    else:
        matches = [t.name for t in inv.targets.values() if wanted in t.roles or name in t.roles]
    return matches[0] if len(matches) == 1 else None
