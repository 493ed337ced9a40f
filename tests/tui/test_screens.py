"""Pilot tests: the screens driven by key presses over a recorded journal (no devices)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Log, Select, Static

from runbook.screens import create_app
from runbook.screens.home import HomeScreen
from runbook.screens.modals import HostKeyModal, InDoubtModal
from runbook.screens.params import ParamsScreen
from runbook.screens.plan import PlanScreen
from runbook.screens.run import RunScreen
from runbook.screens.widgets import CertTable, Field, StepTable

from .conftest import DEMO, Recorded, host_key_request, in_doubt_request


async def test_run_screen_rebuilds_from_the_journal(recorded: Recorded) -> None:
    app = create_app(data_dir=recorded.data, inventory_path=recorded.inventory,
                     open_run=recorded.run_id)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RunScreen)
        table = screen.query_one(StepTable)
        # one row per step and target; the fan-out step is one grouped row (2 devices)
        assert table.row_count == 6
        assert table.selected() == ("write-label", "fw1")  # where the run stopped
        assert "failed" in str(screen.query_one("#run-status", Static).render())
        await pilot.press("up")
        await pilot.pause()
        assert table.selected() == ("cert-now", "fw1")
        certs = screen.query_one(CertTable)
        assert certs.display and certs.row_count >= 8
        log = screen.query_one("#output-log", Log)
        assert any("CN=fw1.example.net" in line for line in log.lines)


async def test_home_filters_as_you_type_and_lists_runs(recorded: Recorded) -> None:
    app = create_app(data_dir=recorded.data, inventory_path=recorded.inventory)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        home = app.screen
        assert isinstance(home, HomeScreen)
        procs = home.query_one("#procedure-table", DataTable)
        before = procs.row_count
        assert before >= 1
        await pilot.press("slash", *"zzz-nothing")
        await pilot.pause()
        assert procs.row_count == 0
        home.query_one("#filter", Field).value = ""
        await pilot.pause()
        assert procs.row_count == before
        await pilot.press("u")
        await pilot.pause()
        runs = home.query_one("#run-table", DataTable)
        assert runs.row_count == 1
        assert "1 unfinished run" in str(home.query_one("#banner", Static).render())
        await pilot.press("i")
        await pilot.pause()
        assert home.query_one("#inventory-table", DataTable).row_count == 3


async def test_params_validate_inline_mask_secrets_and_plan(tmp_path: Path,
                                                            recorded: Recorded) -> None:
    app = create_app(data_dir=recorded.data, inventory_path=recorded.inventory)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.push_screen(ParamsScreen(app.backend, str(DEMO)))
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ParamsScreen)
        token = screen.query_one("#param-token", Field)
        assert token.password
        label = screen.query_one("#param-label", Field)
        label.value = "Not Valid!"
        await pilot.pause()
        hint = screen.query_one("#hint-label", Static)
        assert hint.has_class("error") and "does not match" in str(hint.render())
        label.value = "renew"
        await pilot.pause()
        assert not hint.has_class("error")
        fleet = screen.query_one("#param-fleet", Field)
        fleet.value = "gateways"
        await pilot.pause()
        assert "fw1, fw2" in str(screen.query_one("#hint-fleet", Static).render())
        screen.query_one("#param-device", Select).value = "fw2"
        await pilot.press("ctrl+l")
        await pilot.pause()
        plan = app.screen
        assert isinstance(plan, PlanScreen)
        text = str(plan.plan)
        assert "backup" in text and "rm -f label.txt" in text
        assert "•••••• (secret, not stored)" in text
        assert "IFS= read -r TOKEN" in text  # the secret goes on stdin: the plan needs none
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("ctrl+r")  # secret missing: inline error, no run created
        await pilot.pause()
        assert isinstance(app.screen, ParamsScreen)
        assert "required" in str(screen.query_one("#hint-token", Static).render())


async def test_modals_return_the_operators_choice(recorded: Recorded) -> None:
    app = create_app(data_dir=recorded.data)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        answers: list[str | None] = []
        req = in_doubt_request(recorded.run_id)
        app.push_screen(InDoubtModal(req.step_id, req.target, req.prompt, req.details),
                        callback=answers.append)
        await pilot.pause()
        await pilot.press("v")
        await pilot.pause()
        hk = host_key_request(recorded.run_id)
        app.push_screen(HostKeyModal("fw1", "10.0.0.1", 22, hk.details["fingerprint"]),
                        callback=answers.append)
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        app.push_screen(HostKeyModal("fw1", "10.0.0.1", 22, "SHA256:new", ["SHA256:old"]),
                        callback=answers.append)
        await pilot.pause()
        assert not app.screen.query("#accept")  # a changed key cannot be accepted
        await pilot.click("#refuse")
        await pilot.pause()
        assert answers == ["verify", "refuse", "refuse"]
