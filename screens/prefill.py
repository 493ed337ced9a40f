"""What the Parameters form starts with, and where each value came from.

Order, first that gives a valid value wins:
- a device (`target`) parameter: the device last used with this procedure, else the one the
  inventory makes unambiguous (`preselect`);
- a secret: only the lab's own test secret when the app runs the lab (`runbook demo`);
  never remembered, never from an inventory;
- any other parameter: a host variable of the same name on a device the form's device
  parameters picked (in the procedure's order), then the value last used with this
  procedure, then the procedure's default.
The device's own variable wins over the remembered value because the remembered one may have
been for another device.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runbook.errors import RunbookError
from runbook.model import Param

if TYPE_CHECKING:
    from .backend import Backend


@dataclass(frozen=True)
class Prefill:
    """A starting value and where it came from (empty `source`: the procedure's default)."""

    value: str
    source: str = ""


def host_var(inv: Any, picked: list[str], name: str) -> Prefill | None:
    """The first device in `picked` with a scalar host variable `name`."""
    if inv is None:
        return None
    for device in picked:
        target = inv.targets.get(device)
        value = target.vars.get(name) if target is not None else None
        if isinstance(value, str | int | float) and not isinstance(value, bool) \
                and str(value) != "":
            return Prefill(str(value), f"from {device}'s inventory variables")
    return None


def prefill(backend: Backend, params: Mapping[str, Param], remembered: Mapping[str, str],
            preselect: Callable[[str, Param], str | None]) -> dict[str, Prefill]:
    """Starting values of the form's fields (a field without one is left out)."""
    out: dict[str, Prefill] = {}

    def valid(name: str, raw: str) -> bool:
        try:
            backend.check_param(name, params[name], raw)
            return True
        except RunbookError:
            return False

    for name, param in params.items():
        if param.type != "target":
            continue
        last = remembered.get(name)
        if last and valid(name, last):
            out[name] = Prefill(last, "last used")
        elif (chosen := preselect(name, param)) is not None:
            out[name] = Prefill(chosen)
    picked = [out[n].value for n, p in params.items() if p.type == "target" and n in out]
    for name, param in params.items():
        if param.type == "target":
            continue
        if param.type == "secret":
            lab = backend.lab_secrets.get(name)
            if lab:
                out[name] = Prefill(lab, "the lab's test secret (lab only)")
            continue
        found = host_var(backend.inventory, picked, name)
        if found is not None and valid(name, found.value):
            out[name] = found
            continue
        last = remembered.get(name)
        if last is not None and valid(name, last):
            out[name] = Prefill(last, "last used")
        elif param.default is not None:
            out[name] = Prefill(str(param.default))
    return out
