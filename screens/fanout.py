"""Fan-out steps on the Run screen: one grouped row per step over many devices, expandable."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, ProgressBar, Static

from runbook.engine import StepView
from runbook.events import StepFinished, StepSkipped, StepStarted

from .format import STATE_STYLE, duration, icon, same_shape

Key = tuple[str, str | None]
TITLE_WIDTH = 24
FILTERS = ("all", "failed", "running", "waiting")
FINISHED = ("succeeded", "failed", "skipped", "rolled_back")
FAILED = ("failed", "in_doubt")  # what `n` jumps to and the `failed` filter shows
WAITING = ("pending", "waiting")  # not started yet, or waiting for the operator
# The grouped row's counts, in this order; a state with no device is left out.
COUNTS = (("succeeded", "✔"), ("running", "▶"), ("failed", "✘"), ("waiting", "⏸"),
          ("in_doubt", "?"), ("skipped", "↷"), ("rolled_back", "↶"))
COUNT_STYLE = {"succeeded": "green", "running": "cyan", "failed": "bold red",
               "waiting": "yellow", "in_doubt": "yellow", "rolled_back": "magenta"}
PAGE = 100  # device rows an expanded step shows at once; `… N more` rows page through the rest
BATCH = re.compile(r"^rollout (?P<name>.+): batch (?P<n>\d+) of (?P<of>\d+)\b")


def row_key(step_id: str, target: str | None) -> str:
    """The DataTable row key of one step on one target."""
    return f"{step_id}\t{target or ''}"


def group_key(step_id: str) -> str:
    """The DataTable row key of a fan-out step's grouped row (no name holds a newline)."""
    return f"{step_id}\n"


def more_key(step_id: str, direction: int) -> str:
    """The row that pages an expanded step's devices back (-1) or on (+1)."""
    return f"{step_id}\n{'+' if direction > 0 else '-'}"


def parse_key(key: str) -> Key:
    """Inverse of `row_key`; a grouped row (or one of its `more` rows) gives (step_id, None)."""
    if "\n" in key:
        return key.partition("\n")[0], None
    step_id, _, target = key.partition("\t")
    return step_id, target or None


def shown_status(v: StepView, live: bool) -> str:
    """A `running` device no process holds (the run is not live here) is interrupted."""
    return "interrupted" if v.status == "running" and not live else v.status


def bucket(status: str) -> str:
    """The count a device's state falls in (`pending` and `waiting` are both waiting)."""
    if status in WAITING:
        return "waiting"
    return "in_doubt" if status == "interrupted" else status


def matches(status: str, state_filter: str) -> bool:
    """Whether a device in `status` is shown under a filter of FILTERS."""
    if state_filter == "failed":
        return status in FAILED or status == "interrupted"
    if state_filter == "running":
        return status == "running"
    if state_filter == "waiting":
        return status in WAITING
    return True


def tally(statuses: Iterable[str]) -> Counter[str]:
    return Counter(bucket(s) for s in statuses)


def counts_text(counts: Counter[str]) -> Text:
    """`✔ 180 ▶ 10 ✘ 2 ⏸ 8`, each count in its state's colour."""
    out = Text()
    for state, mark in COUNTS:
        if counts[state]:
            if out:
                out.append(" ")
            out.append(f"{mark} {counts[state]}", style=COUNT_STYLE.get(state, ""))
    return out


def bar(done: int, total: int, width: int = 10) -> str:
    """`███████░░░ 70%`: how many devices are finished."""
    full = round(width * done / total) if total else 0
    pct = int(100 * done / total) if total else 0
    return f"{'█' * full}{'░' * (width - full)} {pct}%"


def group_status(counts: Counter[str], total: int) -> str:
    """The grouped row's own state: a failure shows first, then what is still going on."""
    for state in ("failed", "in_doubt", "running"):
        if counts[state]:
            return state
    if counts["succeeded"] + counts["skipped"] == total and total:
        return "succeeded" if counts["succeeded"] else "skipped"
    return "pending"


@dataclass
class Groups:
    """What the operator chose to see of the fan-out steps: expanded groups and a filter."""

    expanded: set[str]
    state_filter: str = "all"
    offsets: dict[str, int] = field(default_factory=dict)  # first device row shown, per step

    def next_filter(self) -> str:
        self.state_filter = FILTERS[(FILTERS.index(self.state_filter) + 1) % len(FILTERS)]
        self.offsets.clear()
        return self.state_filter

    def show_device(self, step_id: str, position: int) -> None:
        """Open a step on the page that holds its `position`-th shown device."""
        self.expanded.add(step_id)
        self.offsets[step_id] = position // PAGE * PAGE


