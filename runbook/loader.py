"""Procedure YAML -> model, with every error located as FILE:LINE:COL (safe YAML only)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .checks import check_semantics, located
from .errors import ProcedureError
from .model import STEP_KINDS, Procedure

Marks = dict[tuple[Any, ...], tuple[int, int]]
_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


def procedure_hash(text: str) -> str:
    """sha256 of a procedure file's exact text: its version in the journal and the record."""
    return hashlib.sha256(text.encode()).hexdigest()


class _Loader(yaml.SafeLoader):
    """The safe loader; nothing here can construct Python objects from tags."""


# libyaml's composer (when PyYAML has it) is some ten times faster than the pure-Python one:
# parsing was most of a resumed run's start-up and of the engine's per-run overhead. Only nodes
# are taken from it (never objects); a document it refuses is parsed again by the pure loader,
# so that error messages and their file:line:col stay exactly as they were.
_Fast: type[Any] | None = getattr(yaml, "CSafeLoader", None)
_scalars = threading.local()  # one constructor per thread, reused for every scalar


def _compose(text: str, name: str) -> yaml.Node | None:
    if _Fast is not None:
        try:
            return yaml.compose(text, Loader=_Fast)
        except yaml.YAMLError:
            pass  # located below, by the pure loader
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise ProcedureError(name, line, col, f"YAML syntax: {problem}") from None
    except yaml.YAMLError as exc:
        raise ProcedureError(name, 1, 1, f"YAML: {exc}") from None


def _to_python(node: yaml.Node, path: tuple[Any, ...], marks: Marks, name: str) -> Any:
    """Build plain data from nodes, recording where each path starts and refusing duplicates."""
    marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _PLAIN_TAGS:
        raise ProcedureError(name, *marks[path], f"tag {node.tag!r} is not allowed (procedures "
                                                 "are plain YAML)")
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, name)
            if isinstance(key, list | dict) or key is None:
                raise ProcedureError(name, key_node.start_mark.line + 1,
                                     key_node.start_mark.column + 1, "keys must be plain names")
            if key in out:
                raise ProcedureError(name, key_node.start_mark.line + 1,
                                     key_node.start_mark.column + 1,
                                     f"duplicate key {key!r} (YAML would silently keep only "
                                     "the last one)")
            marks[path + (str(key), "__key__")] = (key_node.start_mark.line + 1,
                                                   key_node.start_mark.column + 1)
            out[key] = _to_python(value_node, path + (str(key),), marks, name)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(v, path + (i,), marks, name) for i, v in enumerate(node.value)]
    return _scalar(node, name)


def _scalar(node: yaml.Node, name: str) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return _to_python(node, (), {}, name)
    try:
        return _construct_scalar(node)
    except yaml.YAMLError as exc:
        raise ProcedureError(name, node.start_mark.line + 1, node.start_mark.column + 1,
                             f"YAML: {exc}") from None


def _construct_scalar(node: yaml.ScalarNode) -> Any:
    loader = getattr(_scalars, "loader", None)
    if loader is None:
        loader = _scalars.loader = _Loader("")
    try:
        return loader.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        raise yaml.YAMLError(exc.problem or "cannot read this value") from None
    finally:
        loader.constructed_objects.clear()
        loader.recursive_objects.clear()



def load_procedure_text(text: str, name: str = "<procedure>", strict: bool = False) -> Procedure:
    """Parse and validate a procedure; raises ProcedureError (file:line:col: message).

    `strict` also refuses output patterns without evidence (see runbook.evidence). The same
    text is parsed once per process: `runbook run` validates a procedure, stores the run,
    then executes the journal's copy; a screen reads a run's view many times. (The models
    are frozen, so the one parsed copy is shared safely; errors are never remembered.)
    """
    key = (text, strict)
    procedure = _PARSED.pop(key, None)  # popped and put back: the newest last
    if procedure is None:
        procedure = _parsed(text, name, strict)
        while len(_PARSED) >= 32:
            del _PARSED[next(iter(_PARSED))]
    _PARSED[key] = procedure
    return procedure


# Parsed procedures by text alone: the name only ever appears in an error, and errors are
# never remembered, so the same text read under another name (a file, then the journal's
# copy of it under the run's path) is not parsed again.
_PARSED: dict[tuple[str, bool], Procedure] = {}


