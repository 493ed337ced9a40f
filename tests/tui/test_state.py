"""State that tells the truth: interrupted, waiting for you, rolled back, closed, warnings,
elapsed time and polls, and what the journal holds after a kill."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.widgets import DataTable, Log, Select, Static

from runbook import Journal
from screens import create_app
from screens.home import HomeScreen
from screens.modals import TextModal
from screens.params import ParamsScreen
from screens.run import RunScreen
from screens.widgets import StepTable, row_key

from .conftest import Recorded, record_run
from .test_e2e import until


def cell(table: DataTable[Any], row: str, col: str) -> str:
    value = table.get_cell(row, col)
    return value.plain if isinstance(value, Text) else str(value)


def polls(time_cell: str) -> int:
    found = re.search(r"poll (\d+)", time_cell)
    return int(found.group(1)) if found else 0


def status_text(screen: RunScreen) -> str:
    return str(screen.query_one("#run-status", Static).render())


async def test_a_run_no_process_holds_shows_interrupted(tmp_path: Path, fixed_clock: None) -> None:
    rec = record_run(tmp_path, state="in_doubt")  # `running` in the journal, nobody holds it
    app = create_app(data_dir=rec.data, inventory_path=rec.inventory)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        home = app.screen
        assert isinstance(home, HomeScreen)
        assert cell(home.query_one("#run-table", DataTable), rec.run_id, "state") == "interrupted"
        assert "(interrupted)" in str(home.query_one("#banner", Static).render())
        app.open_run(rec.run_id)
        await pilot.pause()
        run = app.screen
        assert isinstance(run, RunScreen)
        assert status_text(run).startswith("⏸ interrupted")
        steps = run.query_one(StepTable)
        assert cell(steps, row_key("write-label", "fw1"), "icon") == "⏸"
    rec.journal.close()


async def test_waiting_and_rolled_back_runs_say_so(tmp_path: Path, fixed_clock: None) -> None:
    rec = record_run(tmp_path)
    rec.journal.set_run_state(rec.run_id, "waiting", "step x waits for the operator")
    app = create_app(data_dir=rec.data, inventory_path=rec.inventory)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        home = app.screen
        assert isinstance(home, HomeScreen)
        table = home.query_one("#run-table", DataTable)
        assert cell(table, rec.run_id, "state") == "waiting for you"
        rec.journal.set_run_state(rec.run_id, "rolled_back", "")
        home.reload()
        await pilot.pause()
        assert cell(table, rec.run_id, "state") == "rolled back"
        assert not home.query_one("#banner", Static).display  # nothing invites resuming it
    rec.journal.close()


async def test_a_stopped_run_is_closed_with_a_reason(recorded: Recorded) -> None:
    app = create_app(data_dir=recorded.data, inventory_path=recorded.inventory,
                     open_run=recorded.run_id)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, TextModal)
        await pilot.press(*"done by hand in the console", "enter")
        await pilot.pause()
        rec = recorded.journal.get_run(recorded.run_id)
        assert rec.state == "aborted"
        assert rec.reason == "closed by the operator: done by hand in the console"
        finished = [e for e in recorded.journal.events(rec.id) if e.kind == "run_finished"]
        assert finished and "done by hand" in finished[-1].data["reason"]
        await pilot.press("escape")
        await pilot.pause()
        home = app.screen
        assert isinstance(home, HomeScreen)
        assert not home.query_one("#banner", Static).display


async def test_a_certificate_warning_is_marked_and_its_text_shown(recorded: Recorded) -> None:
    app = create_app(data_dir=recorded.data, inventory_path=recorded.inventory,
                     open_run=recorded.run_id)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        run = app.screen
        assert isinstance(run, RunScreen)
        steps = run.query_one(StepTable)
        assert cell(steps, row_key("cert-now", "fw1"), "icon") == "⚠"
        steps.select("cert-now", "fw1")
        await pilot.pause()
        certs = run.query_one("#certs", DataTable)
        first_rows = [certs.get_row_at(i) for i in range(2)]
        assert [str(r[0]) for r in first_rows] == ["status", "problems"]
        assert "17 days left" in str(first_rows[1][1])


async def test_view_mode_replays_backups_and_output_after_a_kill(tmp_path: Path,
                                                                 fixed_clock: None) -> None:
    rec = record_run(tmp_path, state="in_doubt")
    rec.journal.append_event(rec.run_id, "backup_taken", {
        "step_id": "write-label", "target": "fw1", "path": "label.txt", "state": "file",
        "sha256": "0a1b2c3d4e5f60718293a4b5c6d7e8f9"}, "write-label", "fw1")
    app = create_app(data_dir=rec.data, inventory_path=rec.inventory, open_run=rec.run_id)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        run = app.screen
        assert isinstance(run, RunScreen)
        run.query_one(StepTable).select("write-label", "fw1")
        await pilot.pause()
        lines = run.query_one("#output-log", Log).lines
        assert any("backed up label.txt" in x and "0a1b2c3d" in x for x in lines)
        assert any("writing label" in x for x in lines)
    rec.journal.close()


WAIT = """\
id: test.wait
title: Wait for something that does not come
vendor: lab
source: {document: tests}
risk: low
params:
  device: {type: target}
steps:
  - id: settle
    title: Wait for the ready flag
    kind: wait
    target: device
    command: cat flag.txt 2>/dev/null || true
    interval: 0.2
    timeout: 60
    expect: {match: ["^go$"]}
"""


async def test_a_running_wait_step_shows_elapsed_time_and_its_polls(ssh_device: Any,
                                                                    tmp_path: Path) -> None:
    proc = tmp_path / "wait.yaml"
    proc.write_text(WAIT)
    app = create_app(data_dir=ssh_device.data_dir, inventory_path=ssh_device.inventory_path)
    async with app.run_test(size=(120, 40)) as pilot:
        app.push_screen(ParamsScreen(app.backend, str(proc)))
        await pilot.pause()
        app.screen.query_one("#param-device", Select).value = ssh_device.name
        await pilot.press("ctrl+r")
        await pilot.pause()
        run = app.screen
        assert isinstance(run, RunScreen)
        steps = run.query_one(StepTable)
        key = row_key("settle", ssh_device.name)
        await until(pilot, lambda: polls(cell(steps, key, "time")) >= 3, "the third poll")
        # elapsed seconds, then the polls so far and the timeout
        assert re.fullmatch(r"\d+(\.\d)?s poll \d+ · ≤1m00s", cell(steps, key, "time"))
        assert "running ·" in status_text(run)  # the run's elapsed time in its header
        (ssh_device.root / "flag.txt").write_text("go\n")
        await until(pilot, lambda: not run.running, "the run to end")
    journal = Journal.open(ssh_device.data_dir)
    assert journal.list_runs()[0].state == "succeeded"
    journal.close()
