"""The runbook terminal application: one factory builds it for the CLI and for the tests."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, SystemCommand
from textual.screen import Screen

from runbook import library
from runbook.engine import Engine
from runbook.errors import RunbookError
from runbook.hostkeys import HostKeyStore
from runbook.inventory import Inventory
from runbook.journal import Journal
from runbook.paths import data_dir as default_data_dir
from runbook.paths import private_file
from runbook.transport import Transport

from .decider import TuiDecider
from .home import HomeScreen
from .modals import TextModal
from .params import ParamsScreen
from .run import RunScreen


class RunbookApp(App[None]):
    """Home -> Parameters -> Run; resume, roll back and export from the Run screen."""

    CSS_PATH = "runbook.tcss"
    TITLE = "runbook"
    ENABLE_COMMAND_PALETTE = True

    def __init__(self, data_dir: Path, inventory: Inventory | None = None,
                 open_run: str | None = None, lab_scenario: str | None = None,
                 lab_dir: Path | None = None) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.journal = Journal.open(data_dir)
        self.inventory = inventory
        self.initial_run = open_run
        self.lab_scenario = lab_scenario
        self.lab_dir = lab_dir or data_dir / "lab"
        self.lab: Any = None

    # ---- building blocks the screens use -----------------------------------------------------

    def engine(self) -> Engine:
        """A new engine whose questions are answered by modals."""
        store = HostKeyStore(self.data_dir)
        return Engine(self.journal, TuiDecider(self),
                      transport_factory=lambda inv: Transport(inv, store),
                      inventory_from_snapshot=Inventory.from_snapshot)

    def on_mount(self) -> None:
        if self.lab_scenario:
            self.sub_title = f"lab: {self.lab_scenario}"
            self.start_lab()
        else:
            self.show_first_screen()

    def show_first_screen(self) -> None:
        self.push_screen(HomeScreen())
        if self.initial_run:
            self.open_run(self.initial_run)

    @work(exclusive=True, group="lab", exit_on_error=False)
    async def start_lab(self) -> None:
        from runbook.lab.lab import Lab
        try:
            self.lab = await Lab.start(self.lab_dir, self.lab_scenario or "healthy")
            self.inventory = Inventory.load(self.lab.inventory_path)
            self.notify(f"Lab started: {len(self.lab.servers)} devices on loopback.")
        except (OSError, ValueError, RunbookError) as exc:
            self.notify(f"The lab did not start: {exc}", severity="error")
        self.show_first_screen()

    async def on_unmount(self) -> None:
        if self.lab is not None:
            await self.lab.stop()
        self.journal.close()

    def open_procedure(self, ref: str) -> None:
        try:
            self.push_screen(ParamsScreen(str(library.resolve(ref))))
        except RunbookError as exc:
            self.notify(str(exc), title=exc.title, severity="error")

    def open_run(self, run_id: str) -> None:
        """Open a run; secrets are asked for again (they are never stored)."""
        try:
            rec = self.journal.get_run(run_id)
        except RunbookError as exc:
            self.notify(str(exc), title=exc.title, severity="error")
            return
        names = list(rec.secret_names)
        secrets: dict[str, str] = {}

        def ask_next(value: str | None = None) -> None:
            if value is not None:
                secrets[names[len(secrets)]] = value
            if len(secrets) < len(names):
                self.push_screen(TextModal(f"Secret {names[len(secrets)]} (never stored)",
                                           password=True), ask_next)
            else:
                self.push_screen(RunScreen(rec.id, secrets))

        ask_next()

    def start_run(self, run_id: str, secrets: dict[str, str]) -> None:
        screen = RunScreen(run_id, secrets)
        self.push_screen(screen)
        self.call_after_refresh(screen.execute)

    def go_home(self) -> None:
        while len(self.screen_stack) > 2:
            self.pop_screen()
        home = self.screen_stack[-1]
        if isinstance(home, HomeScreen):
            home.action_refresh()

    def export(self, run_id: str, fmt: str, path: str) -> Path | None:
        """Write the change record; returns where (None, with a notification, on failure)."""
        from runbook.export import build_record, render
        try:
            dest = Path(path).expanduser()
            dest.parent.mkdir(parents=True, exist_ok=True)
            record = build_record(self.journal, run_id, Path(str(dest) + ".logs"))
            private_file(dest).write_text(render(record, fmt))
            return dest
        except (OSError, RunbookError) as exc:
            self.notify(f"Export failed: {exc}", severity="error")
            return None

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The command palette offers every action of the current screen."""
        yield from super().get_system_commands(screen)
        for binding in screen.BINDINGS:
            if not isinstance(binding, tuple) and binding.description:
                action = binding.action

                def run(action: str = action, screen: Screen[Any] = screen) -> None:
                    self.call_later(screen.run_action, action)

                yield SystemCommand(binding.description, f"key: {binding.key}", run)


def create_app(data_dir: str | Path | None = None, inventory_path: str | Path | None = None,
               open_run: str | None = None, lab: str | None = None,
               lab_dir: str | Path | None = None) -> RunbookApp:
    """Build the app from plain arguments (the CLI and the tests both call this)."""
    d = default_data_dir(data_dir)
    inv = Inventory.load(inventory_path) if inventory_path else None
    return RunbookApp(d, inv, open_run, lab, Path(lab_dir) if lab_dir else None)


def run_tui(**kwargs: Any) -> int:
    """Run the app in this terminal; returns an exit code."""
    create_app(**kwargs).run()
    return 0
