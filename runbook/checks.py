"""Checks a procedure needs beyond its types: references, ids, templates, regexes, defaults."""

from __future__ import annotations

import re
from typing import Any, get_args

from pydantic import BaseModel

from . import conditions
from .errors import ConditionError, ProcedureError, TemplateError, UsageError
from .model import (
    CertStep,
    CliStep,
    CopyStep,
    Endpoint,
    Expect,
    Param,
    Procedure,
    RestoreStep,
    RunStep,
    Source,
    StepBase,
    WaitStep,
)
from .params import coerce
from .template import TARGET_ATTRS, placements, references

Marks = dict[tuple[Any, ...], tuple[int, int]]
DEVICE_KINDS = ("run", "wait", "backup", "restore", "copy", "cert", "cli")
CERT_FACTS = ("subject", "issuer", "serial", "not_after", "days_left", "fingerprint")


def located(loc: tuple[Any, ...], marks: Marks, key: bool = False) -> tuple[int, int]:
    """Line and column of `loc` (of its key when `key`), or of its nearest existing parent."""
    if key and loc + ("__key__",) in marks:
        return marks[loc + ("__key__",)]
    while loc and loc not in marks:
        loc = loc[:-1]
    return marks.get(loc, (1, 1))


def _model_at(loc: tuple[Any, ...], data: dict[str, Any]) -> type[BaseModel] | None:
    from .model import Step  # noqa: F401 - the union, for kinds

    kinds = {get_args(c.model_fields["kind"].annotation)[0]: c
             for c in StepBase.__subclasses__()}
    match loc:
        case ():
            return Procedure
        case ("source",):
            return Source
        case ("params", _):
            return Param
        case ("steps", int(i)):
            step = data.get("steps", [])[i] if i < len(data.get("steps", [])) else {}
            return kinds.get(step.get("kind")) if isinstance(step, dict) else None
        case ("steps", int(_), "expect"):
            return Expect
        case ("steps", int(_), "from"):
            return Endpoint
    return None


def allowed_keys(loc: tuple[Any, ...], data: dict[str, Any]) -> list[str]:
    """The keys allowed in the mapping at `loc` (for "did you mean" hints)."""
    model = _model_at(loc, data)
    if model is None:
        return []
    return [f.alias or n for n, f in model.model_fields.items()]


def check_semantics(p: Procedure, data: dict[str, Any], marks: Marks, name: str,
                    text: str = "") -> None:
    """Raise ProcedureError at the first reference or value that cannot work (`text`, the
    file's source, lets a placeholder's own line and column be named)."""

    def fail(loc: tuple[Any, ...], message: str, key: bool = False,
             find: tuple[str, int] | None = None) -> None:
        where = located(loc, marks, key)
        if find is not None and text:
            where = _find(text, where, *find)
        raise ProcedureError(name, *where, message)

    for pname, param in p.params.items():
        if param.default is not None and param.type not in ("target", "targets"):
            try:
                coerce(pname, param, param.default, None)
            except UsageError as exc:
                fail(("params", pname, "default"), f"params.{pname}.default: {exc.message}")
    seen: dict[str, int] = {}
    captures: set[str] = set()
    devices = {n for n, prm in p.params.items() if prm.type == "target"}
    for i, step in enumerate(p.steps):
        at = ("steps", i)
        label = f"steps[{i}] (id {step.id!r})"
        if step.id in seen:
            fail(at + ("id",), f"{label}: duplicate step id (also steps[{seen[step.id]}])")
        seen[step.id] = i
        if step.target is not None:
            _check_ref(p, step.target, "target", at + ("target",), label, fail)
        if step.foreach is not None:
            _check_ref(p, step.foreach, "targets", at + ("foreach",), label, fail)
        if step.kind in DEVICE_KINDS and not (step.target or step.foreach):
            fail(at, f"{label}: a {step.kind} step needs `target` or `foreach`")
        for key in ("serial", "rollout"):
            if getattr(step, key) is not None and not step.foreach:
                fail(at + (key,), f"{label}: `{key}` rolls out a `foreach` step; this step "
                                  "has no `foreach`")
        _check_rollout(p, i, label, at, fail)
        names = set(p.params) | captures
        if step.target or step.foreach:
            names.add("target")
        for field, template in _templates(step):
            _check_template(template, names, at + field, label, fail, devices)
        for field, template in _shell_templates(step):
            _check_shell(template, set(p.secret_params), at + field, label, fail, step)
        for field, pattern in _patterns(step):
            _check_regex(pattern, at + field, label, fail)
        if step.when:
            on = {"target"} if step.target or step.foreach else set()
            _check_condition(step.when, set(p.params) | captures | on, at + ("when",), label,
                             fail)
        if isinstance(step, RestoreStep) and step.from_step not in seen:
            fail(at + ("from_step",), f"{label}: from_step {step.from_step!r} is not an "
                                      "earlier step")
        if isinstance(step, CopyStep):
            _check_ref(p, step.source.target, "target", at + ("from", "target"), label, fail)
        captures |= set(step.capture)
        if isinstance(step, CertStep):
            facts = {"subject", "issuer", "serial", "not_before", "not_after", "days_left",
                     "fingerprint_sha256", "key_type", "key_size", "self_signed", "in_date",
                     "key_matches", "chains_to_ca", "status"}
            for j, cond in enumerate(step.require):
                _check_condition(cond, set(p.params) | captures | facts,
                                 at + ("require", j), label, fail)
            if step.facts_as:
                captures |= {f"{step.facts_as}_{f}" for f in CERT_FACTS}


