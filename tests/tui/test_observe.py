"""The change board's observer: it follows a run another process drives, and changes nothing."""

from __future__ import annotations

import ast
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Log, Static

from runbook.journals import open_journal
from runbook.observe_feed import lock_key, open_reader
from screens.observe import ObserverApp, RunScreen, RunsScreen
from tests.tui.observed import SECRET, reader_when_ready, start_run

REPO = Path(__file__).resolve().parents[2]
# Every key the observer offers: moving around, opening a run to watch, going back, copying
# selected text, quitting.
NAVIGATION = {"screen.copy_text", "copy_text", "quit", "app.quit", "help_quit", "app.pop_screen",
              "focus_next",
              "focus_previous", "select_cursor", "cursor_up", "cursor_down", "cursor_left",
              "cursor_right", "page_up", "page_down", "page_left", "page_right",
              "scroll_home", "scroll_end", "scroll_top", "scroll_bottom", "scroll_up",
              "scroll_down", "scroll_left", "scroll_right", "app.toggle_help_panel",
              "app.focus_next", "app.focus_previous"}


async def until(pilot: Any, condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 90  # a limit on waiting, not a timing assertion
    while not condition():
        assert time.monotonic() < deadline, f"the observer never showed {what}"
        await pilot.pause(0.05)  # let the observer poll and redraw


def output(app: ObserverApp) -> str:
    return "\n".join(str(line) for line in app.screen.query_one("#output", Log).lines)


def step_states(app: ObserverApp) -> dict[str, str]:
    table = app.screen.query_one("#steps", DataTable)
    rows = [table.get_row_at(i) for i in range(table.row_count)]
    return {str(r[0]): str(r[3]) for r in rows}


def head(app: ObserverApp) -> str:
    return str(app.screen.query_one("#head", Static).render())


def actions(app: ObserverApp) -> set[str]:
    """The action of every binding on the screen: the app's, the screen's, every widget's."""
    found = set()
    for node in [app, *app.screen.walk_children(with_self=True)]:
        for bindings in node._bindings.key_to_bindings.values():
            found |= {b.action for b in bindings}
    return found


async def test_the_observer_follows_a_run_another_process_drives(
        sshd: Any, tmp_path: Path, journal_backend: str | None) -> None:
    proc, gate = await start_run(sshd, tmp_path)
    reader = await reader_when_ready(journal_backend, sshd.data_dir)
    app = ObserverApp(reader, poll=0.1)
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            runs = app.screen.query_one("#runs", DataTable)
            await until(pilot, lambda: runs.row_count == 1, "the run")
            assert isinstance(app.screen, RunsScreen) and actions(app) <= NAVIGATION
            runs.focus()
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, RunScreen), "the run's screen")
            await until(pilot, lambda: "first-output-line" in output(app), "the first output")
            await until(pilot, lambda: "running" in step_states(app).get("second", ""),
                        "the second step running")
            assert "second-output-line" not in output(app)  # not finished: it waits for us
            assert "succeeded" in step_states(app)["first"]
            assert actions(app) <= NAVIGATION, actions(app) - NAVIGATION
            gate.touch()
            await until(pilot, lambda: "second-output-line" in output(app), "later output")
            await until(pilot, lambda: "succeeded" in head(app), "the run succeeded")
            assert "succeeded" in step_states(app)["second"]
            assert SECRET not in output(app)  # output is shown as stored: redacted
            assert "first-output-line token=" in output(app)
            await pilot.press("escape")
            assert isinstance(app.screen, RunsScreen)
    finally:
        reader.close()
        if proc.returncode is None:
            gate.touch()
        out, err = await proc.communicate()
    assert proc.returncode == 0, out.decode() + err.decode()


async def test_the_observer_cannot_write_to_the_journal(
        tmp_path: Path, journal_backend: str | None) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    journal = open_journal(journal_backend, data)
    run_id = journal.create_run(procedure_id="p", procedure_title="P", procedure_path="p.yaml",
                                procedure_hash="0", procedure_text="steps: []", params={},
                                secret_names=[], inventory={})
    journal.close()
    reader = open_reader(journal_backend, data)
    try:
        assert [r.id for r in reader.runs()] == [run_id]
        with pytest.raises(Exception, match="(?i)read-only|readonly"):
            reader._db.execute("UPDATE runs SET state = 'aborted'")
        assert reader.run(run_id).state == "created"
    finally:
        reader.close()


def test_a_missing_journal_is_one_clear_error_and_is_not_created(tmp_path: Path) -> None:
    from runbook.observe_feed import ObserveError

    with pytest.raises(ObserveError, match="no journal at"):
        open_reader(None, tmp_path)
    assert not (tmp_path / "journal.db").exists()


def test_run_lock_keys_match_the_team_journal() -> None:
    from runbook.journal_pg import lock_key as writer_key

    assert lock_key("20261201-120000-beef") == writer_key("20261201-120000-beef")


def runbook_imports(path: Path) -> set[str]:
    """The runbook and screens modules a file imports (relative imports made absolute)."""
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            name = ".".join(p for p in (base if node.level else "", node.module or "") if p)
            names = [name] + [f"{name}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n.replace("runbook.screens", "screens") for n in names
                  if n.split(".")[0] in ("runbook", "screens")}
    return found


