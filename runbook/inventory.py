"""Devices to run on: an Ansible-compatible YAML inventory, plus runbook's own variables.

Groups nest under `children`; variables come from `vars` with Ansible's precedence (a host's
own over its groups', a child group's over its parent's). Keys read: `ansible_host`,
`ansible_port`, `ansible_user`, `ansible_ssh_private_key_file`, `ansible_ssh_common_args`
(`-o ProxyJump=...` or `-J ...`), and runbook's `runbook_role` (what procedures select by),
`runbook_jump` (jump hosts to connect through, as for `ssh -J`: inventory hosts, ssh-config
aliases or `user@host:port`, comma separated), `runbook_known_hosts` (pinned host keys) and
`runbook_access` (how a session climbs to the shell procedures use: a platform
of `runbook/platforms/`; its passwords from `runbook_NAME_env`, the name of an environment
variable, or asked; `runbook_NAME` itself only in a lab, and never journaled). Anything not
given comes from the ssh config files (runbook.sshconfig, runbook.hops).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .access import names
from .errors import InventoryError
from .sshconfig import SshConfigError, parse_ssh_args, split_jumps


@dataclass(frozen=True)
class Target:
    """One device: how to reach it and what it is."""

    name: str
    host: str
    port: int = 22
    user: str | None = None
    key_files: tuple[str, ...] = ()
    jump: str | None = None
    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    known_hosts: str | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the journal's snapshot)."""
        return {"host": self.host, "port": self.port, "user": self.user,
                "key_files": list(self.key_files), "jump": self.jump, "roles": list(self.roles),
                "groups": list(self.groups), "known_hosts": self.known_hosts,
                "vars": {k: v for k, v in self.vars.items()
                         if isinstance(v, str | int | float | bool)
                         and not k.endswith("_password")}}


def _jump_from_args(args: str, where: str) -> str | None:
    """The ProxyJump (`-J` or `-o ProxyJump=`) in ssh arguments; raises InventoryError for
    an ssh option runbook would otherwise drop (such as `-o ProxyCommand=`)."""
    try:
        return parse_ssh_args(args, where).options.get("ProxyJump")
    except SshConfigError as exc:
        raise InventoryError(str(exc)) from None


def _target(name: str, v: Mapping[str, Any], groups: tuple[str, ...], base: Path | None,
            where: str) -> Target:
    def path(p: Any) -> str:
        p = str(Path(str(p)).expanduser())
        return str(base / p) if base is not None and not Path(p).is_absolute() else p

    try:
        port = int(v.get("ansible_port", 22))
    except (TypeError, ValueError):
        raise InventoryError(f"{where}: host {name!r}: ansible_port must be a number") from None
    roles = v.get("runbook_role", ())
    roles = (roles,) if isinstance(roles, str) else tuple(str(r) for r in roles or ())
    keys = v.get("ansible_ssh_private_key_file") or v.get("ansible_private_key_file")
    jump = v.get("runbook_jump")
    for var in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        found = _jump_from_args(str(v.get(var) or ""), f"{where}: host {name!r}: {var}")
        jump = jump or found
    if jump and str(jump).lower() != "none":
        try:
            split_jumps(str(jump))
        except SshConfigError as exc:
            raise InventoryError(f"{where}: host {name!r}: {exc}") from None
    known = v.get("runbook_known_hosts")
    if v.get("runbook_access") is not None:
        if str(v["runbook_access"]) not in names():
            raise InventoryError(f"{where}: host {name!r}: runbook_access "
                                 f"{v['runbook_access']!r} is not an access profile (known: "
                                 f"{', '.join(names())})")
    return Target(name=name, host=str(v.get("ansible_host", name)), port=port,
                  user=str(v["ansible_user"]) if v.get("ansible_user") else None,
                  key_files=(path(keys),) if keys else (), jump=str(jump) if jump else None,
                  roles=roles, groups=groups, known_hosts=path(known) if known else None,
                  vars=dict(v))