def _check_ref(p: Procedure, ref: str, want: str, loc: tuple[Any, ...], label: str,
               fail: Any) -> None:
    param = p.params.get(ref)
    field = loc[-1] if loc[-1] != "target" or len(loc) < 4 else "from.target"
    if param is None:
        fail(loc, f"{label}: {field} {ref!r} is not a parameter (define it under params "
                  f"with type {want})")
    elif param.type != want:
        hint = " (use foreach for a list of devices)" if param.type == "targets" else ""
        fail(loc, f"{label}: {field} {ref!r} is a {param.type} parameter; it must be of type "
                  f"{want}{hint}")


def _templates(step: StepBase) -> list[tuple[tuple[Any, ...], str]]:
    out: list[tuple[tuple[Any, ...], str]] = []
    for field in ("command", "verify", "path", "key", "ca"):
        v = getattr(step, field, None)
        if isinstance(v, str):
            out.append(((field,), v))
    if isinstance(step.confirm, str):
        out.append((("confirm",), step.confirm))
    for field in ("rollback", "modifies", "paths", "lines"):
        for j, v in enumerate(getattr(step, field, None) or []):
            out.append(((field, j), v))
    if isinstance(step, CopyStep):
        out.append((("from", "path"), step.source.path))
    if isinstance(step, CliStep):
        out += [(("answers", k), v) for k, v in step.answers.items()]
    if isinstance(step, RunStep | WaitStep):
        out += [(("secrets", k), v) for k, v in step.secrets.items()]
        if step.stdin is not None:
            out.append((("stdin",), step.stdin))
    for j, v in enumerate(step.expect.match):
        out.append((("expect", "match", j), v))
    for j, v in enumerate(step.expect.not_match):
        out.append((("expect", "not_match", j), v))
    out += [(("verify_match", j), v) for j, v in enumerate(step.verify_match)]
    return out


def _shell_templates(step: StepBase) -> list[tuple[tuple[Any, ...], str]]:
    """The fields run by a POSIX shell on the device."""
    out: list[tuple[tuple[Any, ...], str]] = []
    for field in ("command", "verify"):
        v = getattr(step, field, None)
        if isinstance(v, str) and not isinstance(step, CliStep):
            out.append(((field,), v))
    out += [(("rollback", j), v) for j, v in enumerate(step.rollback)]
    return out


def _check_shell(template: str, secret_params: set[str], loc: tuple[Any, ...], label: str,
                 fail: Any, step: StepBase) -> None:
    where = ".".join(str(x) for x in loc[2:])
    try:
        found = placements(template)
    except TemplateError as exc:
        fail(loc, f"{label}: {where}: {exc.message}")
        return
    seen: dict[str, int] = {}
    for pl in found:
        nth = seen[pl.text] = seen.get(pl.text, -1) + 1
        if pl.ref.name in secret_params:
            var = pl.ref.name.upper()
            fix = (f'add `secrets: {{{var}: "{pl.text}"}}` to the step and write "${var}" in '
                   "the command (or pass it on `stdin:`)"
                   if isinstance(step, RunStep | WaitStep) and loc[2] == "command"
                   else "secrets can only reach a run or wait step's command, through "
                        "`secrets:` or `stdin:`")
            fail(loc, f"{label}: {where}: {pl.text} is a secret and would be on the device's "
                      f"process list: {fix}", find=(pl.text, nth))
        if pl.fix:
            fail(loc, f"{label}: {where}: {pl.fix}", find=(pl.text, nth))


