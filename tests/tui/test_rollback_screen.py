"""The Rollback screen lists a retried step once, and counts what the engine will do."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable, ProgressBar, Static

from runbook.inventory import Inventory
from runbook.loader import load_procedure_text
from runbook.screens import create_app
from runbook.screens.modals import ConfirmModal
from runbook.screens.rollback import RollbackScreen

from ..helpers import engine_for
from .test_e2e import until

PROC = """\
id: test.retried
title: A step that fails half-way, then is run again
vendor: lab
source: {document: tests}
risk: low
params:
  device: {type: target}
steps:
  - id: check
    title: Check
    kind: run
    target: device
    command: echo ok
  - id: write
    title: Write the label
    kind: run
    target: device
    command: >-
      if [ -e again ]; then echo two > label.txt;
      else echo half > label.txt; touch again; exit 1; fi
    modifies: [label.txt]
    rollback: [rm -f again]
"""


async def test_a_retried_step_appears_once_with_one_count_everywhere(ssh_device: Any) -> None:
    (ssh_device.root / "label.txt").write_text("one\n")
    engine, journal, _ = engine_for(ssh_device.data_dir)
    run_id = engine.create(load_procedure_text(PROC), PROC, "retried.yaml",
                           {"device": "dev1"}, {}, Inventory.load(ssh_device.inventory_path))
    assert await engine.execute(run_id, {}) == "failed"  # attempt 1 wrote half, then failed
    assert await engine.execute(run_id, {}) == "succeeded"  # attempt 2
    assert len(journal.backups(run_id)) == 2
    journal.close()

    app = create_app(data_dir=ssh_device.data_dir, inventory_path=ssh_device.inventory_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = RollbackScreen(app.backend, run_id, "write", {})
        app.push_screen(screen)
        await pilot.pause()
        count = "1 file(s) to restore and 1 rollback command(s)"
        assert screen.summary() == count
        assert count in str(screen.query_one("#rollback-intro", Static).render())
        table = screen.query_one("#rollback-backups", DataTable)
        assert table.row_count == 1
        assert [str(c) for c in table.get_row_at(0)[:3]] == ["write", "dev1", "label.txt"]
        listed = str(screen.query_one("#rollback-commands", Static).render())
        assert listed.splitlines() == ["write on dev1: $ rm -f again"]
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal) and count[1:] in app.screen.message
        await pilot.press("y")
        await until(pilot, lambda: screen.state is not None, "the rollback to finish")
        assert screen.state == "waiting"
        bar = screen.query_one(ProgressBar)
        assert bar.total == 2 and bar.progress == 2  # every counted action, each once
        assert "hash verified" in str(table.get_row_at(0)[5])
    assert (ssh_device.root / "label.txt").read_text() == "one\n"  # before attempt 1
    assert not (ssh_device.root / "again").exists()
