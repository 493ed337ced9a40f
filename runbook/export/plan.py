"""The implementation and backout plan of a procedure, before it runs, for approval."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..conditions import ConditionError, evaluate
from ..delivery import handover
from ..inventory import Target
from ..model import (
    BackupStep,
    CertStep,
    CliStep,
    CopyStep,
    ManualStep,
    Procedure,
    RestoreStep,
    StepBase,
)
from ..params import resolve
from ..rollout import batches
from ..template import Value, render

SECRET_SHOWN = "•••••• (secret, not stored)"


def build_plan(procedure: Procedure, text_hash: str, path: str, given: Mapping[str, Any],
               inventory: Any) -> dict[str, Any]:
    """Every step with its rendered commands, the backups it will take and how it is undone.

    Secrets are not asked for: commands show `<secret NAME>` where one goes, the parameters
    `•••••• (secret, not stored)`. Each row says what the step does (`does`): the lines a
    `cli` step sends, what a `copy` copies where, what a `cert` step checks and its
    thresholds. Raises UsageError for bad params.
    """
    placeholders = {n: f"<secret {n}>" for n in procedure.secret_params}
    values = resolve(procedure, given, {n: "x" * 8 for n in placeholders}, inventory)
    for n, shown in placeholders.items():
        values[n] = Value(shown, secret=False)
    steps = []
    for step in procedure.steps:
        targets: list[Target | None] = [None]
        if (step.target or step.foreach) and (step.target or step.foreach) not in values:
            targets = []
        elif step.target:
            targets = [values[step.target].value]
        elif step.foreach:
            targets = list(values[step.foreach].value)
        if step.when and not _may_run(step.when, procedure, values):
            targets = []  # e.g. `fmc_secondary != None` without a secondary: nothing to show
        rows = []
        for t in targets:
            vals = dict(values)
            for cap in _captures_before(procedure, step.id):
                vals[cap] = Value(f"<{cap} from an earlier step>")
            if t is not None:
                vals["target"] = Value(t)
            command = getattr(step, "command", None)
            modifies = [render(p, vals, "text").text for p in step.modifies]
            for attr in ("paths",):
                modifies += [render(p, vals, "text").text for p in getattr(step, attr, []) or []]
            if step.kind == "copy":
                modifies.append(render(step.path, vals, "text").text)
            rows.append({
                "target": t.name if t is not None else None,
                "command": handover(step, vals).command.text if command else None,
                "does": _does(step, vals),
                "backups": modifies,
                "rollback": [render(c, vals).text for c in step.rollback],
                "verify": render(step.verify, vals).text if step.verify else None})
        steps.append({"id": step.id, "title": step.title, "kind": step.kind,
                      "description": step.description, "confirm": bool(step.confirm),
                      "when": step.when, "manual": isinstance(step, ManualStep),
                      "irreversible": step.irreversible, "approve": step.approve,
                      "rollout": step.rollout,
                      "batches": [[getattr(t, "name", t) for t in b]
                                  for b in batches(targets, step.serial)]
                      if step.serial is not None else None,
                      "max_fail": step.max_fail if step.serial is not None else None,
                      "timeout": step.timeout, "retries": step.retries,
                      "expect": step.expect.model_dump(), "on": rows})
    return {"format": "runbook-plan", "version": 1,
            "procedure": {"id": procedure.id, "title": procedure.title,
                          "vendor": procedure.vendor, "risk": procedure.risk,
                          "version": procedure.version, "sha256": text_hash, "path": path,
                          "source": procedure.source.model_dump(),
                          "description": procedure.description},
            "params": {n: (SECRET_SHOWN if n in placeholders else _shown(v.value))
                       for n, v in values.items()},
            "steps": steps}


def _does(step: StepBase, vals: dict[str, Value]) -> list[str]:
    """What a step without a plain command does, in lines a reviewer can check."""
    def r(text: str) -> str:
        return render(text, vals, "text").text

    if isinstance(step, CliStep):
        return [r(line) for line in step.lines]
    if isinstance(step, CopyStep):
        src = vals.get(step.source.target)
        name = getattr(src.value, "name", "?") if src is not None else "?"
        mode = f" (mode {step.mode})" if step.mode else ""
        return [f"copy {name}:{r(step.source.path)} → {r(step.path)}{mode}"]
    if isinstance(step, CertStep):
        read = f"read the certificate {r(step.path)}" if step.path else \
            f"read the certificate from `{r(step.command or '')}`"
        out = [read]
        if step.key:
            out.append(f"check it matches the key {r(step.key)} (the key is never kept)")
        if step.ca:
            out.append(f"check it chains to {r(step.ca)}")
        out.append(f"warn under {step.warn_days} days left, fail under {step.fail_days}; "
                   f"an expired certificate {'fails' if step.expired == 'fail' else 'warns'}")
        return out
    if isinstance(step, BackupStep):
        return ["save " + ", ".join(r(p) for p in step.paths)]
    if isinstance(step, RestoreStep):
        return [f"restore the backups of step {step.from_step}"
                + (": " + ", ".join(r(p) for p in step.paths) if step.paths else "")]
    return []


def _may_run(when: str, procedure: Procedure, values: Mapping[str, Value]) -> bool:
    """False only when `when` is false on the parameters alone (captures come later)."""
    env: dict[str, Any] = {n: None for n in procedure.params}
    env.update({k: v.value for k, v in values.items()})
    try:
        return bool(evaluate(when, env))
    except (ConditionError, KeyError, TypeError):
        return True


def _shown(value: Any) -> Any:
    if isinstance(value, Target):
        return value.name
    if isinstance(value, list):
        return ", ".join(v.name if isinstance(v, Target) else str(v) for v in value)
    return value


def _captures_before(procedure: Procedure, step_id: str) -> list[str]:
    names: list[str] = []
    for s in procedure.steps:
        if s.id == step_id:
            break
        names += list(s.capture)
    return names
