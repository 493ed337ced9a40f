"""Snapshot tests: Home, Parameters, Run, the in-doubt and host-key modals at 80x24 and 120x40.

Fed by a run recorded in a real journal and recorded engine events; the clock, run ids, user
and host are fixed, and inputs do not blink, so the pictures do not change between runs.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select

from runbook.events import DecisionMade, DecisionNeeded, OutputLine, StepFinished, StepStarted
from screens import create_app
from screens.decider import modal_for
from screens.modals import TypedConfirmModal
from screens.params import ParamsScreen
from screens.plan import PlanScreen
from screens.rollback import RollbackScreen
from screens.run import RunScreen
from screens.widgets import StepTable

from .conftest import DEMO, HERE, Recorded, host_key_request, in_doubt_request

SIZES = [(80, 24), (120, 40)]


def app_for(rec: Recorded, open_run: bool = False) -> Any:
    return create_app(data_dir=rec.data, inventory_path=rec.inventory,
                      open_run=rec.run_id if open_run else None)


@pytest.mark.parametrize("size", SIZES)
def test_home(snap_compare: Any, recorded: Recorded, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        # Pin the list to procedures that exist today, so adding one does not move the picture.
        pilot.app.screen.query_one(Input).value = "checkpoint"
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    assert snap_compare(app_for(recorded), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_parameters(snap_compare: Any, recorded: Recorded, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        await app.push_screen(ParamsScreen(app.backend, str(DEMO)))
        await pilot.pause()
        screen = app.screen
        screen.query_one("#param-label", Input).value = "Bad label"
        screen.query_one("#param-token", Input).value = "typed-but-masked"
        screen.query_one("#param-fleet", Input).value = "role=test"
        await pilot.pause()

    assert snap_compare(app_for(recorded), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_run_streaming_and_failed(snap_compare: Any, recorded: Recorded,
                                  size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        screen = pilot.app.screen
        assert isinstance(screen, RunScreen)
        rid = recorded.run_id
        screen.feed(StepStarted(rid, "write-label", "fw1", 2, "printf ..."))
        for i in range(60):
            screen.feed(OutputLine(rid, "write-label", "fw1", f"retrying write {i:02d}: "
                                   "\x1b[33mbusy\x1b[0m"))
        screen.feed(StepFinished(rid, "write-label", "fw1", "failed", 1, 2.0,
                                 "exit status 1, expected 0"))
        await pilot.pause()
        screen.flush()
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app_for(recorded, open_run=True), terminal_size=size,
                        run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_run_certificate_table(snap_compare: Any, recorded: Recorded,
                               size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        screen = pilot.app.screen
        screen.query_one(StepTable).select("cert-now", "fw1")
        await pilot.pause()

    assert snap_compare(app_for(recorded, open_run=True), terminal_size=size,
                        run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_in_doubt_modal(snap_compare: Any, recorded: Recorded, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        pilot.app.push_screen(modal_for(in_doubt_request(recorded.run_id)))
        await pilot.pause()

    assert snap_compare(app_for(recorded, open_run=True), terminal_size=size,
                        run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_host_key_modal_unknown(snap_compare: Any, recorded: Recorded,
                                size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        pilot.app.push_screen(modal_for(host_key_request(recorded.run_id)))
        await pilot.pause()

    assert snap_compare(app_for(recorded, open_run=True), terminal_size=size,
                        run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_host_key_modal_changed(snap_compare: Any, recorded: Recorded,
                                size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        req = host_key_request(recorded.run_id)
        req.details["known"] = ["SHA256:OldKeyOldKeyOldKeyOldKeyOldKeyOldKeyOldKey1"]
        pilot.app.push_screen(modal_for(req))
        await pilot.pause()

    assert snap_compare(app_for(recorded, open_run=True), terminal_size=size,
                        run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_parameters_role_filtered_picker(snap_compare: Any, recorded: Recorded,
                                         size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        await app.push_screen(ParamsScreen(app.backend, str(DEMO)))
        await pilot.pause()
        picker = app.screen.query_one("#param-device", Select)
        picker.value = "mgmt1"  # refused: not a `test` device
        picker.focus()
        await pilot.pause()
        await pilot.press("enter")  # open the list: accepted devices first
        await pilot.pause()

    assert snap_compare(app_for(recorded), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_run_confirmation_after_in_doubt_rerun(snap_compare: Any, recorded: Recorded,
                                               size: tuple[int, int]) -> None:
    """The in-doubt Re-run is answered, then the step's confirmation: the bar stays."""

    async def before(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        screen = pilot.app.screen
        assert isinstance(screen, RunScreen)
        rid = recorded.run_id
        question = DecisionNeeded(rid, "write-label", None, "confirm",
                                  "Write the label **renew** on fw1?",
                                  {"choices": ["yes", "no"], "targets": ["fw1"]})
        screen.run_worker(screen.ask_inline(question), group="ask")
        await pilot.pause()
        screen.feed(DecisionMade(rid, "write-label", "fw1", "in_doubt", "rerun"))
        await pilot.pause()
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app_for(recorded, open_run=True), terminal_size=size,
                        run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_typed_confirmation(snap_compare: Any, recorded: Recorded,
                            size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        pilot.app.push_screen(TypedConfirmModal(
            "sic-reset", "mds1", "This destroys the Internal CA of Domain1. Continue?",
            "The old Internal CA is gone once it is reset."))
        await pilot.pause()
        await pilot.press(*"mds")
        await pilot.pause()

    assert snap_compare(app_for(recorded, open_run=True), terminal_size=size,
                        run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_rollback_screen(snap_compare: Any, recorded: Recorded, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        app = pilot.app
        app.push_screen(RollbackScreen(app.backend, recorded.run_id, "check", {}))
        await pilot.pause()

    assert snap_compare(app_for(recorded, open_run=True), terminal_size=size,
                        run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_plan_with_cli_lines(snap_compare: Any, recorded: Recorded,
                             size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        path = HERE / "procedures" / "plan-cli.yaml"
        procedure, text = app.backend.procedure(str(path))
        plan = app.backend.plan(procedure, text, "plan-cli.yaml", {"device": "fw1"})
        await app.push_screen(PlanScreen(app.backend, plan))
        await pilot.pause()

    assert snap_compare(app_for(recorded), terminal_size=size, run_before=before)
