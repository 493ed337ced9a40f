"""Hand secrets to a device's command on its standard input, never on its process list.

A `run` or `wait` step declares how secrets reach its command:

- `secrets: {KEY_PASS: "{{ key_pass }}"}`: a fixed prelude, `IFS= read -r KEY_PASS`, reads
  each value from the first lines of stdin into a shell variable that is not exported (so it
  is in no process's argv or environment); the command uses it as `"$KEY_PASS"`. A value
  given this way cannot hold a line break.
- `stdin: "{{ key_pass }}"`: the rendered text is written to the command's stdin (after the
  `secrets:` lines, if any), for tools that read a secret from stdin (`-passin stdin`).

The prelude is part of the command that is sent, shown and journaled; it holds only names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import TemplateError
from .template import Rendered, Value, render

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
NO_SECRETS = 125  # exit status of the prelude when the values did not arrive


@dataclass(frozen=True)
class Handover:
    """The command to send, the bytes for its stdin, and the secrets both contain."""

    command: Rendered
    stdin: bytes | None


def prelude(names: list[str]) -> str:
    """The fixed shell text that reads `names` from stdin, one line each, before the command."""
    reads = " && ".join(f"IFS= read -r {n}" for n in names)
    return (f"{{ {reads}; }} || {{ echo 'runbook: the secrets did not arrive on stdin' >&2; "
            f"exit {NO_SECRETS}; }}")


def handover(step: Any, values: Mapping[str, Value], posix: bool = True) -> Handover:
    """Render `step.command` with its `secrets:` prelude and its stdin; raises TemplateError."""
    command = render(step.command, values)
    secrets: dict[str, str] = getattr(step, "secrets", None) or {}
    stdin_template: str | None = getattr(step, "stdin", None)
    if not secrets and stdin_template is None:
        return Handover(command, None)
    hidden = set(command.secrets)
    data = b""
    if secrets:
        if not posix:
            raise TemplateError(f"step {step.id!r}: `secrets:` needs a POSIX shell on the "
                                "device (runbook_shell: posix); use `stdin:` instead")
        for name, template in secrets.items():
            r = render(template, values, "text")
            if "\n" in r.text or "\r" in r.text:
                raise TemplateError(f"step {step.id!r}: the value for {name} holds a line "
                                    "break; `secrets:` passes one line per value (use `stdin:`"
                                    " for multi-line input)")
            hidden |= r.secrets
            data += r.text.encode() + b"\n"
        command = Rendered(prelude(list(secrets)) + "\n" + command.text, frozenset(hidden))
    if stdin_template is not None:
        r = render(stdin_template, values, "text")
        hidden |= r.secrets
        data += r.text.encode()
    return Handover(Rendered(command.text, frozenset(hidden)), data)


def valid_name(name: str) -> bool:
    """Whether `name` can be a shell variable set by the prelude."""
    return re.match(NAME_PATTERN, name) is not None
