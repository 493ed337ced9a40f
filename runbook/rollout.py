"""Rolling execution: split a fan-out into batches (`serial`) and stop when too many fail.

`serial: 10` is batches of ten devices; `serial: "10%"` batches of a tenth of them (at least
one); a list such as `[1, 5, "25%"]` gives the first batches their own sizes (a canary of one,
then five) and repeats the last size until every device has had its turn, as Ansible's
`serial` does. `max_fail` is how many devices may fail in the whole rollout (`0`: none;
`"5%"`: five per cent of the devices, rounded down) before no further batch is started.
Batches are computed from the ordered device list alone, so a resumed run finds the same ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

from .events import Notice, RunState

if TYPE_CHECKING:  # annotations only: the engine calls roll_out, and model imports this module
    from .context import RunContext
    from .engine import Engine
    from .model import StepBase

DONE = ("succeeded", "skipped")  # as the engine counts a device done

T = TypeVar("T")
Size = int | str


def _size(spec: Size, total: int) -> int:
    if isinstance(spec, str):
        pct = float(spec.rstrip("%"))
        return max(1, math.floor(total * pct / 100))
    return max(1, spec)


def parse_size(spec: object) -> Size:
    """Check one `serial` / `max_fail` entry: an int >= 0, or "N%" with 0 < N <= 100."""
    if isinstance(spec, bool):
        raise ValueError(f"{spec!r} is not a size: give a number or a percentage like '10%'")
    if isinstance(spec, int):
        if spec < 0:
            raise ValueError(f"{spec} is negative")
        return spec
    if isinstance(spec, str) and spec.endswith("%"):
        try:
            pct = float(spec[:-1])
        except ValueError:
            pct = -1
        if 0 < pct <= 100:
            return spec
    raise ValueError(f"{spec!r} is not a size: give a number or a percentage like '10%'")


def batches(items: Sequence[T], serial: Size | Sequence[Size] | None) -> list[list[T]]:
    """The items in rollout order, cut into batches (one batch when `serial` is None)."""
    if serial is None or not items:
        return [list(items)] if items else []
    specs: list[Size] = list(serial) if isinstance(serial, list | tuple) else [serial]  # type: ignore[list-item]  # a str is one size, not a sequence
    out: list[list[T]] = []
    start, i = 0, 0
    while start < len(items):
        size = _size(specs[min(i, len(specs) - 1)], len(items))
        out.append(list(items[start:start + size]))
        start, i = start + size, i + 1
    return out


def allowed_failures(max_fail: Size, total: int) -> int:
    """How many devices may fail before the rollout stops."""
    if isinstance(max_fail, str):
        return math.floor(total * float(max_fail.rstrip("%")) / 100)
    return max_fail


async def roll_out(engine: Engine, ctx: RunContext, group: Sequence[StepBase]
               ) -> tuple[RunState, str] | None:
    """Run `group` (steps fanning out over one param) batch by batch: every step of the
    group on a batch before the next batch starts; stop once more devices have failed
    than `max_fail` allows. Batch boundaries are events in the journal."""
    run, lead = ctx.run, group[0]
    if lead.foreach not in run.values:
        for step in group:
            stop = await engine._step(ctx, step)
            if stop:
                return stop
        return None
    devices = [t.name for t in engine.targets(run, lead) if t is not None]
    plan = batches(devices, lead.serial)
    budget = allowed_failures(lead.max_fail, len(devices))
    failed: list[str] = []
    for n, batch in enumerate(plan, 1):
        latest = engine.journal.latest_attempts(run.id)
        if all((a := latest.get((s.id, d))) is not None and a.status in DONE
               for s in group for d in batch):
            continue  # done before an interruption: resume goes on with the next batch
        name = lead.rollout or lead.id
        engine.emit(Notice(run.id, f"rollout {name}: batch {n} of {len(plan)} "
                                 f"({len(batch)} device(s): {', '.join(batch)})",
                         "info", lead.id))
        engine.journal.append_event(run.id, "batch_started", {
            "rollout": name, "batch": n, "of": len(plan), "targets": batch},
            step_id=lead.id)
        live = set(batch)
        for step in group:
            here: list[str] = []
            stop = await engine._step(ctx, step, only=live, failures=here)
            if stop:
                return stop
            live -= set(here)
            failed += here
        engine.journal.append_event(run.id, "batch_finished", {
            "rollout": name, "batch": n, "of": len(plan), "failed": sorted(
                d for d in batch if d in failed)}, step_id=lead.id)
        if len(failed) > budget:
            return "failed", (f"rollout {name} stopped after batch {n} of {len(plan)}: "
                              f"{len(failed)} device(s) failed ({', '.join(failed)}), "
                              f"more than max_fail {lead.max_fail} allows")
    if failed:
        return "failed", (f"rollout {lead.rollout or lead.id} finished every batch, but "
                          f"{len(failed)} device(s) failed: {', '.join(failed)} (within "
                          f"max_fail {lead.max_fail}; resume retries them)")
    return None
