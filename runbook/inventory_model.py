"""Groups, hosts and variables as Ansible holds them, whatever file format they came from.

Every reader (YAML, INI, JSON, an executable inventory) fills one `RawInventory`; `resolve`
then applies Ansible's variable precedence: inventory group vars by group depth, priority
(`ansible_group_priority`) and name; then `group_vars/all`, then the other `group_vars/*`
files likewise; then the host's own inventory vars; then `host_vars/*`.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from typing import Any

from .errors import InventoryError

MAX_RANGE = 10_000  # hosts one range may name: a typo like [1:100000] must not eat memory
_RANGE = re.compile(r"^(.*?)\[([^\]:]*):([^\]:]*)(?::([^\]]*))?\](.*)$")


@dataclass
class RawGroup:
    """One group: its own hosts, its child groups and its variables."""

    name: str
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)
    file_vars: dict[str, Any] = field(default_factory=dict)  # from group_vars/


@dataclass
class RawInventory:
    """What a reader found; hosts keep the order they first appeared in."""

    source: str
    groups: dict[str, RawGroup] = field(default_factory=dict)
    hostvars: dict[str, dict[str, Any]] = field(default_factory=dict)
    host_file_vars: dict[str, dict[str, Any]] = field(default_factory=dict)  # host_vars/

    def group(self, name: str) -> RawGroup:
        """The group called `name`, created (under nothing yet) when first named."""
        if name not in self.groups:
            self.groups[name] = RawGroup(name)
        return self.groups[name]

    def add_host(self, group: str, host: str, hvars: dict[str, Any] | None = None) -> None:
        """Put `host` into `group`; its variables merge over any given before."""
        g = self.group(group)
        if host not in g.hosts:
            g.hosts.append(host)
        self.hostvars.setdefault(host, {}).update(hvars or {})

    def add_child(self, parent: str, child: str, where: str) -> None:
        """Make `child` a child group of `parent`; refuses a cycle."""
        if parent == child or parent in self.descendants(child):
            raise InventoryError(f"{where}: group {child!r} cannot be a child of {parent!r}: "
                                 "that makes a cycle")
        g = self.group(parent)
        self.group(child)
        if child not in g.children:
            g.children.append(child)

    def descendants(self, name: str) -> list[str]:
        """Child groups of `name`, recursively, in order."""
        out: list[str] = []
        todo = list(self.groups[name].children) if name in self.groups else []
        while todo:
            c = todo.pop(0)
            if c not in out:
                out.append(c)
                todo += self.groups[c].children
        return out

    def reconcile(self) -> None:
        """As Ansible does after reading: top-level groups go under `all`, and hosts in no
        group but `all` also go into `ungrouped`."""
        all_ = self.group("all")
        self.group("ungrouped")
        parented = {c for g in self.groups.values() for c in g.children}
        for name in list(self.groups):
            if name != "all" and name not in parented:
                all_.children.append(name)
        in_group = {h for n, g in self.groups.items() if n not in ("all", "ungrouped")
                    for h in g.hosts}
        for h in list(all_.hosts):
            if h not in in_group and h not in self.groups["ungrouped"].hosts:
                self.groups["ungrouped"].hosts.append(h)
        for h in self.hostvars:  # a host only ever named with variables
            if h not in in_group and h not in self.groups["ungrouped"].hosts \
                    and h not in all_.hosts:
                self.groups["ungrouped"].hosts.append(h)
        if "ungrouped" not in all_.children:
            all_.children.append("ungrouped")

    def members(self, name: str) -> list[str]:
        """Hosts of group `name` and of its descendants, own hosts first."""
        out: list[str] = []
        for g in [name, *self.descendants(name)]:
            out += [h for h in self.groups[g].hosts if h not in out]
        return out

    def depths(self) -> dict[str, int]:
        """Each group's depth: the longest path from `all` (Ansible orders vars by it)."""
        depth = {"all": 0}
        todo = ["all"]
        while todo:
            g = todo.pop(0)
            for c in self.groups[g].children:
                if depth.get(c, -1) < depth[g] + 1:
                    depth[c] = depth[g] + 1
                    todo.append(c)
        return depth

    def host_groups(self) -> dict[str, list[str]]:
        """Each host's groups: the ones naming it and all their ancestors."""
        parents: dict[str, list[str]] = {}
        for g in self.groups.values():
            for c in g.children:
                parents.setdefault(c, []).append(g.name)
        out: dict[str, list[str]] = {}
        for h in self.hosts():
            found: list[str] = []
            todo = [grp.name for grp in self.groups.values() if h in grp.hosts]
            while todo:
                name = todo.pop(0)
                if name not in found:
                    found.append(name)
                    todo += parents.get(name, [])
            if "all" not in found:
                found.append("all")
            out[h] = found
        return out

    def hosts(self) -> list[str]:
        """Every host, in the order first seen."""
        seen: dict[str, None] = {}
        for h in self.members("all"):
            seen.setdefault(h, None)
        for h in self.hostvars:
            seen.setdefault(h, None)
        return list(seen)

    def resolve(self) -> dict[str, dict[str, Any]]:
        """Every host's variables with Ansible's precedence applied."""
        depth = self.depths()
        result: dict[str, dict[str, Any]] = {}
        for host, groups in self.host_groups().items():
            def key(g: str) -> tuple[int, int, str]:
                prio = self.groups[g].vars.get("ansible_group_priority", 1)
                try:
                    prio = int(prio)
                except (TypeError, ValueError):
                    prio = 1
                return depth.get(g, 0), prio, g

            ordered = sorted(groups, key=key)
            merged: dict[str, Any] = {}
            for g in ordered:
                merged.update(self.groups[g].vars)
            merged.update(self.groups["all"].file_vars)
            for g in ordered:
                if g != "all":
                    merged.update(self.groups[g].file_vars)
            merged.update(self.hostvars.get(host, {}))
            merged.update(self.host_file_vars.get(host, {}))
            merged.pop("ansible_group_priority", None)
            result[host] = merged
        return result


