"""The FMC sftunnel renewal on the lab, driven from Home by key presses to its change record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import DataTable, Select

from runbook import Journal
from runbook.screens import create_app
from runbook.screens.export import ExportScreen
from runbook.screens.params import ParamsScreen
from runbook.screens.plan import PlanScreen
from runbook.screens.run import RunScreen
from runbook.screens.widgets import Field

from .test_e2e import until, waiting


async def test_fmc_renewal_on_the_lab_by_key_presses(lab_factory: Any, tmp_path: Path) -> None:
    lab = await lab_factory("ftd-tunnel-down")
    app = create_app(data_dir=tmp_path / "data", inventory_path=lab.inventory_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        procs = app.screen.query_one("#procedure-table", DataTable)
        await pilot.press("slash", *"internalca and push", "enter")
        assert procs.row_count == 1
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ParamsScreen), "the parameters")
        params = app.screen
        assert params.query_one("#param-fmc", Select).value == "fmc1"
        assert params.query_one("#param-ftds", Field).value == "role=ftd"
        assert params.query_one("#param-fmc_secondary", Select).value is Select.NULL
        await pilot.press("ctrl+l")
        await until(pilot, lambda: isinstance(app.screen, PlanScreen), "the plan")
        await pilot.press("escape", "ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, RunScreen), "the run screen")
        run = app.screen
        assert isinstance(run, RunScreen)
        while True:
            await until(pilot, lambda: run.pending is not None or not run.running
                        and run.backend.run(run.run_id).state != "running", "a question")
            if run.pending is None:
                break
            assert waiting(run, "confirm"), run.pending
            await pilot.press("r")
            await until(pilot, lambda: run.pending is None, "the answer to be taken")
        await pilot.pause()
        rec = run.backend.run(run.run_id)
        assert rec.state == "succeeded", rec.reason
        await pilot.press("c", *"CAB-42 approved", "enter")
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        export = app.screen
        assert isinstance(export, ExportScreen)
        export.query_one("#export-path", Field).value = str(tmp_path / "record.md")
        await pilot.click("#write")
        await pilot.pause()
    text = (tmp_path / "record.md").read_text()
    assert "CAB-42 approved" in text and rec.id in text
    j = Journal.open(tmp_path / "data")
    try:
        decisions = [e.data["answer"] for e in j.events(rec.id) if e.kind == "decision_made"]
        assert decisions and set(decisions) == {"yes"}
    finally:
        j.close()