def _find(text: str, start: tuple[int, int], needle: str, nth: int) -> tuple[int, int]:
    """Line and column of the `nth` `needle` at or after `start` in `text` (else `start`)."""
    lines = text.split("\n")
    line, col = start
    offset = sum(len(x) + 1 for x in lines[:line - 1]) + col - 1
    for _ in range(nth + 1):
        offset = text.find(needle, offset)
        if offset < 0:
            return start
        found, offset = offset, offset + len(needle)
    before = text[:found]
    return before.count("\n") + 1, found - (before.rfind("\n") + 1) + 1


def _patterns(step: StepBase) -> list[tuple[tuple[Any, ...], str]]:
    out: list[tuple[tuple[Any, ...], str]] = [
        (("expect", "match", j), v) for j, v in enumerate(step.expect.match)]
    out += [(("expect", "not_match", j), v) for j, v in enumerate(step.expect.not_match)]
    out += [(("capture", k), v) for k, v in step.capture.items()]
    out += [(("verify_match", j), v) for j, v in enumerate(step.verify_match)]
    if isinstance(step, CliStep):
        out += [(("errors", j), v) for j, v in enumerate(step.errors)]
        out += [(("answers", k), k) for k in step.answers]
    return out


def _check_template(template: str, names: set[str], loc: tuple[Any, ...], label: str,
                    fail: Any, device_params: set[str]) -> None:
    where = ".".join(str(x) for x in loc[2:])
    try:
        refs = references(template)
    except TemplateError as exc:
        fail(loc, f"{label}: {where}: {exc.message}")
        return
    for ref in refs:
        if ref.name not in names:
            extra = " (captures are only available to later steps)" if ref.name else ""
            fail(loc, f"{label}: {where}: {{{{ {ref.name} }}}} is not a parameter, a capture "
                      f"of an earlier step, or `target`{extra}")
        if ref.attr is not None and ref.name not in device_params and ref.name != "target":
            fail(loc, f"{label}: {where}: {ref.name!r} is not a device; only devices have "
                      f"attributes ({', '.join(TARGET_ATTRS)} or inventory variables)")


def _check_regex(pattern: str, loc: tuple[Any, ...], label: str, fail: Any) -> None:
    dummy = re.sub(r"\{\{.*?\}\}", "x", pattern, flags=re.S)
    try:
        re.compile(dummy)
    except re.error as exc:
        fail(loc, f"{label}: {'.'.join(str(x) for x in loc[2:])}: bad regular expression "
                  f"{pattern!r}: {exc}")


def _check_condition(expr: str, names: set[str], loc: tuple[Any, ...], label: str,
                     fail: Any) -> None:
    try:
        used = conditions.names(expr)
    except ConditionError as exc:
        fail(loc, f"{label}: {exc}")
        return
    unknown = sorted(used - names)
    if unknown:
        fail(loc, f"{label}: condition {expr!r} uses unknown name(s) {', '.join(unknown)}")


def _check_rollout(p: Procedure, i: int, label: str, at: tuple[str | int, ...],
                   fail: Any) -> None:
    """Steps of one rollout are consecutive, fan out over one param, and agree on batches."""
    step = p.steps[i]
    if step.rollout is None:
        return
    first = next(j for j, s in enumerate(p.steps) if s.rollout == step.rollout)
    if any(p.steps[j].rollout != step.rollout for j in range(first, i)):
        fail(at + ("rollout",), f"{label}: the steps of rollout {step.rollout!r} must be "
                                "consecutive")
        return
    lead = p.steps[first]
    if i != first and step.foreach != lead.foreach:
        fail(at + ("foreach",), f"{label}: rollout {step.rollout!r} fans out over "
                                f"{lead.foreach!r} (steps[{first}]); this step over "
                                f"{step.foreach!r}")
    if i != first and step.serial is not None and step.serial != lead.serial:
        fail(at + ("serial",), f"{label}: give `serial` once, on the rollout's first step "
                               f"(steps[{first}])")