class StepTable(DataTable[Text | str]):
    """The run's steps: state icon, title, target, duration; a fan-out step is one row."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = False
        self.add_column(" ", key="icon", width=1)
        self.add_column("Step", key="title", width=TITLE_WIDTH)
        self.add_column("Target", key="target")
        self.add_column("Time", key="time")
        self.shown_keys: list[str] = []
        self.cells: dict[str, tuple[Text | str, ...]] = {}
        self.fanouts: set[str] = set()

    def show(self, views: list[StepView], now: str | None = None,
             marks: dict[Key, str] | None = None, notes: dict[Key, str] | None = None,
             fanouts: set[str] | None = None, groups: Groups | None = None,
             batches: dict[str, str] | None = None) -> None:
        """Bring the table in line with the engine's view.

        `now`: the run is live here, so running steps show their elapsed time (else a
        `running` step no process holds shows as interrupted); `marks`: a state shown
        instead of the step's (`warn`); `notes`: text after the time (a wait step's polls);
        `fanouts`: steps shown as one grouped row (expanded and filtered as `groups` says);
        `batches`: `batch 3 of 10` of a step rolled out in batches.
        """
        marks, notes = marks or {}, notes or {}
        self.fanouts = fanouts = fanouts or set()
        groups = groups or Groups(set())
        numbers: dict[str, int] = {}
        per_step: dict[str, list[StepView]] = {}
        for v in views:
            numbers.setdefault(v.step_id, len(numbers) + 1)
            per_step.setdefault(v.step_id, []).append(v)
        rows: list[tuple[str, tuple[Text | str, ...], int]] = []
        for step_id, step_views in per_step.items():
            if step_id in fanouts:
                rows.append(self._group_row(step_id, numbers[step_id], step_views, now,
                                            (batches or {}).get(step_id, ""), groups))
                if step_id in groups.expanded:
                    rows += self._page(step_id, step_views, now, groups)
                continue
            for v in step_views:
                rows.append(self._step_row(v, numbers[step_id], now, marks, notes))
        keys = [k for k, _, _ in rows]
        if keys != self.shown_keys:
            self._rebuild(rows)
            return
        for key, cells, _ in rows:
            if self.cells.get(key) != cells:
                self.cells[key] = cells
                for col, value in zip(("icon", "title", "target", "time"), cells, strict=True):
                    self.update_cell(key, col, value)

    def _page(self, step_id: str, views: list[StepView], now: str | None, groups: Groups
              ) -> list[tuple[str, tuple[Text | str, ...], int]]:
        """The expanded step's devices that pass the filter, a page at a time."""
        shown = [v for v in views if matches(shown_status(v, now is not None),
                                             groups.state_filter)]
        start = min(groups.offsets.get(step_id, 0), max(0, len(shown) - 1) // PAGE * PAGE)
        rows = [self._device_row(v, now) for v in shown[start:start + PAGE]]
        if start:
            rows.insert(0, _more_row(step_id, -1, f"… {start} before · Enter: back"))
        if len(shown) > start + PAGE:
            rows.append(_more_row(step_id, 1, f"… {len(shown) - start - PAGE} more · Enter"))
        return rows

    def _rebuild(self, rows: list[tuple[str, tuple[Text | str, ...], int]]) -> None:
        """Rows came or went (expanded, collapsed, filtered): lay the table out again, the
        cursor staying on the row it was on (or the group that row belongs to)."""
        before = self.selected()
        self.clear()
        self.cells = {}
        for key, cells, height in rows:
            self.add_row(*cells, key=key, height=height)
            self.cells[key] = cells
        self.shown_keys = [k for k, _, _ in rows]
        if before is not None:
            self.select(*before)

    def _step_row(self, v: StepView, number: int, now: str | None, marks: dict[Key, str],
                  notes: dict[Key, str]) -> tuple[str, tuple[Text | str, ...], int]:
        status = marks.get((v.step_id, v.target), shown_status(v, now is not None))
        style = STATE_STYLE.get(status, "")
        title = _fit(f"{number:>2} {v.title}", style)
        finished = v.finished_at or (now if v.status == "running" else None)
        time = duration(v.started_at, finished)
        note = notes.get((v.step_id, v.target))
        return row_key(v.step_id, v.target), (Text(icon(status), style=style), title,
                                               v.target or "", f"{time} {note}" if note else time
                                               ), 1

    def _device_row(self, v: StepView, now: str | None
                    ) -> tuple[str, tuple[Text | str, ...], int]:
        """One device of an expanded step; its time once it is done (a ticking clock on every
        running device would redraw the table many times a second: the grouped row ticks)."""
        status = shown_status(v, now is not None)
        style = STATE_STYLE.get(status, "")
        return row_key(v.step_id, v.target), (Text(icon(status), style=style),
                                              _fit(f"     {v.target or ''}", style), "",
                                              duration(v.started_at, v.finished_at)), 1

    def _group_row(self, step_id: str, number: int, views: list[StepView], now: str | None,
                   batch: str, groups: Groups) -> tuple[str, tuple[Text | str, ...], int]:
        """Two lines: title and counts; devices (or the batch) and a progress bar."""
        live = now is not None
        counts = tally(shown_status(v, live) for v in views)
        total = len(views)
        status = group_status(counts, total)
        style = STATE_STYLE.get(status, "")
        arrow = "▾" if step_id in groups.expanded else "▸"
        title = _fit(f"{number:>2} {arrow} {views[0].title}", style)
        title.append("\n   ")
        title.append_text(counts_text(counts))
        done = sum(v.status in FINISHED for v in views)
        where = batch or f"{total} devices"
        starts = [v.started_at for v in views if v.started_at]
        ends = [v.finished_at or (now if v.status == "running" else None) for v in views]
        finish = max((e for e in ends if e), default=None) if done == total or live else None
        time = duration(min(starts), finish) if starts and finish else ""
        return group_key(step_id), (Text(icon(status), style=style), title,
                                    f"{where}\n{bar(done, total)}", time), 2

    def selected(self) -> Key | None:
        """The step under the cursor; a grouped row gives (step_id, None)."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return parse_key(key) if key else None

    def on_group(self) -> bool:
        """Whether the cursor is on a fan-out step's grouped row (or one of its `more` rows)."""
        key = self.selected()
        return key is not None and key[1] is None and key[0] in self.fanouts

    def paging(self) -> int:
        """-1 / +1 when the cursor is on a `more` row of an expanded step, else 0."""
        if not self.row_count:
            return 0
        key = str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
        return {"-": -1, "+": 1}.get(key.partition("\n")[2], 0)

    def select(self, step_id: str, target: str | None) -> None:
        """Move the cursor to a step (a device hidden in its group: to the grouped row)."""
        for key in (row_key(step_id, target), group_key(step_id)):
            try:
                self.move_cursor(row=self.get_row_index(key))
                return
            except Exception:  # noqa: BLE001 - no such row: try the next, else stay put
                continue


def apply_event(views: list[StepView], index: dict[Key, int],
                event: StepStarted | StepFinished | StepSkipped, now: str) -> bool:
    """A device's step started or ended: change the last view read in place rather than read
    the whole run again (a fan-out sends thousands of these). False: the view lacks it."""
    i = index.get((event.step_id, event.target))
    if i is None:
        return False
    v = views[i]
    if isinstance(event, StepStarted):
        v = replace(v, status="running", attempt=event.attempt, started_at=now,
                    finished_at=None, exit_status=None, reason="")
    elif isinstance(event, StepFinished):
        v = replace(v, status=event.status, exit_status=event.exit_status, finished_at=now,
                    reason=event.reason)
    else:
        v = replace(v, status="skipped", reason=event.reason)
    views[i] = v
    return True


def _more_row(step_id: str, direction: int, text: str
              ) -> tuple[str, tuple[Text | str, ...], int]:
    return more_key(step_id, direction), ("", _fit(f"     {text}", "dim"), "", ""), 1


def _fit(text: str, style: str) -> Text:
    out = Text(text, style=style, overflow="ellipsis", no_wrap=True)
    out.truncate(TITLE_WIDTH, overflow="ellipsis")
    return out


class FanOut(Vertical):
    """The selected fan-out step: progress, counts, batch, and the devices that failed."""

    SHOWN_FAILED = 12

    def compose(self) -> ComposeResult:
        yield ProgressBar(show_eta=False, id="fanout-progress")
        yield Static(id="fanout-devices")

    def show(self, views: list[StepView], live: bool = True, batch: str = "") -> None:
        done = sum(v.status in FINISHED for v in views)
        self.query_one(ProgressBar).update(total=len(views), progress=done)
        counts = tally(shown_status(v, live) for v in views)
        failed = [v.target or "" for v in views if shown_status(v, live) in
                  (*FAILED, "interrupted")]
        line = counts_text(counts).markup + f"  [dim]{done} of {len(views)} finished"
        line += f" · {escape(batch)}[/]" if batch else "[/]"
        if failed:
            names = ", ".join(escape(n) for n in failed[:self.SHOWN_FAILED])
            more = len(failed) - self.SHOWN_FAILED
            line += f"\n[red]✘ {names}{f' … and {more} more' if more > 0 else ''}[/]"
        static = self.query_one("#fanout-devices", Static)
        shown = getattr(self, "shown", None)
        if shown != line:  # counts that move keep their size: no layout pass
            self.shown = line
            static.update(line, layout=shown is None or not same_shape(shown, line))
