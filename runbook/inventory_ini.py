"""Ansible's INI inventory: `[group]`, `[group:vars]`, `[group:children]`, `host k=v` lines."""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from typing import Any

from .errors import InventoryError
from .inventory_model import RawInventory, expand_range

_SECTION = re.compile(r"^\[([^\]]+)\]\s*(?:[#;].*)?$")


def parse_value(text: str) -> Any:
    """A value as Ansible's INI reader takes it: a Python literal if it is one, else text."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def split_host_port(name: str, where: str) -> tuple[str, int | None]:
    """`host:2222` names a port (ranges such as `h[1:3]:2222` too; IPv6 is left whole)."""
    m = re.fullmatch(r"\[([0-9a-fA-F:.]+)\]:(\d+)", name)
    if m:
        return m.group(1), int(m.group(2))
    outside = re.sub(r"\[[^\]]*\]", "", name)
    if outside.count(":") == 1:
        host, _, port = name.rpartition(":")
        if not port.isdigit():
            raise InventoryError(f"{where}: host {name!r}: {port!r} is not a port number")
        return host, int(port)
    return name, None


def host_names(pattern: str, where: str) -> tuple[list[str], int | None]:
    """Names from a host pattern (ranges expanded) and the port it names, if any."""
    base, port = split_host_port(pattern, where)
    return expand_range(base, where), port


def looks_like_ini(text: str) -> bool:
    """True when the text has an INI section header line (YAML would not)."""
    return any(_SECTION.match(line.strip()) for line in text.splitlines())


def read_ini(text: str, source: str, raw: RawInventory | None = None) -> RawInventory:
    """Parse INI inventory text; errors name source:line and the line's construct."""
    inv = raw or RawInventory(source)
    group, kind = "ungrouped", "hosts"
    inv.group("ungrouped")
    for num, line in enumerate(text.splitlines(), 1):
        where = f"{source}:{num}"
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        m = _SECTION.match(stripped)
        if m:
            head = m.group(1).strip()
            group, _, kind = head.partition(":")
            kind = kind or "hosts"
            if kind not in ("hosts", "vars", "children"):
                raise InventoryError(f"{where}: section [{head}]: expected [GROUP], "
                                     "[GROUP:vars] or [GROUP:children]")
            if not group or re.search(r"\s", group):
                raise InventoryError(f"{where}: section [{head}]: not a valid group name")
            inv.group(group)
            continue
        if stripped.startswith("["):
            raise InventoryError(f"{where}: {stripped!r}: a section header must be "
                                 "[GROUP], [GROUP:vars] or [GROUP:children] on its own line")
        if kind == "vars":
            name, sep, value = stripped.partition("=")
            if not sep or not name.strip():
                raise InventoryError(f"{where}: [{group}:vars]: expected NAME=VALUE, got "
                                     f"{stripped!r}")
            inv.group(group).vars[name.strip()] = parse_value(value.strip())
        elif kind == "children":
            child = stripped.split()[0]
            inv.add_child(group, child, where)
        else:
            _host_line(inv, group, stripped, where)
    return inv


def _host_line(inv: RawInventory, group: str, line: str, where: str) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        raise InventoryError(f"{where}: host line in [{group}]: {exc}") from None
    if not tokens:
        return
    hvars: dict[str, Any] = {}
    for tok in tokens[1:]:
        name, sep, value = tok.partition("=")
        if not sep or not name:
            raise InventoryError(f"{where}: host {tokens[0]!r} in [{group}]: expected "
                                 f"NAME=VALUE host variables, got {tok!r}")
        hvars[name] = parse_value(value)
    names, port = host_names(tokens[0], where)
    if port is not None:
        hvars.setdefault("ansible_port", port)
    for h in names:
        inv.add_host(group, h, dict(hvars))
