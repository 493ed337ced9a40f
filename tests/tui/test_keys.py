"""Discoverability: `?` lists the screen's keys, `q` quits where nothing runs, screenshots
land in the data directory."""

from __future__ import annotations

from textual.widgets import Static
from textual.widgets._footer import FooterKey

from runbook.screens import create_app
from runbook.screens.home import HomeScreen
from runbook.screens.modals import KeysModal
from runbook.screens.run import RunScreen

from .conftest import Recorded


async def test_question_mark_lists_the_keys_of_the_screen(recorded: Recorded) -> None:
    app = create_app(data_dir=recorded.data, inventory_path=recorded.inventory,
                     open_run=recorded.run_id)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, RunScreen)
        await pilot.press("question_mark")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, KeysModal)
        text = " ".join(str(s.render()) for s in modal.query(Static))
        assert "Roll back the selected step" in text and "Skip" in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, RunScreen)


async def test_q_quits_where_nothing_runs(recorded: Recorded) -> None:
    app = create_app(data_dir=recorded.data, inventory_path=recorded.inventory)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_a_screenshot_is_saved_in_the_data_directory(recorded: Recorded) -> None:
    app = create_app(data_dir=recorded.data, inventory_path=recorded.inventory)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.action_screenshot()
        await pilot.pause()
    shots = list((recorded.data / "screenshots").glob("*.svg"))
    assert len(shots) == 1 and "<svg" in shots[0].read_text()


async def test_a_run_opened_directly_goes_back_to_the_home_screen(recorded: Recorded) -> None:
    """`runbook` with a run to open shows it without building the home screen first; leaving
    it lands on the home screen, and a run id that does not exist lands there at once."""
    app = create_app(data_dir=recorded.data, inventory_path=recorded.inventory,
                     open_run=recorded.run_id)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, RunScreen)
        assert not any(isinstance(s, HomeScreen) for s in app.screen_stack)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
    app = create_app(data_dir=recorded.data, inventory_path=recorded.inventory,
                     open_run="no-such-run")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


async def test_the_footer_keeps_its_keys_while_focus_moves(recorded: Recorded) -> None:
    """Moving focus between widgets that leave the shown keys as they are does not rebuild
    the footer (a rebuild of ~30 keys cost a run's start-up most of its time)."""
    app = create_app(data_dir=recorded.data, inventory_path=recorded.inventory,
                     open_run=recorded.run_id)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        before = list(app.screen.query(FooterKey))
        assert before
        await pilot.press("tab")
        await pilot.pause()
        await pilot.press("shift+tab")
        await pilot.pause()
        after = list(app.screen.query(FooterKey))
        assert [k.key for k in after] == [k.key for k in before]
        assert all(a is b for a, b in zip(after, before, strict=True))
