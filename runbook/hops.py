"""How to reach one device: its inventory entry merged with the ssh config, hop by hop.

Precedence is Ansible's over OpenSSH's: what the inventory says explicitly (`ansible_port`,
`ansible_user`, key files, `runbook_jump`, ssh arguments) wins, then the first matching value
in the ssh config files, then OpenSSH's defaults. A jump list (`-J a@b:2222,c`) becomes a
chain of hops, each one its own connection whose host key is checked like any device's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .inventory import Inventory, Target
from .sshconfig import HostSettings, SshConfigError, lookup, parse_jump, parse_ssh_args

MAX_HOPS = 8


@dataclass(frozen=True)
class Hop:
    """One SSH connection to make: a device, or a jump host on the way to one."""

    name: str  # as the operator wrote it: inventory name, ssh alias or user@host:port
    key: str  # the connection's identity (a hop reached by another chain is another one)
    host: str
    port: int
    user: str | None
    key_files: tuple[str, ...]
    identities_only: bool
    agent_path: str | None
    jumps: tuple[str, ...]  # hops to go through, first first
    known_hosts: str | None  # runbook_known_hosts (pinned keys)
    user_known_hosts: tuple[str, ...] | None
    global_known_hosts: tuple[str, ...] | None
    strict: bool
    connect_timeout: float | None
    keepalive_interval: float | None
    keepalive_count_max: int | None
    vars: dict[str, Any]
    via_of: str | None = None  # the device this hop is a jump host for

    def where(self) -> str:
        """`name (host:port)`, with `jump host ... for DEVICE` for a hop."""
        base = f"{self.name} ({self.host}:{self.port})"
        return f"jump host {base} for {self.via_of}" if self.via_of else base


def _ssh_args(t: Target) -> tuple[dict[str, str], list[Path] | None]:
    opts: dict[str, str] = {}
    config: list[Path] | None = None
    for var in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        raw = t.vars.get(var)
        if raw:
            parsed = parse_ssh_args(str(raw), f"{t.name}: {var}")
            opts.update(parsed.options)
            if parsed.config_file:
                config = [Path(parsed.config_file).expanduser()]
    cfg = t.vars.get("runbook_ssh_config")
    if cfg:
        config = [Path(str(cfg)).expanduser()]
    return opts, config


def resolve(name: str, inventory: Inventory, *, jumps: tuple[str, ...] | None = None,
            via_of: str | None = None) -> Hop:
    """The hop for `name`: an inventory host, else an ssh-config alias or `[user@]host[:port]`.

    `jumps` replaces the hop's own ProxyJump (the earlier hops of a `-J` list).
    Raises SshConfigError / InventoryError for what cannot be honoured.
    """
    t = inventory.targets.get(name)
    if t is not None:
        opts, paths = _ssh_args(t)
        v = t.vars
        port = t.port if "ansible_port" in v else _int(opts.get("Port"), t.name)
        user = t.user or opts.get("User")
        alias = t.host
        keys = tuple(t.key_files) + ((opts["IdentityFile"],) if "IdentityFile" in opts else ())
        jump = str(v["runbook_jump"]) if v.get("runbook_jump") else opts.get("ProxyJump")
        pinned, tvars = t.known_hosts, dict(v)
    else:
        spec = parse_jump(name)
        alias, port, user = spec.host, spec.port, spec.user
        keys, jump, pinned, tvars, opts, paths = (), None, None, {}, {}, None
    s = lookup(alias, user=user, port=port, paths=paths)
    chain = jumps if jumps is not None else (
        s.proxy_jump if jump is None else
        () if jump.lower() == "none" else tuple(h.strip() for h in jump.split(",") if h.strip()))
    chain = tuple(chain or ())
    if len(chain) > MAX_HOPS:
        raise SshConfigError(f"{name}: more than {MAX_HOPS} jump hosts (a ProxyJump loop?)")
    return _hop(name, s, port, user, keys, chain, pinned, tvars, opts, via_of)


def _int(value: str | None, where: str) -> int | None:
    if value is None:
        return None
    if not value.isdigit():
        raise SshConfigError(f"{where}: ssh Port {value!r} is not a number")
    return int(value)


def _hop(name: str, s: HostSettings, port: int | None, user: str | None,
         keys: tuple[str, ...], chain: tuple[str, ...], pinned: str | None,
         tvars: dict[str, Any], opts: dict[str, str], via_of: str | None) -> Hop:
    def files(opt: str, fallback: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return tuple(opts[opt].split()) if opt in opts else fallback

    strict = opts.get("StrictHostKeyChecking", "").lower() in ("yes", "true") or s.strict
    timeout = opts.get("ConnectTimeout")
    alive = opts.get("ServerAliveInterval")
    keys = tuple(dict.fromkeys(keys + s.identity_files))
    final_port = port or s.port or 22
    key = f"{name}|{','.join(chain)}"
    return Hop(name=name, key=key, host=s.hostname, port=final_port, user=user or s.user,
               key_files=keys,
               identities_only=opts.get("IdentitiesOnly", "").lower() == "yes"
               or s.identities_only, agent_path=s.identity_agent, jumps=chain,
               known_hosts=pinned,
               user_known_hosts=files("UserKnownHostsFile", s.user_known_hosts),
               global_known_hosts=files("GlobalKnownHostsFile", s.global_known_hosts),
               strict=strict,
               connect_timeout=float(timeout) if timeout else s.connect_timeout,
               keepalive_interval=float(alive) if alive else s.keepalive_interval,
               keepalive_count_max=s.keepalive_count_max, vars=tvars, via_of=via_of)