def test_the_observer_is_built_only_on_the_read_only_reader() -> None:
    """No engine, no writing journal, no rollback, no operator's screens: the observer's code
    cannot reach anything that changes a run (and its database session refuses writes)."""
    allowed = {
        "screens/observe.py": {"runbook.observe_feed", "screens.format", "screens.footer"},
        "screens/format.py": set(),
        "screens/footer.py": set(),
        "runbook/observe_feed.py": {"runbook.errors", "runbook.journal_url", "runbook.run_locks"},
        "runbook/errors.py": set(),
        "runbook/journal_url.py": set(),
        "runbook/run_locks.py": set(),
    }
    for file, ok in allowed.items():
        used = {m for m in runbook_imports(REPO / file)
                if not any(m == a or m.startswith(a + ".") for a in ok)}
        assert used <= {"runbook", "screens"} | {
            a.rpartition(".")[0] for a in ok}, f"{file} imports {used}"


async def test_the_observer_offers_no_key_that_changes_anything(
        tmp_path: Path, journal_backend: str | None) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    journal = open_journal(journal_backend, data)
    # text from the journal that looks like markup is shown as it is, and breaks nothing
    run_id = journal.create_run(procedure_id="board[/x]", procedure_title="P [b]",
                                procedure_path="p.yaml", procedure_hash="0",
                                procedure_text="steps: [{id: 'one[/b]'}]", params={},
                                secret_names=[], inventory={})
    journal.close()
    reader = open_reader(journal_backend, data)
    app = ObserverApp(reader, open_run=run_id, poll=0.1)
    try:
        async with app.run_test() as pilot:
            await until(pilot, lambda: isinstance(app.screen, RunScreen), "the run")
            assert actions(app) <= NAVIGATION, actions(app) - NAVIGATION
            assert not app.ENABLE_COMMAND_PALETTE
            for key in "rRabkyndsx":  # an operator's keys do nothing here
                await pilot.press(key)
            assert isinstance(app.screen, RunScreen)
            await until(pilot, lambda: "not started" in head(app), "the run's state")
            assert "board[/x]" in head(app) and "one[/b]" in step_states(app)
            await pilot.press("escape")
            assert isinstance(app.screen, RunsScreen)
            runs = app.screen.query_one("#runs", DataTable)
            await until(pilot, lambda: runs.row_count == 1, "the run in the list")
            await pilot.pause()
            assert str(runs.get_row_at(0)[2]) == "board[/x]"
    finally:
        reader.close()
    with open_journal(journal_backend, data) as journal:
        assert journal.get_run(run_id).state == "created"
        assert journal.events(run_id) == [] and journal.attempts(run_id) == []


async def test_observe_says_in_one_line_why_it_cannot_read_the_journal(tmp_path: Path) -> None:
    from tests.helpers import cli, cli_env

    env = cli_env(tmp_path / "data", tmp_path)
    code, out, err = await cli(["observe"], env)
    assert code == 6 and "no journal at" in err and "Traceback" not in err, err
    assert not (tmp_path / "data" / "journal.db").exists()
    code, out, err = await cli(["--journal", "postgresql://board:hunter2@127.0.0.1:1/x",
                                "observe"], env)
    assert code == 6 and "cannot open the team journal" in err, err
    assert "hunter2" not in err and len(err.strip().splitlines()) == 1


def test_following_reads_only_what_is_new(tmp_path: Path, journal_backend: str | None) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    journal = open_journal(journal_backend, data)
    run_id = journal.create_run(procedure_id="p", procedure_title="P", procedure_path="p.yaml",
                                procedure_hash="0", procedure_text="steps: [{id: one}]",
                                params={}, secret_names=[], inventory={})
    reader = open_reader(journal_backend, data)
    try:
        follower = reader.follow(run_id)
        first = follower.poll()
        assert first.attempts == [] and first.events == [] and first.output == []
        attempt = journal.start_attempt(run_id, "one", "dev1", "echo")
        journal.append_event(run_id, "step_started", {}, "one", "dev1")
        journal.append_output(attempt.id, "line one\n")
        update = follower.poll()
        assert [e.kind for e in update.events] == ["step_started"]
        assert [(c.step_id, c.target, c.text) for c in update.output] == [
            ("one", "dev1", "line one\n")]
        journal.append_output(attempt.id, "line two\n")
        update = follower.poll()
        assert update.events == [] and [c.text for c in update.output] == ["line two\n"]
        assert update.attempts is not None and update.attempts[0].status == "running"
        journal.append_output(attempt.id, "last line\n")
        journal.finish_attempt(attempt.id, status="succeeded", exit_status=0)
        update = follower.poll()  # the last read of an attempt that finished meanwhile
        assert [c.text for c in update.output] == ["last line\n"]
        assert update.attempts is not None and update.attempts[0].status == "succeeded"
        update = follower.poll()  # nothing happened: nothing is read but the run's row
        assert update.attempts is None and update.events == [] and update.output == []
        journal.set_attempt_status(attempt.id, "rolled_back")
        journal.append_event(run_id, "step_rolled_back", {}, "one", "dev1")
        update = follower.poll()
        assert update.attempts is not None and update.attempts[0].status == "rolled_back"
        assert [e.seq for e in update.events] == [2] and update.output == []
    finally:
        reader.close()
        journal.close()
