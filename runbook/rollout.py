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
from typing import TypeVar

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
