"""Devices to run on: an Ansible inventory (YAML, INI, JSON, executable), plus runbook's own
variables.

Readers are in inventory_readers/inventory_ini, precedence in inventory_model, host patterns in
host_patterns and what Ansible's own variables become in ansible_vars. Keys read: `ansible_host`,
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

from .access import names
from .ansible_vars import map_vars
from .errors import InventoryError
from .host_patterns import select_hosts
from .inventory_model import RawInventory
from .inventory_readers import is_script_format, read_path, read_script_data, read_yaml_data
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
        if not 0 < port < 65536:
            raise ValueError
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
                 source: str = "<inventory>", notes: list[str] | None = None) -> None:
        self.targets = targets
        self.groups = groups
        self.source = source
        self.notes = notes or []  # Ansible variables runbook ignores or maps, one line each

    @classmethod
    def load(cls, path: str | Path) -> Inventory:
        """Read an inventory in any form Ansible reads (see inventory_readers); raises
        InventoryError naming file:line and the construct."""
        p = Path(path)
        raw = read_path(p)
        return cls.from_raw(raw, p.parent if not p.is_dir() else p)

    @classmethod
    def from_dict(cls, data: Any, source: str = "<inventory>",
                  base: Path | None = None) -> Inventory:
        """Build from parsed YAML or inventory JSON; raises InventoryError naming what is
        wrong."""
        if isinstance(data, dict) and is_script_format(data):
            raw = read_script_data(data, source)
        else:
            raw = read_yaml_data(data, source)
        raw.reconcile()
        return cls.from_raw(raw, base)

    @classmethod
    def from_raw(cls, raw: RawInventory, base: Path | None) -> Inventory:
        """Targets from what a reader found, with Ansible's variable precedence applied."""
        depth = raw.depths()
        memberships = raw.host_groups()
        targets: dict[str, Target] = {}
        ignored: dict[tuple[str, str], list[str]] = {}
        for name, hvars in raw.resolve().items():
            kept, notes = map_vars(hvars)
            for var, why in notes.items():
                ignored.setdefault((var, why), []).append(name)
            member_of = tuple(sorted(memberships[name], key=lambda g: (depth.get(g, 0), g)))
            targets[name] = _target(name, kept, member_of, base, raw.source)
        groups = {g: raw.members(g) for g in raw.groups}
        lines = []
        for (var, why), hosts in ignored.items():
            shown = ", ".join(hosts[:5]) + (f" and {len(hosts) - 5} more" if len(hosts) > 5
                                            else "")
            lines.append(f"{raw.source}: {var} on {shown}: {why}")
        return cls(targets, groups, raw.source, lines)

    def get(self, name: str) -> Target:
        """The target called `name`; raises InventoryError naming close matches."""
        if name in self.targets:
            return self.targets[name]
        near = difflib.get_close_matches(name, list(self.targets), n=3)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise InventoryError(f"no device {name!r} in {self.source}{hint}")

    def select(self, spec: str) -> list[Target]:
        """Targets for an Ansible host pattern (see host_patterns), plus `role=X`."""
        def roles(role: str) -> list[str]:
            return [t.name for t in self.targets.values() if role in t.roles]

        names = select_hosts(spec, list(self.targets), self.groups, roles, self.source)
        return [self.targets[n] for n in names]

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
