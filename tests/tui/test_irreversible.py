"""The Rollback screen warns about a step that cannot be undone, and the refusal changes nothing."""

from __future__ import annotations

from typing import Any

from textual.widgets import Log, Static

from runbook.export import build_record, render, verify_record
from runbook.inventory import Inventory
from runbook.journal import Journal
from runbook.journal_chain import verify_chain
from runbook.loader import load_procedure_text
from runbook.screens import create_app
from runbook.screens.modals import ConfirmModal
from runbook.screens.rollback import RollbackScreen

from ..helpers import engine_for
from .test_e2e import until

PROC = """\
id: test.irreversible
title: Change a file, then send something that cannot be called back
vendor: lab
source: {document: tests}
risk: low
params:
  device: {type: target}
steps:
  - id: write
    title: Write the label
    kind: run
    target: device
    command: echo two > label.txt
    modifies: [label.txt]
  - id: send
    title: Send it
    kind: run
    target: device
    command: echo sent > sent.txt
    irreversible: The receiver has it now.
"""


async def test_rollback_screen_warns_then_refuses_without_changing_anything(
        ssh_device: Any) -> None:
    (ssh_device.root / "label.txt").write_text("one\n")
    engine, journal, _ = engine_for(ssh_device.data_dir)
    run_id = engine.create(load_procedure_text(PROC), PROC, "irreversible.yaml",
                           {"device": "dev1"}, {}, Inventory.load(ssh_device.inventory_path))
    assert await engine.execute(run_id, {}) == "succeeded"
    journal.close()

    app = create_app(data_dir=ssh_device.data_dir, inventory_path=ssh_device.inventory_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = RollbackScreen(app.backend, run_id, None, {})  # type: ignore[attr-defined]
        app.push_screen(screen)
        await pilot.pause()
        warning = str(screen.query_one("#irreversible-send", Static).render())
        assert "send cannot be undone: The receiver has it now." in warning
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        log = screen.query_one("#rollback-log", Log)
        await until(pilot, lambda: any("rollback refused" in line for line in log.lines),
                    "the refusal")
        assert any("step send (on dev1) cannot be undone" in line for line in log.lines)
        # the refusal is the engine's, recorded in the run's hash chain, and the screen says so
        await until(pilot, lambda: screen.state == "refused", "the recorded refusal")
        intro = str(screen.query_one("#rollback-intro", Static).render())
        assert "Rollback refused" in intro and "recorded in the run's change record" in intro
    assert (ssh_device.root / "label.txt").read_text() == "two\n"  # not restored
    journal = Journal.open(ssh_device.data_dir)
    try:
        [refusal] = [e for e in journal.events(run_id) if e.kind == "rollback_refusal"]
        assert "step send (on dev1) cannot be undone" in refusal.data["reason"]
        assert verify_chain(journal.events(run_id)) is None  # still one unbroken chain
        record = build_record(journal, run_id)
        assert verify_record(record) is None
        assert "**Rollback refused** by runbook" in render(record, "md")
    finally:
        journal.close()
