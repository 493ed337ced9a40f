"""Whole runs by key presses against a real in-process SSH device: run, resume, roll back."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from textual.pilot import Pilot
from textual.widgets import Log, Select, Static

from runbook import Journal
from runbook.screens import create_app
from runbook.screens.export import ExportScreen
from runbook.screens.modals import ConfirmModal, InDoubtModal
from runbook.screens.params import ParamsScreen
from runbook.screens.plan import PlanScreen
from runbook.screens.rollback import RollbackScreen
from runbook.screens.run import RunScreen
from runbook.screens.widgets import CertTable, DecisionBar, Field, StepTable

from .conftest import DEMO, HERE, SECRET


def write_cert(path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dev1.lab")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=400)).sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


async def until(pilot: Pilot[Any], cond: Callable[[], bool], what: str) -> None:
    """Let the app (and the device) work until `cond` holds; fail after 120 s (loaded CI)."""
    try:
        async with asyncio.timeout(120):
            while not cond():
                await pilot.pause()
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def waiting(screen: RunScreen, question: str) -> bool:
    return screen.pending is not None and screen.pending[0].question == question


async def drive_demo_run(pilot: Pilot[Any], device: Any) -> RunScreen:
    """Params, plan, start, confirm, manual step: the demo procedure to its end."""
    app = pilot.app
    app.push_screen(ParamsScreen(app.backend, str(DEMO)))  # type: ignore[attr-defined]
    await pilot.pause()
    params = app.screen
    assert isinstance(params, ParamsScreen)
    params.query_one("#param-device", Select).value = device.name
    params.query_one("#param-token", Field).focus()
    await pilot.press(*SECRET)
    await pilot.press("ctrl+l")
    await pilot.pause()
    assert isinstance(app.screen, PlanScreen)
    await pilot.press("escape")
    await pilot.press("ctrl+r")
    await pilot.pause()
    run = app.screen
    assert isinstance(run, RunScreen)
    await until(pilot, lambda: waiting(run, "confirm"), "the confirmation")
    assert run.query_one(DecisionBar).display
    assert run.query_one(StepTable).selected() == ("write-label", device.name)
    await pilot.press("r")
    await until(pilot, lambda: waiting(run, "manual"), "the manual step")
    await pilot.press("r")
    await app.workers.wait_for_complete()
    await until(pilot, lambda: not run.running, "the end of the run")
    await pilot.pause()
    return run


async def test_whole_run_by_key_presses(ssh_device: Any, tmp_path: Path) -> None:
    write_cert(ssh_device.root / "cert.pem")
    app = create_app(data_dir=ssh_device.data_dir, inventory_path=ssh_device.inventory_path)
    async with app.run_test(size=(120, 40)) as pilot:
        run = await drive_demo_run(pilot, ssh_device)
        journal = Journal.open(ssh_device.data_dir)
        rec = journal.get_run(run.run_id)
        assert rec.state == "succeeded", rec.reason
        statuses = {(a.step_id, a.target): a.status for a in journal.attempts(rec.id)}
        assert statuses[("write-label", "dev1")] == "succeeded"
        assert statuses[("operator-check", None)] == "succeeded"
        answers = [e.data["answer"] for e in journal.events(rec.id)
                   if e.kind == "decision_made"]
        assert answers == ["yes", "done"]
        assert (ssh_device.root / "label.txt").read_text() == "renew\n"
        assert "echo hello from dev1" in ssh_device.server.commands
        # the screen shows what the engine says, and never the secret
        await pilot.press("end")
        await pilot.pause()
        assert run.query_one(StepTable).selected() == ("finish", "dev1")
        lines = run.query_one("#output-log", Log).lines
        assert any("token" in line and "used" in line for line in lines)
        assert not any(SECRET in line for line in lines)
        run.query_one(StepTable).select("cert-now", "dev1")
        await pilot.pause()
        assert run.query_one(CertTable).display
        # export the change record
        await pilot.press("e")
        await pilot.pause()
        export = app.screen
        assert isinstance(export, ExportScreen)
        export.query_one("#export-path", Field).value = str(tmp_path / "record.md")
        await pilot.click("#write")
        await pilot.pause()
        text = (tmp_path / "record.md").read_text()
        assert rec.id in text and SECRET not in text
        journal.close()


async def test_roll_back_from_the_run_screen(ssh_device: Any) -> None:
    write_cert(ssh_device.root / "cert.pem")
    app = create_app(data_dir=ssh_device.data_dir, inventory_path=ssh_device.inventory_path)
    async with app.run_test(size=(120, 40)) as pilot:
        run = await drive_demo_run(pilot, ssh_device)
        assert (ssh_device.root / "label.txt").exists()
        run.query_one(StepTable).select("write-label", "dev1")
        await pilot.press("b")
        await pilot.pause()
        rollback = app.screen
        assert isinstance(rollback, RollbackScreen)
        assert [s.id for s in rollback.steps][:1] == ["write-label"]
        # the commands are listed before anything is confirmed, with the one count
        listed = str(rollback.query_one("#rollback-commands", Static).render())
        assert "write-label" in listed and "rm -f label.txt" in listed
        assert rollback.summary() in str(rollback.query_one("#rollback-intro", Static).render())
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await until(pilot, lambda: rollback.state is not None, "the rollback to finish")
        assert rollback.state == "waiting"
        assert rollback.sub_title.startswith("rollback waiting")  # the header says what happened
        assert not (ssh_device.root / "label.txt").exists()
        journal = Journal.open(ssh_device.data_dir)
        latest = journal.latest_attempts(run.run_id)
        assert latest[("write-label", "dev1")].status == "rolled_back"
        journal.close()


async def test_quit_mid_step_then_resume_and_settle_in_doubt(ssh_device: Any) -> None:
    slow = HERE / "procedures" / "slow.yaml"
    app = create_app(data_dir=ssh_device.data_dir, inventory_path=ssh_device.inventory_path)
    async with app.run_test(size=(120, 40)) as pilot:
        app.push_screen(ParamsScreen(app.backend, str(slow)))
        await pilot.pause()
        app.screen.query_one("#param-device", Select).value = ssh_device.name
        await pilot.press("ctrl+r")
        await pilot.pause()
        run = app.screen
        assert isinstance(run, RunScreen)
        await until(pilot, lambda: any("started" in x for x in
                                       run.query_one("#output-log", Log).lines),
                    "the slow step's first line")
        run_id = run.run_id
    # the app is gone mid-step: the attempt is still `running` in the journal
    journal = Journal.open(ssh_device.data_dir)
    assert journal.latest_attempts(run_id)[("slow", "dev1")].status == "running"

    app = create_app(data_dir=ssh_device.data_dir, inventory_path=ssh_device.inventory_path,
                     open_run=run_id, resume=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, InDoubtModal), "the in-doubt modal")
        modal = app.screen
        assert "echo started" in str(modal.details["command"])
        assert "started" in str(modal.details["output"])
        await pilot.press("v")  # verify: `test -f changed.txt` succeeds, so it counts as done
        run = next(s for s in app.screen_stack if isinstance(s, RunScreen))
        await until(pilot, lambda: not run.running and journal.get_run(run_id).state not in
                    ("running", "created"), "the resumed run to end")
        rec = journal.get_run(run_id)
        assert rec.state == "succeeded", rec.reason
        latest = journal.latest_attempts(run_id)
        assert latest[("slow", "dev1")].reason == "verified after an interruption"
        assert latest[("after", "dev1")].status == "succeeded"
        assert sum(c.startswith("echo started") for c in ssh_device.server.commands) == 1
    journal.close()
