"""Ansible host patterns: `group`, `a:b`, `a:&b`, `a:!b`, `ftd*`, `~regex`, `g[0:2]`, commas.

As in Ansible, plain terms are joined first, then `&` terms intersect, then `!` terms remove,
whatever their order; hosts keep inventory order. runbook adds `role=X` (hosts whose
`runbook_role` includes X). Unlike Ansible, which warns and goes on, a term that matches no
host is an error naming the term (and close names): a mistyped exclusion must never widen a
change.
"""

from __future__ import annotations

import difflib
import fnmatch
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence

from .errors import InventoryError

_TERMS = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")
_SUBSCRIPT = re.compile(r"^(.+?)\[(-?\d+)(?::(-?\d*))?\]$")


def split_pattern(spec: str) -> list[str]:
    """Terms of a pattern: split on commas when there are any, else on colons."""
    if "," in spec:
        parts = spec.split(",")
    else:
        try:
            ipaddress.ip_address(spec.strip())
            parts = [spec]
        except ValueError:
            parts = _TERMS.findall(spec)
    return [p.strip() for p in parts if p.strip()]


def select_hosts(spec: str, hosts: Sequence[str], groups: Mapping[str, Sequence[str]],
                 roles: Callable[[str], list[str]], source: str) -> list[str]:
    """Host names matching the pattern `spec`, in inventory order."""
    terms = split_pattern(spec)
    plain = [t for t in terms if t[0] not in "&!"]
    inter = [t[1:] for t in terms if t[0] == "&"]
    exclude = [t[1:] for t in terms if t[0] == "!"]
    if not plain and (inter or exclude):
        plain = ["all"]
    chosen: list[str] = []
    for term in plain:
        chosen += [h for h in _match(term, hosts, groups, roles, source) if h not in chosen]
    for term in inter:
        keep = set(_match(term, hosts, groups, roles, source))
        chosen = [h for h in chosen if h in keep]
    for term in exclude:
        drop = set(_match(term, hosts, groups, roles, source))
        chosen = [h for h in chosen if h not in drop]
    return chosen


def _match(term: str, hosts: Sequence[str], groups: Mapping[str, Sequence[str]],
           roles: Callable[[str], list[str]], source: str) -> list[str]:
    if not term:
        raise InventoryError(f"host pattern: an empty term after & or ! in {source}")
    if term.startswith("role="):
        found = roles(term[5:])
        if not found:
            raise InventoryError(f"no device has role {term[5:]!r} in {source}")
        return found
    m = _SUBSCRIPT.match(term)
    if m and m.group(1) not in hosts:
        base = _match(m.group(1), hosts, groups, roles, source)
        start = int(m.group(2))
        if m.group(3) is None:
            try:
                return [base[start]]
            except IndexError:
                raise InventoryError(f"host pattern {term!r}: {m.group(1)} has only "
                                     f"{len(base)} host(s)") from None
        end = int(m.group(3)) if m.group(3) else len(base) - 1
        return base[start:end + 1 if end != -1 else None]
    if term in ("all", "*"):
        return list(hosts)
    if term in groups:
        return list(groups[term])
    if term in hosts:
        return [term]
    hits: list[str] = []
    if term.startswith("~"):
        try:
            rx = re.compile(term[1:])
        except re.error as exc:
            raise InventoryError(f"host pattern {term!r}: not a valid regular expression: "
                                 f"{exc}") from None
        test: Callable[[str], bool] = lambda name: rx.match(name) is not None  # noqa: E731
    elif any(c in term for c in "*?["):
        test = lambda name: fnmatch.fnmatchcase(name, term)  # noqa: E731
    else:
        near = difflib.get_close_matches(term, [*hosts, *groups], n=3)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise InventoryError(f"no device or group {term!r} in {source}{hint}")
    for g, members in groups.items():
        if test(g):
            hits += [h for h in members if h not in hits]
    hits += [h for h in hosts if test(h) and h not in hits]
    if not hits:
        raise InventoryError(f"host pattern {term!r} matches no device or group in {source}")
    return [h for h in hosts if h in hits]
