"""Safety: the TUI never runs what the operator has not seen or chosen."""

from __future__ import annotations

from typing import Any

from textual.widgets import Log, Select

from runbook import Journal
from screens import create_app
from screens.modals import InDoubtModal
from screens.params import ParamsScreen
from screens.run import RunScreen
from screens.widgets import DecisionBar

from .conftest import HERE
from .test_e2e import until, waiting

SLOW_CONFIRM = HERE / "procedures" / "slow-confirm.yaml"


async def test_a_confirmation_after_rerunning_an_in_doubt_step_stays_visible(
        ssh_device: Any) -> None:
    app = create_app(data_dir=ssh_device.data_dir, inventory_path=ssh_device.inventory_path)
    async with app.run_test(size=(120, 40)) as pilot:
        app.push_screen(ParamsScreen(app.backend, str(SLOW_CONFIRM)))
        await pilot.pause()
        app.screen.query_one("#param-device", Select).value = ssh_device.name
        await pilot.press("ctrl+r")
        await pilot.pause()
        run = app.screen
        assert isinstance(run, RunScreen)
        await until(pilot, lambda: waiting(run, "confirm"), "the first confirmation")
        await pilot.press("r")
        await until(pilot, lambda: any("started" in x for x in
                                       run.query_one("#output-log", Log).lines),
                    "the confirmed step's first line")
        run_id = run.run_id
    # the TUI died mid-step; reopen, resume, choose Re-run in the in-doubt modal
    app = create_app(data_dir=ssh_device.data_dir, inventory_path=ssh_device.inventory_path,
                     open_run=run_id, resume=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, InDoubtModal), "the in-doubt modal")
        await pilot.press("e")  # Re-run
        run = next(s for s in app.screen_stack if isinstance(s, RunScreen))
        await until(pilot, lambda: waiting(run, "confirm"), "the confirmation again")
        for _ in range(5):  # let every queued event be handled
            await pilot.pause()
        assert app.screen is run
        assert run.query_one(DecisionBar).display, "the confirmation is hidden"
        assert "Generate on dev1" in run.query_one(DecisionBar).shown_prompt
        # answering no leaves the step un-run
        await pilot.press("w")
        await until(pilot, lambda: not run.running, "the run to wait")
    journal = Journal.open(ssh_device.data_dir)
    assert journal.get_run(run_id).state == "waiting"
    assert sum(c.startswith("echo started") for c in ssh_device.server.commands) == 1
    journal.close()
