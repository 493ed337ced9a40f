"""Turn operator-given parameter strings into typed, validated values for a procedure."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any, Protocol

from .errors import UsageError
from .model import Param, Procedure
from .redact import MIN_SECRET_LENGTH
from .template import Value

TRUE = {"true", "yes", "on", "1"}
FALSE = {"false", "no", "off", "0"}


class TargetSource(Protocol):
    """What params need from an inventory: a host by name and a selection by spec."""

    def get(self, name: str) -> Any: ...

    def select(self, spec: str) -> list[Any]: ...


def coerce(name: str, param: Param, raw: Any, inventory: TargetSource | None) -> Any:
    """Convert one raw value (string from the CLI, or a YAML default) to the param's type.

    Raises UsageError naming the parameter and what is wrong.
    """
    text = raw if isinstance(raw, str) else None
    try:
        match param.type:
            case "int":
                if isinstance(raw, bool):
                    raise ValueError
                return int(raw)
            case "bool":
                if isinstance(raw, bool):
                    return raw
                low = str(raw).strip().lower()
                if low in TRUE | FALSE:
                    return low in TRUE
                raise ValueError
            case "ip":
                return str(ipaddress.ip_address(str(raw).strip()))
            case "choice":
                if str(raw) not in (param.choices or []):
                    raise UsageError(f"parameter {name!r}: {raw!r} is not one of "
                                     f"{', '.join(param.choices or [])}")
                return str(raw)
            case "target" | "targets":
                if inventory is None:
                    raise UsageError(f"parameter {name!r} names devices: give an inventory")
                if param.type == "target":
                    target = inventory.get(str(raw).strip())
                    refuse_unaccepted(name, param, [target], inventory)
                    return target
                chosen = inventory.select(str(raw))
                if not chosen:
                    raise UsageError(f"parameter {name!r}: {raw!r} selects no device")
                refuse_unaccepted(name, param, chosen, inventory)
                return chosen
            case "secret":
                if text is None or len(text) < MIN_SECRET_LENGTH:
                    raise UsageError(f"parameter {name!r}: a secret must be at least "
                                     f"{MIN_SECRET_LENGTH} characters (shorter ones cannot be "
                                     "redacted from output safely)")
                return text
            case _:
                value = str(raw)
                if param.pattern and not re.fullmatch(param.pattern, value):
                    raise UsageError(f"parameter {name!r}: {value!r} does not match "
                                     f"{param.pattern}")
                return value
    except UsageError:
        raise
    except (ValueError, TypeError):
        raise UsageError(f"parameter {name!r}: {raw!r} is not a valid {param.type}") from None


def vendors(target: Any) -> list[str]:
    """A device's vendor names: its `runbook_vendor` variable, else the groups it is in."""
    given = getattr(target, "vars", {}).get("runbook_vendor")
    if given:
        return [str(given)]
    return [g for g in getattr(target, "groups", ()) if g != "all"]


def unaccepted(param: Param, target: Any) -> str | None:
    """Why `param` does not take `target` (None when it does)."""
    acc = param.accepts
    if acc is None:
        return None
    roles = list(getattr(target, "roles", ()))
    if acc.role and not set(acc.role) & set(roles):
        return (f"{target.name} has role {', '.join(roles) or '(none)'}; expected role "
                f"{' or '.join(acc.role)}")
    if acc.vendor and not set(acc.vendor) & set(vendors(target)):
        return (f"{target.name} is not a {' or '.join(acc.vendor)} device (vendor/groups: "
                f"{', '.join(vendors(target)) or 'none'})")
    return None


def refuse_unaccepted(name: str, param: Param, targets: list[Any], inventory: Any) -> None:
    """Raise UsageError (exit 2) naming the parameter, the device and what was expected."""
    reasons = [r for t in targets if (r := unaccepted(param, t))]
    if reasons:
        source = getattr(inventory, "source", "the inventory")
        raise UsageError(f"parameter {name!r}: {'; '.join(reasons)} (roles come from "
                         f"runbook_role in {source})")


def resolve(procedure: Procedure, given: Mapping[str, Any], secrets: Mapping[str, str],
            inventory: TargetSource | None) -> dict[str, Value]:
    """Typed values for every param: given, else default; raises UsageError on any problem."""
    unknown = sorted(set(given) - set(procedure.params))
    if unknown:
        raise UsageError(f"unknown parameter(s) {', '.join(unknown)}; this procedure takes: "
                         f"{', '.join(procedure.params) or 'none'}")
    for name in given:
        if procedure.params[name].type == "secret":
            raise UsageError(f"parameter {name!r} is a secret: it is asked for (or read from an "
                             "environment variable with --secret-env), never given on the "
                             "command line")
    values: dict[str, Value] = {}
    missing = []
    for name, param in procedure.params.items():
        if param.type == "secret":
            raw = secrets.get(name)
        else:
            raw = given.get(name, param.default)
        if raw is None:
            if param.required:
                missing.append(name)
            continue
        values[name] = Value(coerce(name, param, raw, inventory), secret=param.type == "secret")
    if missing:
        raise UsageError(f"missing parameter(s): {', '.join(missing)} "
                         "(give them with -p NAME=VALUE)")
    return values


def storable(procedure: Procedure, values: Mapping[str, Value]) -> dict[str, Any]:
    """Param values as stored in the journal: secrets left out, devices by name."""
    out: dict[str, Any] = {}
    for name, val in values.items():
        if val.secret:
            continue
        v = val.value
        if procedure.params[name].type == "target":
            v = v.name
        elif procedure.params[name].type == "targets":
            v = ",".join(t.name for t in v)
        out[name] = v
    return out
