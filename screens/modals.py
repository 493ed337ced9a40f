"""Modal screens: the engine's questions, host keys, comments, secrets and export."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Markdown, Select, Static

from runbook.events import DecisionNeeded

LABELS = {
    "yes": "Run it", "no": "Not now", "done": "Done", "wait": "Later", "abort": "Abort run",
    "rerun": "Re-run", "skip": "Skip", "verify": "Verify first", "stop": "Decide later",
    "accept": "Trust this key", "refuse": "Refuse",
}
TITLES = {"confirm": "Confirm step", "manual": "Manual step", "in_doubt": "Step in doubt",
          "host_key": "Unknown host key"}
VARIANTS = {"yes": "warning", "done": "success", "accept": "warning", "rerun": "warning",
            "abort": "error", "refuse": "primary", "no": "primary", "stop": "primary"}


class QuestionModal(ModalScreen[str]):
    """One of the engine's questions, with one button per allowed answer."""

    BINDINGS = [Binding("escape", "dismiss_safe", "Close (safe answer)")]

    def __init__(self, request: DecisionNeeded) -> None:
        super().__init__(classes=f"question {request.question}")
        self.request = request

    def compose(self) -> ComposeResult:
        r = self.request
        where = f" — {r.step_id}" if r.step_id else ""
        where += f" on {r.target}" if r.target else ""
        with Vertical(id="dialog"):
            yield Label(f"{TITLES.get(r.question, r.question)}{where}", id="dialog-title")
            with VerticalScroll(id="dialog-body"):
                yield Markdown(r.prompt, id="prompt")
                if r.question == "in_doubt":
                    yield Label("Sent to the device:", classes="section")
                    yield Static(r.details.get("command", ""), id="sent", classes="code")
                    yield Label("Output before the interruption:", classes="section")
                    output = r.details.get("output", "").rstrip() or "(none)"
                    yield Static(output[-2000:], id="seen", classes="code", markup=False)
                    if r.details.get("verify"):
                        yield Label(f"Verify command: {r.details['verify']}", classes="section")
                if r.question == "host_key":
                    yield Label(f"Fingerprint: {r.details.get('fingerprint')}", id="fingerprint")
                    yield Label(f"Address: {r.details.get('host')}:{r.details.get('port')}")
            with Horizontal(id="dialog-buttons"):
                for choice in r.details.get("choices", []):
                    yield Button(LABELS.get(choice, choice), id=f"choice-{choice}",
                                 variant=VARIANTS.get(choice, "default"))  # type: ignore[arg-type]

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id and event.button.id.startswith("choice-"):
            self.dismiss(event.button.id.removeprefix("choice-"))

    def action_dismiss_safe(self) -> None:
        self.dismiss(None)


class MessageModal(ModalScreen[None]):
    """A message that must be read (a changed host key, an error)."""

    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, title: str, text: str) -> None:
        super().__init__(classes="message")
        self.title_text, self.text = title, text

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="dialog-title")
            with VerticalScroll(id="dialog-body"):
                yield Static(self.text, id="message", markup=False)
            with Horizontal(id="dialog-buttons"):
                yield Button("Close", id="close", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


class TextModal(ModalScreen[str]):
    """Ask for one line of text (a comment, a secret)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, placeholder: str = "", password: bool = False) -> None:
        super().__init__(classes="text")
        self.title_text, self.placeholder, self.password = title, placeholder, password

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="dialog-title")
            yield Input(placeholder=self.placeholder, password=self.password, id="text")
            with Horizontal(id="dialog-buttons"):
                yield Button("OK", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(self.query_one("#text", Input).value if event.button.id == "ok" else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ExportModal(ModalScreen[tuple[str, str]]):
    """Choose a format and a file for the change record."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, default_dir: Path, run_id: str) -> None:
        super().__init__(classes="export")
        self.default_dir, self.run_id = default_dir, run_id

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Export the change record", id="dialog-title")
            yield Select([("Markdown (ticket)", "md"), ("HTML (people)", "html"),
                          ("JSON (machines, with the hash chain)", "json")], value="md",
                         allow_blank=False, id="format")
            yield Input(str(self.default_dir / f"{self.run_id}.md"), id="path")
            with Horizontal(id="dialog-buttons"):
                yield Button("Export", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_select_changed(self, event: Select.Changed) -> None:
        path = self.query_one("#path", Input)
        stem = path.value.rsplit(".", 1)[0] if "." in Path(path.value).name else path.value
        path.value = f"{stem}.{event.value}"

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            fmt = str(self.query_one("#format", Select).value)
            self.dismiss((fmt, self.query_one("#path", Input).value))
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