def expand_range(pattern: str, where: str) -> list[str]:
    """Ansible host ranges: `ftd[01:20]` (zero padding kept), `fw[a:c]`, `h[1:9:2]`."""
    m = _RANGE.match(pattern)
    if not m:
        return [pattern]
    head, beg, end, step_s, tail = m.groups()
    try:
        step = int(step_s) if step_s else 1
    except ValueError:
        raise InventoryError(f"{where}: host range {pattern!r}: step {step_s!r} is not a "
                             "number") from None
    if step < 1:
        raise InventoryError(f"{where}: host range {pattern!r}: step must be positive")
    if not beg:
        beg = "0"
    if not end:
        raise InventoryError(f"{where}: host range {pattern!r}: the range has no end")
    if beg.isdigit() and end.isdigit():
        width = len(beg) if beg.startswith("0") and len(beg) > 1 else 0
        lo, hi = int(beg), int(end)
        if (hi - lo) // step >= MAX_RANGE:
            raise InventoryError(f"{where}: host range {pattern!r} names more than "
                                 f"{MAX_RANGE} hosts")
        seq = [str(i).zfill(width) if width else str(i) for i in range(lo, hi + 1, step)]
    elif beg in string.ascii_letters and end in string.ascii_letters and len(beg) == 1 \
            and len(end) == 1:
        letters = string.ascii_letters
        lo, hi = letters.index(beg), letters.index(end)
        seq = list(letters[lo:hi + 1:step])
    else:
        raise InventoryError(f"{where}: host range {pattern!r}: expected [START:END] with "
                             "numbers or single letters")
    if not seq:
        raise InventoryError(f"{where}: host range {pattern!r}: the start is after the end")
    out: list[str] = []
    for s in seq:
        out += expand_range(f"{head}{s}{tail}", where)
        if len(out) > MAX_RANGE:
            raise InventoryError(f"{where}: host range {pattern!r} names more than "
                                 f"{MAX_RANGE} hosts")
    return out
