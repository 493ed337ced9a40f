"""RunbookApp and `create_app`, the one factory the CLI, `textual serve` and the tests call."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from runbook.errors import RunbookError, UsageError

from .backend import Backend


class RunbookApp(App[int]):
    """The terminal UI. It holds no run state: every screen rebuilds from the engine."""

    CSS_PATH = "app.tcss"
    TITLE = "runbook"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [Binding("question_mark", "keys", "Keys", id="app.keys"),
                Binding("q", "quit_safely", "Quit", id="app.quit", show=False)]

    def __init__(self, backend: Backend, open_run: str | None = None, lab: Any = None,
                 resume: bool = False) -> None:
        super().__init__()
        self.backend = backend
        self.initial_run = open_run
        self.resume_initial = resume
        self.lab = lab
        self.lab_started = False

    def on_mount(self) -> None:
        # A run opened from the command line is shown at once; the home screen is built
        # only when the operator leaves it (see `back`): composing both cost start-up.
        if not (self.initial_run and self.open_run(self.initial_run,
                                                   resume=self.resume_initial)):
            from .home import HomeScreen  # screens import this module for their typed `app`

            self.push_screen(HomeScreen(self.backend))
        if self.lab is not None:
            self.start_lab()

    # ---- lab (runbook demo) ----------------------------------------------------------------

    @work(exclusive=True, group="lab", exit_on_error=False)
    async def start_lab(self) -> None:
        """Start the simulated devices in this event loop and use their inventory."""
        lab = self.lab
        start = getattr(lab, "start", None)
        result = await start() if start is not None else lab
        self.lab_started = start is not None
        path = getattr(result, "inventory_path", result)
        self.backend.use_inventory(Path(path))
        secrets = getattr(lab, "secrets", None)
        self.backend.lab_secrets = secrets() if callable(secrets) else {}
        self.sub_title = "lab"
        again = " (brought back as it was left)" if getattr(lab, "restored", False) else ""
        self.notify(f"lab devices are up{again}; inventory {path}", title="lab")
        from .home import HomeScreen

        if isinstance(self.screen, HomeScreen):
            self.screen.reload()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "lab" and event.state == WorkerState.ERROR:
            self.report_error(event.worker.error or RuntimeError("the lab did not start"))

    async def on_unmount(self) -> None:
        stop = getattr(self.lab, "stop", None)
        if self.lab_started and stop is not None:
            try:
                await stop()
            except Exception as exc:  # noqa: BLE001 - shutting down: log, never raise
                self.backend.log_bug(exc)

    # ---- keys, quitting, screenshots -------------------------------------------------------

    def action_keys(self) -> None:
        """`?`: the keys of the current screen, in a dialog."""
        from .modals import KeysModal

        if not isinstance(self.screen, KeysModal):
            self.push_screen(KeysModal(self.screen))

    def busy(self) -> bool:
        """Whether a run or a rollback is in progress in this app."""
        return any(w.group in ("run", "rollback") and w.is_running
                   for s in self.screen_stack for w in s.workers)

    def action_quit_safely(self) -> None:
        """`q`: quit at once where nothing runs; ask first when something does."""
        from .modals import ConfirmModal

        if not self.busy():
            self.exit(0)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.exit(0)

        self.push_screen(ConfirmModal(
            "Quit while a run is in progress?", "The step in progress stops where it is and "
            "will be [b]in doubt[/b]: when the run is resumed you decide whether it took "
            "effect.", "Quit"), callback=answered)

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        """Save an SVG of the screen in the data directory (`screenshots/`) and say where."""
        if self.is_web:
            self.deliver_screenshot(filename, path)
            return
        folder = Path(path) if path else self.backend.data_dir / "screenshots"
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            saved = self.save_screenshot(filename, str(folder))
        except OSError as exc:
            self.notify(f"cannot save a screenshot in {folder}: {exc.strerror or exc}",
                        title="screenshot", severity="error")
            return
        self.notify(f"saved {saved}", title="screenshot")

    # ---- navigation ------------------------------------------------------------------------

    def open_run(self, run_id: str, resume: bool = False,
                 secrets: dict[str, str] | None = None) -> bool:
        """Show a run (and resume it when asked); a missing run is a notification."""
        from .run import RunScreen

        screen = self.call_with_errors(
            lambda: RunScreen(self.backend, run_id, secrets, autostart=resume))
        if screen is None:
            return False
        self.push_screen(screen)
        return True

    def back(self) -> None:
        """Leave the current screen: to the one below, or to the home screen when the run
        was opened directly and nothing is below."""
        from .home import HomeScreen

        if len(self.screen_stack) > 2:
            self.pop_screen()
        else:
            self.switch_screen(HomeScreen(self.backend))

    # ---- errors: never a traceback at the user ---------------------------------------------

    def call_with_errors(self, fn: Callable[[], Any]) -> Any:
        """Call `fn`; a RunbookError becomes a notification with its title."""
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - shown, never raised at the user
            self.report_error(exc)
            return None

    def report_error(self, exc: BaseException) -> None:
        """A RunbookError is shown with its title; anything else is logged as a bug."""
        if isinstance(exc, RunbookError):
            self.notify(str(exc), title=exc.title, severity="error", timeout=12)
            return
        log = self.backend.log_bug(exc)
        where = f" (details in {log})" if log else ""
        self.notify(f"{type(exc).__name__}: {exc}{where}", title="internal error",
                    severity="error", timeout=20)

    def _handle_exception(self, error: Exception) -> None:
        if isinstance(error, RunbookError):
            self.report_error(error)
            return
        if self.is_headless:  # tests: let the failure surface
            super()._handle_exception(error)
            return
        log = self.backend.log_bug(error)
        where = f" (details in {log})" if log else ""
        self.exit(70, return_code=70,
                  message=f"runbook: internal error: {type(error).__name__}: {error}{where}")

    # ---- command palette -------------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for title, help_text, action in getattr(screen, "COMMANDS_LIST", []):
            yield SystemCommand(title, help_text, partial(screen.run_action, action))


class LabScenario:
    """`runbook demo`: the lab's simulated devices for a scenario, run in the app's loop.

    With `keep` the lab in `directory` is brought back as it was left when it is of the same
    scenario (same host keys, ports and device state), so that a run started on it before the
    app died can be resumed; otherwise it is built anew.
    """

    def __init__(self, scenario: str, directory: Path, keep: bool = False) -> None:
        self.scenario, self.directory, self.keep = scenario, directory, keep
        self.lab: Any = None

    @property
    def restored(self) -> bool:
        """Whether the lab was brought back rather than built."""
        return bool(getattr(self.lab, "restored", False))

    async def start(self) -> Path:
        """Start the devices; return the inventory path. Raises UsageError for a bad scenario
        or a lab that cannot start (in use elsewhere, its ports taken)."""
        # imported when used: it pulls in the device simulators
        from runbook.lab.lab import Lab, LabError

        try:
            self.lab = await Lab.start(self.directory, self.scenario, keep=self.keep)
        except (ValueError, LabError) as exc:
            raise UsageError(str(exc)) from None
        return Path(self.lab.inventory_path)

    def secrets(self) -> dict[str, str]:
        """The lab's own test secrets by parameter name (lab-only, kept in memory)."""
        from runbook.lab.values import secrets

        return secrets(json.loads((self.directory / "lab.json").read_text())["devices"]) \
            if self.lab is not None else {}

    async def stop(self) -> None:
        if self.lab is not None:
            await self.lab.stop()


