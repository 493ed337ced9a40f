"""Safety: the TUI never runs what the operator has not seen or chosen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Log, Select, Static

from runbook import Journal
from runbook.events import DecisionNeeded
from runbook.headless import FlagDecider
from screens import create_app
from screens.home import HomeScreen
from screens.modals import ConfirmModal, InDoubtModal, SecretsModal, TypedConfirmModal
from screens.params import ParamsScreen
from screens.run import RunScreen
from screens.widgets import DecisionBar

from .conftest import DEMO, HERE, Recorded
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


async def test_enter_opens_a_run_read_only_and_resuming_asks_first(recorded: Recorded) -> None:
    app = create_app(data_dir=recorded.data, inventory_path=recorded.inventory)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("u")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        run = app.screen
        assert isinstance(run, RunScreen), app.screen  # not a secrets prompt to resume
        assert not run.running
        assert recorded.journal.get_run(recorded.run_id).state == "failed"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("r")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ConfirmModal)
        assert "write-label" in modal.message and "fw1" in modal.message
        await pilot.press("escape")  # no: nothing starts
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        # resuming asks for the run's secret (never stored) before anything runs
        assert isinstance(app.screen, SecretsModal)


async def test_r_in_a_run_opened_read_only_names_the_next_step_before_resuming(
        recorded: Recorded) -> None:
    app = create_app(data_dir=recorded.data, inventory_path=recorded.inventory,
                     open_run=recorded.run_id)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, RunScreen)
        await pilot.press("r")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ConfirmModal)
        assert "write-label" in modal.message and "fw1" in modal.message


async def test_the_device_picker_offers_accepted_devices_first_and_refuses_others(
        recorded: Recorded) -> None:
    app = create_app(data_dir=recorded.data, inventory_path=recorded.inventory)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.push_screen(ParamsScreen(app.backend, str(DEMO)))
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ParamsScreen)
        picker = screen.query_one("#param-device", Select)
        names = [value for _, value in picker._options if value is not Select.NULL]
        assert names[-1] == "mgmt1" and set(names[:2]) == {"fw1", "fw2"}
        picker.value = "mgmt1"
        await pilot.pause()
        hint = screen.query_one("#hint-device", Static)
        assert hint.has_class("error")
        assert "mgmt1" in str(hint.render()) and "expected role test" in str(hint.render())
        await pilot.press("ctrl+r")  # refused: no run is created
        await pilot.pause()
        assert isinstance(app.screen, ParamsScreen)
        assert len(recorded.journal.list_runs()) == 1
        picker.value = "fw2"
        await pilot.pause()
        assert not hint.has_class("error")


IRREVERSIBLE = """\
id: test.typed-confirm
title: Send something that cannot be called back
vendor: lab
source: {document: tests}
risk: low
params:
  device: {type: target}
steps:
  - id: send
    title: Send it
    kind: run
    target: device
    confirm: "Send it to {{ device }}?"
    command: echo sent > sent.txt
    irreversible: The receiver has it now.
"""


async def test_a_step_that_cannot_be_undone_needs_the_device_name_typed(
        ssh_device: Any, tmp_path: Path) -> None:
    proc = tmp_path / "typed.yaml"
    proc.write_text(IRREVERSIBLE)
    app = create_app(data_dir=ssh_device.data_dir, inventory_path=ssh_device.inventory_path)
    async with app.run_test(size=(120, 40)) as pilot:
        app.push_screen(ParamsScreen(app.backend, str(proc)))
        await pilot.pause()
        app.screen.query_one("#param-device", Select).value = ssh_device.name
        await pilot.press("ctrl+r")
        await pilot.pause()
        run = app.screen
        assert isinstance(run, RunScreen)
        await until(pilot, lambda: waiting(run, "confirm"), "the confirmation")
        await pilot.press("r")  # no longer enough on its own
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, TypedConfirmModal) and modal.expected == ssh_device.name
        await pilot.press(*"dev2", "enter")
        await pilot.pause()
        assert app.screen is modal and "nothing was run" in str(
            modal.query_one("#typed-error", Static).render())
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is run and waiting(run, "confirm")
        assert not (ssh_device.root / "sent.txt").exists()
        await pilot.press("r")
        await pilot.pause()
        await pilot.press(*ssh_device.name, "enter")
        await until(pilot, lambda: not run.running, "the run to end")
    assert (ssh_device.root / "sent.txt").read_text() == "sent\n"


async def test_headless_yes_does_not_cover_a_step_that_cannot_be_undone() -> None:
    request = DecisionNeeded("r1", "send", None, "confirm", "Send it?",
                             {"choices": ["yes", "no"], "targets": ["dev1"], "critical": True})
    assert await FlagDecider(yes=True).decide(request) == "no"
    assert await FlagDecider(yes=True, confirmed={"send"}).decide(request) == "yes"
    routine = DecisionNeeded("r1", "label", None, "confirm", "Label it?",
                             {"choices": ["yes", "no"], "targets": ["dev1"]})
    assert await FlagDecider(yes=True).decide(routine) == "yes"
