"""The Run screen's keys for fan-out steps: expand a step's devices, filter them, jump to a
failure."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.widgets import DataTable

from .base import RunbookScreen
from .fanout import FAILED, PAGE, Groups, group_key, matches, shown_status
from .widgets import StepTable


class FanOutKeys(RunbookScreen[None]):
    """Space / Enter, `f` and `n` on the Run screen's step list."""

    fanouts: set[str]
    groups: Groups
    views: list[Any]

    @property
    def running(self) -> bool:
        return any(w.group == "run" and w.is_running for w in self.workers)

    def render_steps(self) -> None:
        raise NotImplementedError

    # ---- fan-out steps: expand, filter, jump to a failure ----------------------------------

    @on(DataTable.RowSelected, "#steps")
    def _row_selected(self) -> None:
        """Enter on a grouped row expands or collapses it, as space does."""
        if self.query_one(StepTable).on_group():
            self.action_expand()

    def page(self, step_id: str, direction: int) -> None:
        """The next (or previous) page of an expanded step's devices."""
        table = self.query_one(StepTable)
        offset = max(0, self.groups.offsets.get(step_id, 0) + direction * PAGE)
        self.groups.offsets[step_id] = offset
        self.render_steps()
        table.move_cursor(row=table.get_row_index(group_key(step_id)) + (2 if offset else 1))

    def action_expand(self) -> None:
        """Show or hide the devices of the fan-out step under the cursor."""
        table = self.query_one(StepTable)
        key = table.selected()
        if key is None or key[0] not in self.fanouts:
            self.notify("only a step over several devices expands")
            return
        if direction := table.paging():
            self.page(key[0], direction)
            return
        self.groups.expanded ^= {key[0]}
        self.render_steps()
        table.select(key[0], None)

    def action_filter(self) -> None:
        """Cycle the devices shown: all, failed, running, waiting. A filter opens every
        fan-out step that has a device to show (space closes one again)."""
        shown = self.groups.next_filter()
        if shown != "all":
            live = self.running
            self.groups.expanded |= {v.step_id for v in self.views if v.step_id in self.fanouts
                                     and matches(shown_status(v, live), shown)}
        self.render_steps()
        self.notify(f"devices shown: {shown}", timeout=2)

    def action_next_failure(self) -> None:
        """Jump to the next failed (or in-doubt) device after the cursor, wrapping round."""
        table = self.query_one(StepTable)
        here = table.selected()
        live = self.running
        order = [(v.step_id, v.target) for v in self.views]
        start = 0
        if here is not None:
            start = next((i + (here[1] is not None) for i, k in enumerate(order)
                          if k == here or (here[1] is None and k[0] == here[0])), 0)
        failed = [k for v, k in zip(self.views, order, strict=True)
                  if shown_status(v, live) in (*FAILED, "interrupted")]
        if not failed:
            self.notify("no device has failed")
            return
        index = {k: i for i, k in enumerate(order)}
        target = next((k for k in failed if index[k] >= start), failed[0])
        if target[0] in self.fanouts:
            if self.groups.state_filter not in ("all", "failed"):
                self.groups.state_filter = "all"
            shown = [v.target for v in self.views if v.step_id == target[0] and
                     matches(shown_status(v, live), self.groups.state_filter)]
            self.groups.show_device(target[0], shown.index(target[1]))
        self.render_steps()
        table.select(*target)