def create_app(data_dir: str | Path | None = None, inventory_path: str | Path | None = None,
               open_run: str | None = None, lab: Any = None, resume: bool = False,
               transports: Callable[[Any], Any] | None = None,
               fresh_lab: bool = False) -> RunbookApp:
    """Build the app from plain arguments.

    - `data_dir`: the run store (default: $RUNBOOK_HOME or the user data directory);
    - `inventory_path`: an inventory file for target params and the Home screen;
    - `open_run`: a run id (or unique prefix, or `last`) to open straight away;
      with `resume=True` it resumes at once (asking for secrets and in-doubt steps);
    - `lab`: a lab scenario name (`runbook demo`: the lab kept in the data directory's
      `demo-lab` is brought back unless `fresh_lab`), or an object with `async start()`
      (returning the inventory path, or an object with `.inventory_path`) and `async stop()`,
      started in the app's event loop; or an object that already has `.inventory_path`;
    - `transports`: a transport factory for the engine (tests); default: asyncssh with
      known_hosts and runbook's trust file.

    Raises RunbookError when the data directory or the inventory cannot be used.
    """
    backend = Backend.open(data_dir, inventory_path)
    backend.transports = transports
    if isinstance(lab, str):
        lab = LabScenario(lab, backend.data_dir / "demo-lab", keep=not fresh_lab)
    return RunbookApp(backend, open_run=open_run, lab=lab, resume=resume)


def run_tui(**kwargs: Any) -> int:
    """Run the app (keyword arguments as `create_app`); return an exit code."""
    try:
        app = create_app(**kwargs)
    except RunbookError as exc:
        print(f"runbook: {exc.title}: {exc}", file=sys.stderr)
        return exc.exit_code
    app.run()
    return app.return_code or 0
