"""Device platforms as data: how a session reaches the shell a procedure's commands need.

A platform (`runbook/platforms/NAME.yaml`, named by the inventory's `runbook_access`) lists
privilege levels in the shape of scrapli's platform definitions: each level has the prompt
that shows it was reached and the command (and, if asked, the password) that climbs to it from
the level before. One generic routine (`access_session.AccessSession`) reads them all.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import InventoryError

PLATFORMS = Path(__file__).parent / "platforms"
DEFAULT = "shell"


def safe_load(text: str) -> Any:
    """yaml.safe_load, in C where PyYAML has libyaml (read at start-up: ten times faster)."""
    if getattr(yaml, "__with_libyaml__", False):
        return yaml.load(text, Loader=yaml.CSafeLoader)
    return yaml.safe_load(text)


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return value


class Level(BaseModel):
    """One privilege level: its prompt, and how to climb to it from the level below."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    prompt: str = Field(description="Regex matching the level's prompt (the last line).")
    climb: str | None = Field(None, description="Command typed at the level below.")
    password_prompt: str | None = None
    password: str | None = Field(None, description="Secret name: runbook_NAME in the "
                                 "inventory, the variable named by runbook_NAME_env, or asked.")
    setup: list[str] = Field(default_factory=list, description="Commands sent once the level "
                             "is reached (e.g. paging off).")

    _rx = field_validator("prompt", "password_prompt")(
        lambda v: _regex(v) if v is not None else v)


class Paging(BaseModel):
    """A pager's prompt and the key that answers it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    more: str
    answer: str = " "

    _rx = field_validator("more")(lambda v: _regex(v))


class Platform(BaseModel):
    """How to get in to one kind of device."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    session: Literal["exec", "pty"] = Field(description="exec: SSH exec as logged in; pty: "
                                            "climb the levels in one interactive session.")
    shell: Literal["posix", "cli"] = "posix"
    levels: list[Level] = Field(min_length=1)
    failures: list[str] = Field(default_factory=list, description="Output that means a climb "
                                "failed.")
    paging: Paging | None = None
    encode: str = "base64"
    decode: str = "base64 -d"

    _rx = field_validator("failures")(lambda v: [_regex(x) for x in v])

    @property
    def prompt(self) -> str:
        """The prompt of the level commands run at (the last)."""
        return self.levels[-1].prompt

    @property
    def secrets(self) -> list[str]:
        """The names of the passwords the climb may ask for."""
        return [lv.password for lv in self.levels if lv.password]


def names() -> list[str]:
    """The platforms shipped with runbook."""
    return sorted(p.stem for p in PLATFORMS.glob("*.yaml"))


@cache
def platform(name: str) -> Platform:
    """The shipped platform `name`; raises InventoryError naming the known ones."""
    path = PLATFORMS / f"{name}.yaml"
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name) or not path.is_file():
        raise InventoryError(f"runbook_access: unknown access profile {name!r} (known: "
                             f"{', '.join(names())})")
    try:
        data: Any = safe_load(path.read_text())
        return Platform.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        raise InventoryError(f"{path.name}: not a valid platform: {exc}") from None


def for_target(target: Any) -> Platform:
    """The platform of an inventory target: `runbook_access`, else `cli` for a device whose
    `runbook_shell` is cli, else a plain shell."""
    vars_ = getattr(target, "vars", {}) or {}
    name = vars_.get("runbook_access")
    if not name:
        name = "cli" if str(vars_.get("runbook_shell", "posix")) == "cli" else DEFAULT
    return platform(str(name))
