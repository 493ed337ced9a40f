"""200,000 lines of output: keys stay responsive and memory stays bounded."""

from __future__ import annotations

import asyncio

from textual.widgets import Log

from runbook.events import OutputLine
from runbook.screens import create_app
from runbook.screens.run import RunScreen
from runbook.screens.widgets import BURST, MAX_LINES, OutputPane, StepTable

from .conftest import Recorded

TOTAL = 200_000
CHUNK = 1_000


async def test_keys_work_while_200k_lines_stream(recorded: Recorded) -> None:
    app = create_app(data_dir=recorded.data, inventory_path=recorded.inventory,
                     open_run=recorded.run_id)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RunScreen)
        table = screen.query_one(StepTable)
        assert table.selected() == ("write-label", "fw1")
        halfway, key_seen = asyncio.Event(), asyncio.Event()

        async def stream() -> None:
            # the engine's subscriber path: OutputLine events handed to RunScreen.feed
            for n in range(0, TOTAL, CHUNK):
                if n == TOTAL // 2:
                    halfway.set()
                if n == TOTAL - CHUNK:
                    await key_seen.wait()  # the last chunk only after the key took effect
                for i in range(n, n + CHUNK):
                    screen.feed(OutputLine(recorded.run_id, "write-label", "fw1",
                                           f"line {i:06d} \x1b[31mred\x1b[0m"))
                await asyncio.sleep(0)  # yield as a network read would

        producer = asyncio.create_task(stream())
        await halfway.wait()
        await pilot.press("up")
        assert table.selected() == ("cert-now", "fw1")
        assert not producer.done()
        await pilot.press("down")
        assert table.selected() == ("write-label", "fw1")
        key_seen.set()
        await producer
        await pilot.pause()
        screen.flush()
        log = screen.query_one("#output-log", Log)
        store = screen.query_one("#output").store  # type: ignore[attr-defined]
        assert store.received == TOTAL
        assert log.line_count <= MAX_LINES
        assert all(len(lines) <= MAX_LINES for lines in store.lines.values())
        assert log.lines[-1] == f"line {TOTAL - 1:06d} red"  # ANSI stripped


async def test_a_flood_shows_its_newest_lines_then_the_whole_tail_in_order(
        recorded: Recorded) -> None:
    """More lines than one flush writes: the pane shows the newest behind a marker saying
    lines were passed over, and once the output pauses, the step's last MAX_LINES lines in
    order with no marker and no gap, for scrolling back."""
    app = create_app(data_dir=recorded.data, inventory_path=recorded.inventory,
                     open_run=recorded.run_id)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RunScreen)
        pane = screen.query_one(OutputPane)
        log = screen.query_one("#output-log", Log)
        lines = [f"line {i:06d} \x1b[31mred\x1b[0m" for i in range(3 * MAX_LINES)]
        pane.store.extend(("write-label", "fw1"), lines)
        pane.burst_at = 0.0  # as if the last flood write was long ago
        pane.flush()
        assert log.lines[-1] == f"line {3 * MAX_LINES - 1:06d} red"
        assert log.lines[-BURST - 1].startswith("… ") and "more lines" in log.lines[-BURST - 1]
        assert log.line_count < MAX_LINES
        pane.flush()  # nothing new: the whole tail, in order
        want = [f"line {i:06d} red" for i in range(2 * MAX_LINES, 3 * MAX_LINES)]
        assert log.lines == want
