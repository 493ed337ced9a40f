"""Snapshot tests: Home, Parameters, Run, the in-doubt and host-key modals at 80x24 and 120x40.

Fed by a run recorded in a real journal and recorded engine events; the clock, run ids, user
and host are fixed, and inputs do not blink, so the pictures do not change between runs.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from textual.pilot import Pilot
from textual.widgets import Input, Select

from runbook import Inventory, Journal, load_procedure
from runbook.events import DecisionMade, DecisionNeeded, OutputLine, StepFinished, StepStarted
from runbook.screens import create_app
from runbook.screens import run as run_module
from runbook.screens.decider import modal_for
from runbook.screens.modals import TypedConfirmModal
from runbook.screens.params import ParamsScreen
from runbook.screens.plan import PlanScreen
from runbook.screens.rollback import RollbackScreen
from runbook.screens.run import RunScreen
from runbook.screens.widgets import StepTable

from .conftest import DEMO, HERE, Recorded, _engine, host_key_request, in_doubt_request

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
        screen.refresh_steps()  # now, not when the next redraw is due
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


def record_fleet(tmp: Path) -> Recorded:
    """A 200-device rollout in its last batch: 178 done, 2 failed, 10 running, 10 to go."""
    data = tmp / "fleet-data"
    data.mkdir(mode=0o700)
    inv_path = tmp / "fleet.yaml"
    inv_path.write_text(yaml.safe_dump({"all": {"vars": {"ansible_user": "admin"}, "hosts": {
        f"dev{i:03d}": {"ansible_host": f"10.1.{i // 250}.{i % 250}", "runbook_role": "fleet"}
        for i in range(200)}}}))
    path = HERE / "procedures" / "fleet.yaml"
    journal = Journal.open(data)
    run_id = _engine(journal).create(load_procedure(path), path.read_text(), str(path),
                                     {"fleet": "role=fleet"}, {}, Inventory.load(inv_path))
    a = journal.start_attempt(run_id, "announce", None, "")
    journal.finish_attempt(a.id, status="succeeded")
    for i in range(190):
        name = f"dev{i:03d}"
        if i % 20 == 0:
            journal.append_event(run_id, "batch_started", {
                "rollout": "push", "batch": i // 20 + 1, "of": 10,
                "targets": [f"dev{k:03d}" for k in range(i, i + 20)]}, step_id="push")
        a = journal.start_attempt(run_id, "push", name, f"echo pushed {name}")
        journal.append_output(a.id, f"pushed {name}\n")
        if i < 180:
            failed = name in ("dev017", "dev123")
            journal.finish_attempt(a.id, status="failed" if failed else "succeeded",
                                   exit_status=1 if failed else 0,
                                   reason="exit status 1, expected 0" if failed else "")
    journal.set_run_state(run_id, "running")
    return Recorded(data, inv_path, run_id, journal)


@pytest.mark.parametrize("size", SIZES)
def test_run_grouped_fanout(snap_compare: Any, tmp_path: Path, fixed_clock: None,
                            monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]) -> None:
    """A rollout on 200 devices, live: one grouped row with its counts and batch; `f` shows
    the failed devices under it."""
    rec = record_fleet(tmp_path)
    monkeypatch.setattr(run_module, "now_iso", lambda: "2026-11-22T01:45:00.000000+00:00")

    async def before(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        screen = pilot.app.screen
        assert isinstance(screen, RunScreen)
        screen.run_worker(asyncio.Event().wait(), group="run")  # the run is live here
        screen.query_one(StepTable).select("push", None)
        await pilot.pause()
        await pilot.press("f")
        pilot.app.clear_notifications()
        screen.refresh_steps()
        await pilot.pause()

    try:
        assert snap_compare(app_for(rec, open_run=True), terminal_size=size,
                            run_before=before)
    finally:
        rec.journal.close()