def _parsed(text: str, name: str, strict: bool) -> Procedure:
    root = _compose(text, name)
    if root is None:
        raise ProcedureError(name, 1, 1, "the file is empty; a procedure needs id, title, "
                                         "vendor, source, risk and steps")
    marks: Marks = {}
    data = _to_python(root, (), marks, name)
    if not isinstance(data, dict):
        line, col = marks[()]
        raise ProcedureError(name, line, col, "a procedure must be a mapping (id, title, ..., "
                                              "steps), not a " + type(data).__name__)
    try:
        procedure = Procedure.model_validate(data)
    except ValidationError as exc:
        raise _first_error(exc, data, marks, name) from None
    check_semantics(procedure, data, marks, name, text)
    if strict:
        from .evidence import problems

        for loc, message in problems(procedure)[:1]:
            raise ProcedureError(name, *located(loc, marks), message)
    return procedure


def load_procedure(path: str | Path, strict: bool = False) -> Procedure:
    """Read and validate a procedure file; raises ProcedureError."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ProcedureError(str(p), 1, 1, f"cannot read the file: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ProcedureError(str(p), line, 1, "the file is not UTF-8 text") from None
    return load_procedure_text(text, str(p), strict)


def _first_error(exc: ValidationError, data: dict[str, Any], marks: Marks,
                 name: str) -> ProcedureError:
    errors = []
    for err in exc.errors(include_url=False):
        loc = _strip_tags(tuple(err["loc"]), data)
        extra = err["type"] == "extra_forbidden"
        if err["type"] == "union_tag_invalid":
            loc = loc + ("kind",)
        container = located(loc[:-1], marks) if loc else (1, 1)
        # A typo gives both "unknown key" and "missing key" in one mapping: name the typo.
        errors.append((container, not extra, located(loc, marks, extra),
                       _message(err, loc, data)))
    _, _, (line, col), message = min(errors, key=lambda e: e[:3])
    return ProcedureError(name, line, col, message)


def _strip_tags(loc: tuple[Any, ...], data: dict[str, Any]) -> tuple[Any, ...]:
    """Drop pydantic's union tags (step kinds, function names) from an error location."""
    out: list[Any] = []
    node: Any = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            out.append(part)
            node = node[part]
        elif isinstance(part, str) and (part in STEP_KINDS or "[" in part or
                                        part.startswith("function")):
            continue
        else:
            out.append(part)
            node = None
    return tuple(out)


def _where(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    parts: list[str] = []
    node: Any = data
    for part in loc:
        if isinstance(part, int):
            sid = node[part].get("id") if isinstance(node, list) and part < len(node) \
                and isinstance(node[part], dict) else None
            parts[-1:] = [f"{parts[-1] if parts else ''}[{part}]" + (f" (id {sid!r})"
                                                                      if sid else "")]
        else:
            parts.append(str(part))
        node = node[part] if isinstance(node, dict | list) and _has(node, part) else None
    return ".".join(parts) or "procedure"


def _has(node: Any, part: Any) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(part, int) and 0 <= part < len(node)


def _message(err: Mapping[str, Any], loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        import difflib

        from .checks import allowed_keys
        key = loc[-1]
        known = allowed_keys(loc[:-1], data)
        near = difflib.get_close_matches(str(key), known, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else (
            f" (allowed: {', '.join(known)})" if known else "")
        return f"{_where(loc[:-1], data)}: unknown key {key!r}{hint}"
    if kind == "missing":
        return f"{_where(loc[:-1], data)}: missing required key {loc[-1]!r}"
    if kind == "union_tag_invalid":
        return (f"{_where(loc[:-1], data)}: unknown step kind "
                f"{err['input'].get('kind') if isinstance(err['input'], dict) else '?'!r} "
                f"(known: {', '.join(STEP_KINDS)})")
    if kind == "union_tag_not_found":
        return f"{_where(loc, data)}: missing required key 'kind' (one of {', '.join(STEP_KINDS)})"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return f"{_where(loc, data)}: {msg[0].lower() + msg[1:] if msg else msg}"


def procedure_schema() -> dict[str, Any]:
    """The JSON Schema of procedure files, for editors (yaml-language-server) and tools."""
    schema = Procedure.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://runbook.invalid/procedure.schema.json"
    schema["title"] = "runbook procedure"
    return json.loads(json.dumps(schema))
