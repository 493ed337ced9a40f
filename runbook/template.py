"""Render parameters into commands: every value shell-quoted unless a use says `| raw`.

Syntax: `{{ name }}`, `{{ name | raw }}`, `{{ target.host }}`. Names are parameters, captures
of earlier steps and `target` (the step's current device: `.name`, `.host`, `.port`, `.user`,
or any inventory variable of that device, e.g. `{{ target.sf_uuid }}`).
In `shell` mode a value is quoted with `shlex.quote`; `| raw` inserts it as is (a visible,
per-use opt-out); in `regex` mode values are escaped with `re.escape`; in `text` mode they are
inserted as is (Markdown, messages). A `targets` value renders as its device names, each quoted.
Secrets are tracked: `Rendered.secrets` holds every string a redactor must hide, including the
quoted form of a secret (quoting may change its bytes).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import TemplateError

Mode = Literal["shell", "regex", "text"]
FILTERS = ("raw",)
TARGET_ATTRS = ("name", "host", "port", "user")
_EXPR = re.compile(r"\{\{(.*?)\}\}", re.S)
_REF = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?\s*"
                  r"((?:\|\s*[A-Za-z_]+\s*)*)$")


@dataclass(frozen=True)
class Reference:
    """One `{{ ... }}` use inside a template."""

    name: str
    attr: str | None
    filters: tuple[str, ...]
    start: int  # offset of `{{` in the template


@dataclass(frozen=True)
class Value:
    """A value available to templates; `secret` values are tracked for redaction."""

    value: Any
    secret: bool = False


@dataclass(frozen=True)
class Rendered:
    """A rendered template and the secret strings it contains."""

    text: str
    secrets: frozenset[str] = field(default_factory=frozenset)


def references(template: str) -> list[Reference]:
    """Parse every `{{ ... }}` in `template`; raises TemplateError on a malformed one."""
    refs = []
    for m in _EXPR.finditer(template):
        ref = _REF.match(m.group(1))
        if not ref:
            raise TemplateError(f"malformed placeholder {m.group(0)!r}: expected "
                                "`{{ name }}`, `{{ name | raw }}` or `{{ target.host }}`")
        filters = tuple(f.strip() for f in ref.group(3).split("|") if f.strip())
        for f in filters:
            if f not in FILTERS:
                raise TemplateError(f"unknown filter {f!r} in {m.group(0)!r} "
                                    f"(known: {', '.join(FILTERS)})")
        refs.append(Reference(ref.group(1), ref.group(2), filters, m.start()))
    return refs


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _quote(text: str, mode: Mode, raw: bool) -> str:
    if raw or mode == "text":
        return text
    if mode == "regex":
        return re.escape(text)
    return shlex.quote(text)


def render(template: str, values: Mapping[str, Value], mode: Mode = "shell") -> Rendered:
    """Substitute `values` into `template`; raises TemplateError for unknown names or attrs."""
    secrets: set[str] = set()

    def one(m: re.Match[str]) -> str:
        (ref,) = references(m.group(0))
        if ref.name not in values:
            raise TemplateError(f"{m.group(0)!r}: no parameter or capture named {ref.name!r}")
        val = values[ref.name]
        raw = "raw" in ref.filters
        obj = val.value
        if ref.attr is not None:
            if ref.attr in TARGET_ATTRS and hasattr(obj, ref.attr):
                obj = getattr(obj, ref.attr)
            elif ref.attr in getattr(obj, "vars", {}):
                obj = obj.vars[ref.attr]  # a device fact from the inventory (e.g. its UUID)
            else:
                raise TemplateError(f"{m.group(0)!r}: {getattr(obj, 'name', ref.name)!r} has "
                                    f"no attribute or inventory variable {ref.attr!r}")
        elif hasattr(obj, "host") and hasattr(obj, "name"):
            obj = obj.name
        if isinstance(obj, list | tuple):
            parts = [_as_text(getattr(o, "name", o)) for o in obj]
            out = " ".join(_quote(p, mode, raw) for p in parts)
        else:
            text = _as_text(obj)
            out = _quote(text, mode, raw)
            if val.secret:
                secrets.update({text, out})
        return out

    text = _EXPR.sub(one, template)
    return Rendered(text, frozenset(s for s in secrets if s))


def render_all(templates: Iterable[str], values: Mapping[str, Value],
               mode: Mode = "shell") -> tuple[list[str], frozenset[str]]:
    """Render several templates; return the texts and the union of their secrets."""
    texts: list[str] = []
    secrets: set[str] = set()
    for t in templates:
        r = render(t, values, mode)
        texts.append(r.text)
        secrets |= r.secrets
    return texts, frozenset(secrets)
