"""Modal questions: host keys, in-doubt steps, take-overs, secrets, comments, confirmations."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Label, Static

from runbook.errors import UsageError
from runbook.model import Param

from .base import RunbookModal

if TYPE_CHECKING:
    from .base import RunbookScreen
from .format import clean
from .widgets import Field

IN_DOUBT_LABELS = {"rerun": ("Re-run", "e"), "done": ("Mark done", "d"), "skip": ("Skip", "s"),
                   "verify": ("Verify first", "v"), "rollback": ("Roll back", "b"),
                   "stop": ("Decide later", "l"),
                   "abort": ("Abort run", "a"),
                   "wait": ("Wait for it to end", "w"), "kill": ("Kill it on the device", "k")}


SECRET = Param.model_validate({"type": "secret"})


class HostKeyModal(RunbookModal[str]):
    """An unknown host key (accept / refuse) or a changed one (cannot be accepted here)."""

    BINDINGS = [Binding("escape", "answer('refuse')", "Refuse", id="hostkey.refuse")]

    def __init__(self, target: str, host: str, port: int | None, fingerprint: str,
                 known: list[str] | None = None) -> None:
        super().__init__(classes="dialog")
        self.target, self.host, self.port = target, host, port
        self.fingerprint, self.known = fingerprint, known or []

    def compose(self) -> ComposeResult:
        where = escape(f"{self.host}:{self.port}" if self.port else self.host)
        who, fp = escape(self.target), escape(self.fingerprint)
        with Vertical(id="dialog", classes="danger" if self.known else ""):
            if self.known:
                yield Label(f"HOST KEY CHANGED: {self.target}", id="dialog-title", markup=False)
                yield Static(f"[b]{who}[/b] ({where}) now offers a different key.\n"
                             "This could be an attack (someone in the middle) or a rebuilt "
                             "device. Nothing was sent. It cannot be accepted from here: "
                             "verify the new key out of band, then remove the old one.")
                yield Static(f"offered now:  [b]{fp}[/b]", classes="fingerprint")
                for old in self.known:
                    yield Static(f"trusted:      [b]{escape(old)}[/b]", classes="fingerprint")
                with Horizontal(classes="buttons"):
                    yield Button("Close (refuse)", id="refuse", variant="error")
            else:
                yield Label(f"Unknown host key: {self.target}", id="dialog-title", markup=False)
                yield Static(f"[b]{who}[/b] ({where}) offers a host key that is not "
                             "trusted yet. Accept it only after checking the fingerprint on "
                             "the device (`ssh-keygen -lf` on its host key).")
                yield Static(f"[b]{fp}[/b]", classes="fingerprint")
                with Horizontal(classes="buttons"):
                    yield Button("Accept and remember", id="accept", variant="warning")
                    yield Button("Refuse", id="refuse", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#refuse", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.action_answer(event.button.id or "refuse")

    def action_answer(self, answer: str) -> None:
        self.dismiss("accept" if answer == "accept" and not self.known else "refuse")


class InDoubtModal(RunbookModal[str]):
    """A step was interrupted: what was sent, what came back, and what to do about it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "answer('stop')", "Decide later", id="indoubt.later"),
        *(Binding(key, f"answer('{choice}')", label, id=f"indoubt.{choice}", show=False)
          for choice, (label, key) in IN_DOUBT_LABELS.items())]

    def __init__(self, step_id: str | None, target: str | None, prompt: str,
                 details: dict[str, Any]) -> None:
        super().__init__(classes="dialog")
        self.step_id, self.target, self.prompt = step_id, target, prompt
        self.details = details
        self.choices: list[str] = list(details.get("choices", []))

    def compose(self) -> ComposeResult:
        where = f" on {self.target}" if self.target else ""
        output = [clean(x) for x in str(self.details.get("output", "")).splitlines()][-200:]
        with Vertical(id="dialog", classes="warning wide"):
            yield Label(f"Step {self.step_id}{where} is in doubt", id="dialog-title",
                        markup=False)
            yield Static("It was interrupted while running; it may or may not have taken "
                         "effect. Nothing is re-run unless you say so.")
            sent = escape(str(self.details.get("command") or "(nothing recorded)"))
            yield Static(f"sent: [b]{sent}[/b]", id="indoubt-command")
            started = str(self.details.get("started_at", ""))[:19].replace("T", " ")
            if started:
                yield Static(f"started: {started}   attempt {self.details.get('attempt', '?')}")
            with VerticalScroll(id="indoubt-output"):
                yield Static("\n".join(output) or "(no output was captured before the "
                             "interruption)", markup=False)
            if self.details.get("verify"):
                yield Static(f"verify command: {self.details['verify']}", markup=False)
            remote = self.details.get("remote")
            if isinstance(remote, dict):  # the command outlived runbook: it cannot be re-run
                yield Static(f"still running on the device: pid group {remote.get('pgid')}, "
                             f"for {remote.get('seconds')} s", id="indoubt-remote",
                             markup=False)
            with Grid(classes="buttons", id="indoubt-buttons"):
                for choice in self.choices:
                    label, key = IN_DOUBT_LABELS.get(choice, (choice, ""))
                    yield Button(f"{label} ({key})", id=f"choice-{choice}",
                                 variant="error" if choice == "abort" else "default")

    def on_mount(self) -> None:
        default = "verify" if "verify" in self.choices else "stop"
        if default in self.choices:
            self.query_one(f"#choice-{default}", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.action_answer((event.button.id or "").removeprefix("choice-"))

    def action_answer(self, choice: str) -> None:
        if choice in self.choices:
            self.dismiss(choice)


def _when(ts: object) -> str:
    """`2026-11-22 01:30 UTC` from a journal timestamp (UTC, ISO)."""
    text = str(ts or "")
    return f"{text[:10]} {text[11:16]} UTC" if len(text) >= 16 else (text or "an unknown time")


class TakeOverModal(RunbookModal[str]):
    """Another operator's session drove this run and is gone: take it over, or leave it."""

    BINDINGS = [Binding("escape", "answer('no')", "Cancel", id="takeover.cancel"),
                Binding("t", "answer('yes')", "Take over", id="takeover.yes", show=False)]

    def __init__(self, run_id: str, details: dict[str, Any]) -> None:
        super().__init__(classes="dialog")
        self.run_id, self.details = run_id, details

    def compose(self) -> ComposeResult:
        d = self.details
        previous = escape(str(d.get("previous") or "another operator"))
        with Vertical(id="dialog", classes="warning wide"):
            yield Label(f"Take over run {self.run_id}?", id="dialog-title", markup=False)
            if d.get("left_locked"):
                gone = (f"Their session, [b]{escape(str(d.get('session')))}[/b] (process "
                        f"{escape(str(d.get('pid')))}), held the run since "
                        f"{escape(_when(d.get('since')))}. That session is gone: it ended "
                        "without releasing the run (killed, crashed or cut off).")
            else:
                gone = ("Their session ended and released the run; their last recorded action "
                        f"was at {escape(_when(d.get('last_seen')))}.")
            yield Static(f"[b]{previous}[/b] drove this run last.\n{gone}\n"
                         "No live process holds it now.", id="takeover-who")
            yield Static(
                "\nTaking over means:\n"
                " • you drive the run from here: the change record names [b]you[/b] and this "
                f"moment as taking over from {previous};\n"
                " • secrets are never stored, so theirs went with their session: the run uses "
                "the ones you give (you are asked for them again);\n"
                " • it continues where they stopped; a step they left half-done is asked "
                "about before anything is re-run.\n"
                "Cancel leaves the run to them, unchanged.", id="takeover-means")
            with Horizontal(classes="buttons"):
                yield Button("Take over (t)", id="yes", variant="warning")
                yield Button("Cancel", id="no", variant="primary")

    def on_mount(self) -> None:
        self.app.clear_notifications()  # old toasts must not sit over a question
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.action_answer("yes" if event.button.id == "yes" else "no")

    def action_answer(self, answer: str) -> None:
        self.dismiss(answer)


class HeldModal(RunbookModal[None]):
    """The run is held by a live session: it cannot be resumed or taken over from here."""

    BINDINGS = [Binding("escape", "close", "Close", id="held.close")]

    def __init__(self, run_id: str, holder: str) -> None:
        super().__init__(classes="dialog")
        self.run_id, self.holder = run_id, holder

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="danger"):
            yield Label(f"Run {self.run_id} is in use", id="dialog-title", markup=False)
            yield Static(f"It is held by [b]{escape(self.holder)}[/b], a session that is still "
                         "running. A run held by a live session cannot be resumed or taken "
                         "over: ask its operator to stop it (or wait for it to finish), then "
                         "resume it here. Nothing was changed.", id="held-message")
            with Horizontal(classes="buttons"):
                yield Button("Close", id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.action_close()

    def action_close(self) -> None:
        self.dismiss(None)


def refuse_if_held(screen: RunbookScreen[Any], run_id: str) -> bool:
    """Show HeldModal and return True when a live session other than this one holds the run."""
    holder = screen.app.backend.holder(run_id)
    if holder is None:
        return False
    screen.app.push_screen(HeldModal(run_id, holder))
    return True


class SecretsModal(RunbookModal[dict[str, str] | None]):
    """Ask again for a run's secrets (they are never stored)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="secrets.cancel")]

    def __init__(self, run_id: str, names: list[str]) -> None:
        super().__init__(classes="dialog")
        self.run_id, self.names = run_id, names

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Secrets for run {self.run_id}", id="dialog-title", markup=False)
            yield Static("Secrets are never stored: type them again to continue.")
            for name in self.names:
                yield Label(name)
                yield Field(password=True, id=f"secret-{name}", placeholder="not echoed")
            yield Static("", id="secrets-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Continue", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#ok")
    @on(Field.Submitted)
    def _ok(self) -> None:
        values = {}
        for name in self.names:
            raw = self.query_one(f"#secret-{name}", Field).value
            try:
                values[name] = self.app.backend.check_param(name, SECRET, raw)
            except UsageError as exc:
                self.query_one("#secrets-error", Static).update(escape(str(exc)))
                return
        self.dismiss(values)


class TextModal(RunbookModal[str | None]):
    """One line of text from the operator (a comment)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="text.cancel")]

    def __init__(self, title: str, hint: str = "") -> None:
        super().__init__(classes="dialog")
        self.title_text, self.hint = title, hint

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="dialog-title")
            if self.hint:
                yield Static(self.hint)
            yield Field(id="text-input")
            with Horizontal(classes="buttons"):
                yield Button("Save", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#ok")
    @on(Field.Submitted)
    def _ok(self) -> None:
        text = self.query_one(Field).value.strip()
        self.dismiss(text or None)


class KeysModal(RunbookModal[None]):
    """`?`: every key of the screen below, with what it does."""

    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="keys.close")]

    def __init__(self, below: Any) -> None:
        super().__init__(classes="dialog")
        self.below = below

    def compose(self) -> ComposeResult:
        rows = []
        for key, active in self.below.active_bindings.items():
            b = active.binding
            if b.description and key not in ("ctrl+c", "ctrl+q"):
                rows.append(f"[b]{escape(self.app.get_key_display(b))}[/b]  "
                            f"{escape(b.tooltip or b.description)}")
        with Vertical(id="dialog"):
            yield Label("Keys on this screen", id="dialog-title")
            with VerticalScroll(id="keys-list"):
                yield Static("\n".join(dict.fromkeys(rows)) or "(no keys)")
            yield Static("[dim]ctrl+p: every command · escape: close[/]")

    def action_close(self) -> None:
        self.dismiss(None)


