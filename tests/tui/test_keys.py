"""Discoverability: `?` lists the screen's keys, `q` quits where nothing runs, screenshots
land in the data directory."""

from __future__ import annotations

from textual.widgets import Static

from screens import create_app
from screens.home import HomeScreen
from screens.modals import KeysModal
from screens.run import RunScreen

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
