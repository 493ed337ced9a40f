"""A 1,000-device fan-out on the Run screen: one grouped row, and keys that work while it runs.

The devices are one real OpenSSH sshd named 1,000 times in the inventory (host key pinned).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from textual.pilot import Pilot

from runbook.screens import create_app
from runbook.screens.fanout import PAGE, group_key, more_key, parse_key
from runbook.screens.run import RunScreen
from runbook.screens.widgets import StepTable

DEVICES = 1000
FAILING = ("dev0017", "dev0523")
PROCEDURE = """\
id: test.fleet
title: Fleet fan-out
vendor: lab
risk: low
source: {document: runbook TUI tests}
params:
  fleet: {type: targets, description: Every device.}
steps:
  - id: fan
    title: Say hello on every device
    kind: run
    foreach: fleet
    concurrency: 25
    serial: "10%"
    max_fail: 5
    command: >-
      echo hello {{ target.name }}; seq 1 5;
      test {{ target.name }} != dev0017 && test {{ target.name }} != dev0523
"""


def fleet_inventory(device: Any, n: int) -> Path:
    """The sshd fixture's inventory with its one device named `n` times."""
    doc = yaml.safe_load(device.inventory_path.read_text())
    host = doc["all"]["hosts"][device.name]
    doc["all"]["hosts"] = {f"dev{i:04d}": dict(host) for i in range(n)}
    path = device.inventory_path.with_name("inventory-fleet.yaml")
    path.write_text(yaml.safe_dump(doc))
    return path


def row_keys(table: StepTable) -> list[str]:
    return [str(k.value) for k in table.rows]


def icons(table: StepTable) -> set[str]:
    """The state icons of the device rows shown."""
    return {str(table.get_cell(k, "icon")) for k in row_keys(table)[1:] if "\n" not in k}


def counts_cell(table: StepTable) -> str:
    return str(table.get_cell(group_key("fan"), "title")).splitlines()[-1]


async def test_thousand_devices_one_row_and_keys_while_streaming(sshd: Any,
                                                                 tmp_path: Path) -> None:
    procedure = tmp_path / "fleet.yaml"
    procedure.write_text(PROCEDURE)
    app = create_app(data_dir=sshd.data_dir, inventory_path=fleet_inventory(sshd, DEVICES))
    proc, text = app.backend.procedure(str(procedure))
    run_id = app.backend.create_run(proc, text, str(procedure), {"fleet": "role=test"}, {})
    app.initial_run = run_id
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        run = app.screen
        assert isinstance(run, RunScreen)
        table = run.query_one(StepTable)
        run.start()

        def finished() -> int:
            return sum(v.status in ("succeeded", "failed") for v in run.views)

        await wait(pilot, run, lambda: finished() > 150 and
                   any(v.status == "failed" for v in run.views), "a failure in batch 1")
        assert run.running
        # one grouped row, not a thousand, with the batch shown
        assert row_keys(table) == [group_key("fan")]
        assert table.selected() == ("fan", None)
        assert "batch " in str(table.get_cell(group_key("fan"), "target"))
        assert "✘ 1" in counts_cell(table) and "✔ " in counts_cell(table)

        # space expands the step to its devices (a page at a time), while the run streams
        await pilot.press("space")
        assert run.running
        keys = row_keys(table)
        assert len(keys) == 1 + PAGE + 1 and keys[-1] == more_key("fan", 1)
        assert parse_key(keys[1]) == ("fan", "dev0000")
        table.move_cursor(row=len(keys) - 1)
        await pilot.press("enter")  # on `… 900 more`: the next page
        assert run.running
        keys = row_keys(table)
        assert keys[1] == more_key("fan", -1) and parse_key(keys[2]) == ("fan", "dev0100")
        assert table.selected() == ("fan", "dev0100")
        await pilot.press("space")  # on a device: its step closes
        assert row_keys(table) == [group_key("fan")]

        # f: failed devices only (the step opens to show them)
        await pilot.press("f")
        assert run.running and run.groups.state_filter == "failed"
        shown = [parse_key(k)[1] for k in row_keys(table)[1:]]
        assert "dev0017" in shown and icons(table) == {"✘"}
        # f again: running devices only (as the table last drew them)
        await pilot.press("f")
        assert run.groups.state_filter == "running"
        assert icons(table) <= {"▶"}
        await pilot.press("f", "f")
        assert run.groups.state_filter == "all"

        # n: to the failed device, from the grouped row
        table.select("fan", None)
        await pilot.press("n")
        assert run.running
        assert table.selected() == ("fan", "dev0017")

        await wait(pilot, run, lambda: not run.running, "the end of the run")
        # the grouped row counts the whole fleet once it is done
        await pilot.pause()
        run.refresh_steps()
        assert counts_cell(table).split() == ["✔", str(DEVICES - 2), "✘", "2"]
        assert "batch 10 of 10" in str(table.get_cell(group_key("fan"), "target"))
        await pilot.press("n")
        assert table.selected() == ("fan", "dev0523")
        await pilot.press("n")  # wraps round to the first failure
        assert table.selected() == ("fan", "dev0017")
        rec = app.backend.run(run_id)
        assert rec.state == "failed" and "2 device(s) failed" in rec.reason


async def wait(pilot: Pilot[Any], run: RunScreen, cond: Callable[[], bool], what: str) -> None:
    """A fleet takes a while on a shared machine: wait for the run as long as it moves on."""
    seen, still = -1, 0
    while not cond():
        await pilot.pause()
        moved = sum(v.status != "pending" for v in run.views)
        still = still + 1 if moved == seen else 0
        seen = moved
        assert still < 2000, f"the run stopped moving before {what}: {run.record.state} " \
                             f"{run.record.reason}, {moved} devices started"
