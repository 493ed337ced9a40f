"""Drive the terminal UI by key presses against the lab; assert on widgets and the journal."""

from __future__ import annotations

from textual.widgets import DataTable, Input, RichLog, Select

from runbook.journal import Journal
from screens.app import create_app
from screens.modals import ExportModal, QuestionModal
from screens.params import ParamsScreen
from screens.run import RunScreen


async def until(pilot, condition, what: str, limit: int = 600) -> None:
    """Let the app run until `condition()` holds (bounded; never a fixed sleep)."""
    for _ in range(limit):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_whole_fmc_renewal_by_key_presses(lab_factory, tmp_path) -> None:
    lab = await lab_factory("ftd-tunnel-down")
    app = create_app(data_dir=tmp_path / "data", inventory_path=lab.inventory_path)
    async with app.run_test(size=(120, 40)) as pilot:
        procs = app.screen.query_one("#procedures", DataTable)
        await pilot.press("slash", *"fmc", "enter")
        assert procs.row_count == 1
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ParamsScreen), "params")
        assert app.screen.query_one("#p-fmc", Select).value == "fmc1"
        assert app.screen.query_one("#p-ftds", Input).value == "role=ftd"
        await pilot.press("f2")  # the plan, before anything runs
        await until(pilot, lambda: "Backout plan" in str(app.screen.query("Markdown").first()
                                                         ._markdown), "plan")
        await pilot.press("escape", "ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, QuestionModal), "the confirm modal")
        assert app.screen.request.question == "confirm"
        assert app.screen.request.step_id == "generate"
        await pilot.click("#choice-yes")
        await until(pilot, lambda: app.journal.list_runs()[0].state not in ("running",
                                                                             "created"),
                    "the run to end")
        await pilot.pause()
        assert isinstance(app.screen, RunScreen), app.screen
        assert "succeeded" in str(app.screen.query_one("#run-state").render()), \
            app.journal.list_runs()[0]
        run = app.journal.list_runs()[0]
        assert run.state == "succeeded"
        steps = app.screen.query_one("#steps", DataTable)
        assert steps.row_count >= 12
        await pilot.press("m")
        await pilot.press(*"CAB-42 approved", "enter")
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ExportModal), "export modal")
        path = app.screen.query_one("#path", Input).value
        await pilot.click("#ok")
        await until(pilot, lambda: isinstance(app.screen, RunScreen), "back on the run")
    text = open(path).read()
    assert "CAB-42 approved" in text and "Change record" in text
    j = Journal.open(tmp_path / "data")
    try:
        decisions = [e.data["answer"] for e in j.events(run.id) if e.kind == "decision_made"]
        assert decisions == ["yes"]
    finally:
        j.close()


async def test_streaming_keeps_keys_responsive(tmp_path) -> None:
    from runbook.events import OutputLine
    j = Journal.open(tmp_path / "data")
    run_id = j.create_run(procedure_id="test.stream", procedure_title="Stream",
                          procedure_path="x.yaml", procedure_hash="0" * 64,
                          procedure_text=STREAM, params={}, secret_names=[], inventory={})
    j.close()
    app = create_app(data_dir=tmp_path / "data")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = RunScreen(run_id, {})
        await app.push_screen(screen)
        await pilot.pause()
        total = 200_000
        for i in range(total):
            screen.on_engine_event(OutputLine(run_id, "loud", None, f"line {i}"))
            if i == total // 2:
                await pilot.press("m")  # a key in the middle of the flood
                await pilot.pause()
                assert app.screen.__class__.__name__ == "TextModal"  # it took effect
                await pilot.press("escape")
            if i % 5000 == 0:
                await pilot.pause()
        await pilot.pause(0.2)
        log = screen.query_one("#output", RichLog)
        assert len(log.lines) <= 5000  # bounded


STREAM = """
id: test.stream
title: Stream
vendor: test
source: {document: tests}
risk: low
steps:
  - {id: loud, title: Loud, kind: manual}
"""
