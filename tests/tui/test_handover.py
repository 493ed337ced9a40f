"""Taking over a run from another operator's dead session: the TUI's own question, in words."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import sys
from pathlib import Path
from typing import Any, cast

import pytest
from textual.widgets import Static

from runbook import Engine, Inventory, Journal
from runbook.headless import FlagDecider
from runbook.loader import load_procedure_text
from runbook.screens import create_app
from runbook.screens.modals import HeldModal, SecretsModal, TakeOverModal
from runbook.screens.run import RunScreen
from runbook.screens.widgets import Field

from .conftest import write_inventory
from .test_e2e import until, waiting

PROC = """\
id: test.handover
title: A change the night shift started
vendor: lab
source: {document: tests}
risk: low
params:
  device: {type: target}
  token: {type: secret}
steps:
  - id: prepare
    title: Prepare
    kind: run
    target: device
    command: echo prepared
  - id: look
    title: Look at the console
    kind: manual
    description: Check the console of {{ device }}.
  - id: use
    title: Use the token
    kind: run
    target: device
    command: echo token "$TOKEN" used
    secrets: {TOKEN: "{{ token }}"}
"""


def night_shift(tmp: Path, pid: int) -> tuple[Path, Path, str]:
    """A run alice drove (its first step done) whose session, process `pid`, still holds it."""
    data = tmp / "data"
    data.mkdir(mode=0o700)
    inv = write_inventory(tmp)
    journal = Journal.open(data)
    engine = Engine(journal, FlagDecider(), transport_factory=lambda inv: cast(Any, None),
                    inventory_from_snapshot=Inventory.from_snapshot)
    run_id = engine.create(load_procedure_text(PROC), PROC, "handover.yaml",
                           {"device": "fw1"}, {"token": "night"}, Inventory.load(inv))
    journal.append_event(run_id, "operator", {"by": "alice", "previous": None,
                                              "database_user": None})
    a = journal.start_attempt(run_id, "prepare", "fw1", "echo prepared")
    journal.finish_attempt(a.id, status="succeeded", exit_status=0)
    journal.set_run_state(run_id, "running")
    path = journal.path
    journal.close()
    assert path is not None
    with sqlite3.connect(path) as db:  # the lock alice's session left behind
        db.execute("UPDATE runs SET lock_pid = ?, lock_host = ?, lock_at = ?, lock_user = ?"
                   " WHERE id = ?", (pid, socket.gethostname(), "2026-11-22T01:31:00.000000",
                                     "alice", run_id))
    db.close()
    return data, inv, run_id


async def _process() -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(sys.executable, "-c",
                                                "import sys; sys.stdin.read()",
                                                stdin=asyncio.subprocess.PIPE)


async def _dead_pid() -> int:
    proc = await _process()
    assert proc.stdin is not None
    proc.stdin.close()
    await proc.wait()
    return proc.pid


def _text(screen: TakeOverModal | HeldModal) -> str:
    return " ".join(str(s.render()) for s in screen.query(Static))


def _operators(data: Path, run_id: str) -> list[dict[str, Any]]:
    journal = Journal.open(data)
    try:
        return [e.data for e in journal.events(run_id) if e.kind == "operator"]
    finally:
        journal.close()


@pytest.mark.parametrize("answer", ["yes", "no"])
async def test_take_over_from_a_dead_session_asks_in_its_own_words(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: str) -> None:
    pid = await _dead_pid()
    data, inv, run_id = night_shift(tmp_path, pid)
    monkeypatch.setenv("RUNBOOK_OPERATOR", "bob")
    app = create_app(data_dir=data, inventory_path=inv)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.open_run(run_id, resume=True)
        await until(pilot, lambda: isinstance(app.screen, TakeOverModal), "the take-over")
        modal = app.screen
        assert isinstance(modal, TakeOverModal)
        text = _text(modal)
        assert "alice" in text and f"alice@{socket.gethostname()}" in text
        assert f"process {pid}" in text and "since 2026-11-22 01:31 UTC" in text
        assert "session is gone" in text and "No live process holds it now" in text
        assert "asked for them again" in text and "names you" in text
        assert str(modal.query_one("#yes").render()).startswith("Take over")
        assert str(modal.query_one("#no").render()) == "Cancel"
        run = app.screen_stack[-2]
        assert isinstance(run, RunScreen) and run.pending is None  # not the decision bar
        assert not run.running  # asked before the secrets, before anything starts
        await pilot.click("#yes" if answer == "yes" else "#no")
        if answer == "yes":  # then the secrets, asked again; then bob drives
            await until(pilot, lambda: isinstance(app.screen, SecretsModal), "the secrets")
            app.screen.query_one("#secret-token", Field).value = "morning"
            await pilot.click("#ok")
            await until(pilot, lambda: waiting(run, "manual"), "the manual step")
        else:
            await pilot.pause()
            assert app.screen is run and not run.running  # nothing started
    journal = Journal.open(data)
    try:
        drivers = [e.data for e in journal.events(run_id) if e.kind == "operator"]
        asked = [e.data for e in journal.events(run_id) if e.kind == "decision_made"]
        if answer == "yes":
            assert [(d["by"], d["previous"]) for d in drivers] == [("alice", None),
                                                                    ("bob", "alice")]
            assert [(d["question"], d["answer"]) for d in asked] == [("take_over", "yes")]
            [needed] = [e.data for e in journal.events(run_id) if e.kind == "decision_needed"
                        and e.data["question"] == "take_over"]
            assert needed["details"]["pid"] == pid and needed["details"]["left_locked"]
        else:
            assert [d["by"] for d in drivers] == ["alice"] and not asked
            assert journal.get_run(run_id).state == "running"  # as alice left it
    finally:
        journal.close()


async def test_a_run_held_by_a_live_session_is_refused_in_words(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    holder = await _process()  # alice's session, still running
    try:
        data, inv, run_id = night_shift(tmp_path, holder.pid)
        monkeypatch.setenv("RUNBOOK_OPERATOR", "bob")
        app = create_app(data_dir=data, inventory_path=inv)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            app.open_run(run_id, resume=True)
            await until(pilot, lambda: isinstance(app.screen, HeldModal), "the refusal")
            text = _text(app.screen)
            assert f"alice@{socket.gethostname()} (pid {holder.pid})" in text
            assert "still running" in text and "cannot be resumed or taken over" in text
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, RunScreen) and not app.screen.running
        assert [d["by"] for d in _operators(data, run_id)] == ["alice"]  # nothing changed
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        await holder.wait()