class ConfirmModal(RunbookModal[bool]):
    """A yes/no question before something drastic."""

    BINDINGS = [Binding("escape", "answer(False)", "No", id="confirm.no"),
                Binding("y", "answer(True)", "Yes", id="confirm.yes")]

    def __init__(self, title: str, message: str, yes: str = "Yes") -> None:
        super().__init__(classes="dialog")
        self.title_text, self.message, self.yes = title, message, yes

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="warning"):
            yield Label(self.title_text, id="dialog-title")
            yield Static(self.message)
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="warning")
                yield Button("No", id="no", variant="primary")

    def on_mount(self) -> None:
        self.app.clear_notifications()  # old toasts must not sit over a question
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.action_answer(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class TypedConfirmModal(RunbookModal[bool]):
    """A step that cannot be undone: type the device's (or step's) name to run it."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="typed.cancel")]

    def __init__(self, step_id: str, expected: str, prompt: str, why: str) -> None:
        super().__init__(classes="dialog")
        self.step_id, self.expected, self.prompt, self.why = step_id, expected, prompt, why

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="danger"):
            yield Label(f"Step {self.step_id} cannot be undone", id="dialog-title",
                        markup=False)
            yield Static(escape(self.prompt))
            if self.why:
                yield Static(f"[b]Why it cannot be undone:[/b] {escape(self.why)}")
            yield Static(f"Type [b]{escape(self.expected)}[/b] to run it.")
            yield Field(id="typed-input", placeholder=self.expected)
            yield Static("", id="typed-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Run it", id="ok", variant="error")
                yield Button("Cancel", id="cancel", variant="primary")

    def on_mount(self) -> None:
        self.app.clear_notifications()
        self.query_one(Field).focus()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#ok")
    @on(Field.Submitted)
    def _ok(self) -> None:
        if self.query_one(Field).value.strip() == self.expected:
            self.dismiss(True)
            return
        self.query_one("#typed-error", Static).update(
            f"that is not {escape(self.expected)}: nothing was run")


def confirm_resume(screen: RunbookScreen[Any], run_id: str, go: Callable[[], None]) -> None:
    """Ask before resuming a run, naming the step and device that run next; `go` on yes."""
    backend = screen.app.backend
    rec = backend.run(run_id)
    if rec.finished:
        screen.notify(f"run {rec.id} is {rec.state}; nothing left to do")
        return
    if refuse_if_held(screen, rec.id):
        return
    nxt = backend.next_step(rec.id)
    where = f" on {nxt.target}" if nxt and nxt.target else ""
    what = (f"Next: step {nxt.step_id} ({nxt.title}){where}, now {nxt.status}." if nxt
            else "Every step is done; resuming finishes the run.")

    def answered(yes: bool | None) -> None:
        if yes:
            go()

    screen.app.push_screen(ConfirmModal(f"Resume run {rec.id}?", what, "Resume"),
                           callback=answered)
