"""Output evidence: every output pattern of a procedure backed by a quoted sample and its source.

A pattern that expects wording nobody has seen on a real device passes on a simulator written
beside it and halts (or worse, passes wrongly) on the device. `runbook validate --strict`
refuses such patterns; the step should check state instead (exit status, a `cert` step, file
hashes). Samples are matched line by line, as the engine matches device output.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import TemplateError
from .model import Evidence, Procedure, StepBase
from .template import Value, render

Loc = tuple[Any, ...]


def patterns(step: StepBase) -> list[tuple[Loc, str, str]]:
    """(location within the step, kind, pattern) of each output pattern of `step`."""
    out: list[tuple[Loc, str, str]] = []
    out += [(("expect", "match", j), "match", p) for j, p in enumerate(step.expect.match)]
    out += [(("expect", "not_match", j), "not_match", p)
            for j, p in enumerate(step.expect.not_match)]
    out += [(("capture", name), "capture", p) for name, p in step.capture.items()]
    out += [(("verify_match", j), "verify_match", p) for j, p in enumerate(step.verify_match)]
    return out


def _search(rx: re.Pattern[str], text: str) -> re.Match[str] | None:
    for line in text.splitlines():
        m = rx.search(line)
        if m:
            return m
    return None


def check(kind: str, pattern: str, ev: Evidence) -> str | None:
    """Why `ev` does not back `pattern` (None when it does)."""
    try:
        rendered = render(pattern, {k: Value(v) for k, v in ev.values.items()}, "regex").text
    except TemplateError as exc:
        return f"{exc} (give it under the evidence's `values`)"
    rx = re.compile(rendered)
    m = _search(rx, ev.sample)
    if m is None:
        return f"pattern {pattern!r} does not match its evidence sample {ev.sample!r}"
    if kind == "capture" and not m.group(1):
        return f"capture {pattern!r} takes nothing from its evidence sample {ev.sample!r}"
    if kind == "not_match":
        if ev.success is None:
            return (f"not_match pattern {pattern!r} needs a `success` sample (documented output "
                    "when all is well) that it must not match")
        if _search(rx, ev.success):
            return f"not_match pattern {pattern!r} also matches the success sample {ev.success!r}"
    return None


def problems(procedure: Procedure) -> list[tuple[Loc, str]]:
    """Every output pattern without (valid) evidence, and evidence for no pattern, located."""
    out: list[tuple[Loc, str]] = []
    for i, step in enumerate(procedure.steps):
        by_pattern = {ev.pattern: (j, ev) for j, ev in enumerate(step.evidence)}
        used: set[str] = set()
        for loc, kind, pattern in patterns(step):
            where = ("steps", i) + loc
            found = by_pattern.get(pattern)
            if found is None:
                out.append((where, f"step {step.id!r}: {kind} pattern {pattern!r} has no "
                                   "evidence: quote a sample of real output and its source "
                                   "under `evidence`, or check state instead (exit status, a "
                                   "`cert` step, file hashes)"))
                continue
            used.add(pattern)
            why = check(kind, pattern, found[1])
            if why:
                out.append((("steps", i, "evidence", found[0]), f"step {step.id!r}: {why}"))
        for j, ev in enumerate(step.evidence):
            if ev.pattern not in used and ev.pattern not in {p for _, _, p in patterns(step)}:
                out.append((("steps", i, "evidence", j, "pattern"),
                            f"step {step.id!r}: evidence for {ev.pattern!r}, which is none of "
                            "the step's patterns"))
    return out