class Inventory:
    """Named targets and groups."""

    def __init__(self, targets: dict[str, Target], groups: dict[str, list[str]],
                 source: str = "<inventory>") -> None:
        self.targets = targets
        self.groups = groups
        self.source = source

    @classmethod
    def load(cls, path: str | Path) -> Inventory:
        """Read an inventory file; raises InventoryError with file:line:col on bad YAML."""
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as exc:
            raise InventoryError(f"{p}: cannot read the inventory: {exc.strerror}") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            loc = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise InventoryError(f"{p}{loc}: {problem}") from None
        return cls.from_dict(data, str(p), p.parent)

    @classmethod
    def from_dict(cls, data: Any, source: str = "<inventory>",
                  base: Path | None = None) -> Inventory:
        """Build from parsed YAML; raises InventoryError naming what is wrong."""
        if not isinstance(data, dict) or not data:
            raise InventoryError(f"{source}: expected a mapping with `all` (or groups) at the "
                                 "top")
        top = data if "all" in data else {"all": {"children": data}}
        hosts: dict[str, dict[str, Any]] = {}
        memberships: dict[str, list[str]] = {}
        groups: dict[str, list[str]] = {}

        def walk(gname: str, node: Any, inherited: dict[str, Any], chain: list[str]) -> None:
            if node is None:
                node = {}
            if not isinstance(node, dict):
                raise InventoryError(f"{source}: group {gname!r} must be a mapping")
            unknown = set(node) - {"hosts", "vars", "children"}
            if unknown:
                raise InventoryError(f"{source}: group {gname!r}: unknown key(s) "
                                     f"{', '.join(sorted(unknown))} (expected hosts, vars, "
                                     "children)")
            gvars = node.get("vars") or {}
            if not isinstance(gvars, dict):
                raise InventoryError(f"{source}: group {gname!r}: vars must be a mapping")
            scope = {**inherited, **gvars}
            chain = chain + [gname]
            members = groups.setdefault(gname, [])
            hnodes = node.get("hosts") or {}
            if not isinstance(hnodes, dict):
                raise InventoryError(f"{source}: group {gname!r}: hosts must be a mapping")
            for hname, hvars in hnodes.items():
                if hvars is not None and not isinstance(hvars, dict):
                    raise InventoryError(f"{source}: host {hname!r} must map to variables")
                merged = {**hosts.get(hname, {}), **scope, **(hvars or {})}
                hosts[str(hname)] = merged
                memberships.setdefault(str(hname), [])
                for g in chain:
                    if g not in memberships[str(hname)]:
                        memberships[str(hname)].append(g)
                members.append(str(hname))
            children = node.get("children") or {}
            if not isinstance(children, dict):
                raise InventoryError(f"{source}: group {gname!r}: children must be a mapping")
            for cname, cnode in children.items():
                walk(str(cname), cnode, scope, chain)
                for h in groups.get(str(cname), []):
                    if h not in members:
                        members.append(h)

        walk("all", top["all"], {}, [])
        targets = {n: _target(n, v, tuple(memberships[n]), base, source)
                   for n, v in hosts.items()}
        return cls(targets, groups, source)

    def get(self, name: str) -> Target:
        """The target called `name`; raises InventoryError naming close matches."""
        if name in self.targets:
            return self.targets[name]
        near = difflib.get_close_matches(name, list(self.targets), n=3)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise InventoryError(f"no device {name!r} in {self.source}{hint}")

    def select(self, spec: str) -> list[Target]:
        """Targets for a comma list of host names, group names, `role=X` or `all`."""
        out: list[Target] = []
        for item in (s.strip() for s in spec.split(",")):
            if not item:
                continue
            if item.startswith("role="):
                role = item[5:]
                found = [t for t in self.targets.values() if role in t.roles]
                if not found:
                    raise InventoryError(f"no device has role {role!r} in {self.source}")
            elif item in self.targets:
                found = [self.targets[item]]
            elif item in self.groups:
                found = [self.targets[h] for h in self.groups[item]]
            else:
                self.get(item)  # raises with suggestions
                found = []
            out += [t for t in found if t not in out]
        return out

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready copy kept in the journal, so a resumed run uses the same devices."""
        return {"source": self.source, "groups": self.groups,
                "hosts": {n: t.to_dict() for n, t in self.targets.items()}}

    @classmethod
    def from_snapshot(cls, snap: Mapping[str, Any]) -> Inventory:
        """Rebuild from `snapshot()`."""
        targets = {}
        for n, d in snap.get("hosts", {}).items():
            targets[n] = Target(name=n, host=d["host"], port=d["port"], user=d.get("user"),
                                key_files=tuple(d.get("key_files", ())), jump=d.get("jump"),
                                roles=tuple(d.get("roles", ())), groups=tuple(d.get("groups", ())),
                                known_hosts=d.get("known_hosts"), vars=d.get("vars", {}))
        return cls(targets, {k: list(v) for k, v in snap.get("groups", {}).items()},
                   snap.get("source", "<snapshot>"))
