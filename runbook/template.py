"""Render parameters into commands so that a value is always exactly one piece of data.

Syntax: `{{ name }}`, `{{ name | raw }}`, `{{ target.host }}`. Names are parameters, captures
of earlier steps and `target` (the step's current device: `.name`, `.host`, `.port`, `.user`,
or any inventory variable of that device, e.g. `{{ target.sf_uuid }}`).

Shell rule (`shell` mode: `command`, `verify`, `rollback`): the command is lexed as POSIX shell
(runbook.shellctx) with each placeholder standing for one opaque character, so its context is
decided by the template, never by a value. A placeholder may stand as an unquoted word or as
part of a larger unquoted word (`--subject=CN={{ cn }}`, `/tmp/{{ name }}.pem`), also inside
`$( … )`; its value is quoted there with `shlex.quote` and reaches the command as those exact
bytes, inside one argument. Everywhere else it is refused (by `runbook validate`, and again at
render): inside '…' or "…" ("remove the quotes: values are quoted for you"), in a
here-document, a comment, backquotes, `${…}`, `$((…))`, after `$` or after a backslash.
Secrets never go into a shell command (they would sit on the device's process list): a step
hands them over on standard input (`stdin:` or `secrets:`, see runbook.delivery).
`| raw` inserts a value as is (a visible, per-use opt-out from all of this).

CLI rule (`cli` steps, typed into a prompt-driven CLI, rendered in `text` mode): values are
inserted as typed, and a value holding a line break, a double quote or a control character is
refused at run time, since such a CLI has no quoting we could rely on.

In `regex` mode values are escaped with `re.escape`; in `text` mode they are inserted as is
(Markdown, messages, remote paths). A `targets` value renders as its device names, each quoted.
Secrets are tracked: `Rendered.secrets` holds every string a redactor must hide.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from .errors import TemplateError
from .shellctx import MARK, Context, ShellSyntaxError, contexts

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


FIXES: dict[str, str] = {
    "single": "remove the quotes around {ph}: values are quoted for you",
    "double": "remove the quotes around {ph}: values are quoted for you (a value stays one "
              "argument even next to other text, e.g. --subject=CN={ph})",
    "ansi": "remove the $'…' quotes around {ph}: values are quoted for you",
    "heredoc": "a value cannot go into a here-document (a line of it could end the document); "
               "give it to the command on stdin: or as an argument",
    "comment": "remove {ph} from the comment (a line break in the value would end it)",
    "backquote": "use $( … ) instead of backquotes around {ph} (backquoted text is lexed twice)",
    "param": "move {ph} out of ${{…}}: put it on the command line as its own word",
    "arith": "move {ph} out of $((…)): compute with the value as its own word (e.g. expr)",
    "dollar": "remove the $ before {ph}: the value is inserted, not a variable name",
    "escaped": "remove the backslash before {ph}: values are quoted for you",
}


@dataclass(frozen=True)
class Placement:
    """Where one placeholder sits in a shell command, and whether it may stay there."""

    ref: Reference
    text: str  # the placeholder as written, e.g. `{{ val }}`
    context: Context

    @property
    def fix(self) -> str | None:
        """How to fix a refused placement; None when it is safe."""
        if self.context == "word" or "raw" in self.ref.filters:
            return None
        return FIXES[self.context].format(ph=self.text)


def placements(template: str) -> list[Placement]:
    """Lex `template` as a shell command; raises TemplateError if it cannot be lexed."""
    return list(_placements(template))


@lru_cache(maxsize=1024)  # a step's command is rendered for every device and attempt
def _placements(template: str) -> tuple[Placement, ...]:
    refs = references(template)
    spans = [m.span() for m in _EXPR.finditer(template)]
    masked: list[str] = []
    last = 0
    for a, b in spans:
        masked += [template[last:a], MARK]
        last = b
    masked.append(template[last:])
    try:
        found = contexts("".join(masked))
    except ShellSyntaxError as exc:
        raise TemplateError(f"cannot read the command as shell: {exc}") from None
    return tuple(Placement(r, template[a:b], c)
                 for r, (a, b), c in zip(refs, spans, found, strict=True))


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
    """Substitute `values` into `template`; raises TemplateError for unknown names or attrs,
    and in `shell` mode for a placement that is not safe or a secret."""
    secrets: set[str] = set()
    if mode == "shell":
        for p in placements(template):
            if p.fix:
                raise TemplateError(f"{p.text} cannot be used there: {p.fix}")

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
                if mode == "shell":
                    raise TemplateError(f"{m.group(0)} is a secret and cannot be put into a "
                                        "command (it would be on the device's process list); "
                                        "hand it over with `secrets:` or `stdin:`")
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
