"""The Plan view: rendered steps (secrets masked), backups that will be taken, rollback actions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Header, Markdown

from .base import RunbookScreen
from .footer import Footer

if TYPE_CHECKING:
    from .backend import Backend


def plan_markdown(plan: dict[str, Any]) -> str:
    """The plan as Markdown for the screen (the export has its own renderers)."""
    proc = plan["procedure"]
    out = [f"## {proc['title']}", f"{proc['vendor']} · risk **{proc['risk']}** · "
           f"source: {proc['source'].get('document', '')}", ""]
    params = ", ".join(f"`{k}` = {v}" for k, v in plan.get("params", {}).items())
    out += [f"**Parameters:** {params or 'none'}", ""]
    for n, step in enumerate(plan["steps"], 1):
        flags = [f for f, on in (("confirm", step.get("confirm")),
                                 ("manual", step.get("manual"))) if on]
        when = f" · only when `{step['when']}`" if step.get("when") else ""
        out.append(f"### {n}. {step['title']}")
        out.append(f"`{step['kind']}`{' · ' + ', '.join(flags) if flags else ''}{when}")
        if step.get("description"):
            out += ["", step["description"].strip(), ""]
        for row in step.get("on", []):
            where = f"on **{row['target']}**: " if row.get("target") else ""
            if row.get("command"):
                out.append(f"- {where}`{_code(row['command'])}`")
            elif where and not row.get("does"):
                out.append(f"- {where}{step['kind']}")
            for line in row.get("does", []):
                out.append(f"- {where}`{_code(line)}`" if step["kind"] == "cli"
                           else f"- {where}{line}")
            for b in row.get("backups", []):
                out.append(f"  - backup that will be taken: `{_code(b)}`")
            for r in row.get("rollback", []):
                out.append(f"  - rollback action: `{_code(r)}`")
        if step.get("irreversible"):
            out.append(f"- **cannot be undone:** {step['irreversible'].strip()}")
        out.append("")
    return "\n".join(out)


def _code(text: str) -> str:
    return " ".join(str(text).split()).replace("`", "'")


class PlanScreen(RunbookScreen[None]):
    """Read the plan before running it; export it for approval."""

    BINDINGS = [Binding("e", "export", "Export plan", id="plan.export"),
                Binding("escape", "back", "Back", id="plan.back")]

    def __init__(self, backend: Backend, plan: dict[str, Any]) -> None:
        super().__init__()
        self.backend, self.plan = backend, plan

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="plan-scroll"):
            yield Markdown(plan_markdown(self.plan), id="plan")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Plan"
        self.sub_title = self.plan["procedure"]["title"]
        self.query_one("#plan-scroll").focus()

    def action_export(self) -> None:
        from .export import ExportScreen

        self.app.push_screen(ExportScreen(self.backend, plan=self.plan))

    def action_back(self) -> None:
        self.app.pop_screen()
