"""OpenSSH client configuration as OpenSSH reads it: Host/Match blocks, -J chains, ssh -o args.

Parsing and Host/Match evaluation are asyncssh's (`asyncssh.config.SSHClientConfig`); this
module decides which options runbook honours, which it may ignore because they only concern
features runbook never uses (forwarding, multiplexing, logging, the terminal), and refuses
everything else with the file, line and option named: an option that changes where runbook
connects or whom it trusts is never dropped silently.
"""

from __future__ import annotations

import getpass
import os
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import TransportError

ENV_CONFIG = "RUNBOOK_SSH_CONFIG"
SYSTEM_CONFIG = Path("/etc/ssh/ssh_config")

# Honoured (asyncssh's own handlers parse them, plus StrictHostKeyChecking).
SUPPORTED = {"host", "match", "include", "hostname", "port", "user", "identityfile",
             "identitiesonly", "proxyjump", "userknownhostsfile", "globalknownhostsfile",
             "stricthostkeychecking", "connecttimeout", "serveraliveinterval",
             "serveralivecountmax", "identityagent", "tag"}
# Accepted and ignored: they only concern features runbook does not use, or tune algorithms
# and authentication methods that the server and asyncssh negotiate safely anyway.
IGNORED = {"addkeystoagent", "addressfamily", "batchmode", "canonicaldomains",
           "canonicalizefallbacklocal", "canonicalizemaxdots", "canonicalizepermittedcnames",
           "casignaturealgorithms", "checkhostip", "ciphers", "clearallforwardings",
           "compression", "controlmaster", "controlpath", "controlpersist", "dynamicforward",
           "enableescapecommandline", "enablesshkeysign", "escapechar", "exitonforwardfailure",
           "fingerprinthash", "forkafterauthentication", "forwardagent", "forwardx11",
           "forwardx11timeout", "forwardx11trusted", "gatewayports", "gssapiauthentication",
           "gssapidelegatecredentials", "gssapikeyexchange", "hashknownhosts",
           "hostbasedacceptedalgorithms", "hostbasedauthentication", "hostkeyalgorithms",
           "ipqos", "kbdinteractiveauthentication", "kbdinteractivedevices", "kexalgorithms",
           "localforward", "loglevel", "logverbose", "macs", "nohostauthenticationforlocalhost",
           "numberofpasswordprompts", "obscurekeystroketiming", "passwordauthentication",
           "permitlocalcommand", "localcommand", "permitremoteopen",
           "preferredauthentications", "pubkeyacceptedalgorithms", "pubkeyacceptedkeytypes",
           "pubkeyauthentication", "challengeresponseauthentication", "rekeylimit",
           "remoteforward", "requesttty", "revokedhostkeys", "sendenv", "sessiontype", "setenv",
           "stdinnull", "streamlocalbindmask", "streamlocalbindunlink", "tcpkeepalive",
           "tunnel", "tunneldevice", "updatehostkeys", "usekeychain", "verifyhostkeydns",
           "visualhostkey", "xauthlocation", "connectionattempts", "requiredrsasize",
           "securitykeyprovider", "canonicalizehostname", "proxycommand"}
# Of the ignored ones, these are refused unless they say "no"/"none" (they would change where
# runbook connects).
REFUSED_UNLESS_OFF = {"canonicalizehostname": "no", "proxycommand": "none"}
WHY = {"proxycommand": "runbook connects itself and only through ProxyJump hops, whose host "
                       "keys it checks; use ProxyJump",
       "hostkeyalias": "runbook checks each host key under the host's own name",
       "knownhostscommand": "runbook never runs a command to decide trust"}


class SshConfigError(TransportError):
    """An ssh config file or ssh option runbook cannot honour."""

    title = "ssh configuration"
    exit_code = 2


@dataclass(frozen=True)
class HostSettings:
    """What the ssh configuration says about one host (None: not said)."""

    alias: str
    hostname: str
    port: int | None
    user: str | None
    identity_files: tuple[str, ...]
    identities_only: bool
    proxy_jump: tuple[str, ...] | None
    user_known_hosts: tuple[str, ...] | None
    global_known_hosts: tuple[str, ...] | None
    strict: bool
    connect_timeout: float | None
    keepalive_interval: float | None
    keepalive_count_max: int | None
    identity_agent: str | None


def _record(self: Any, option: str, args: list[str]) -> None:
    value = " ".join(args)
    args.clear()
    off = REFUSED_UNLESS_OFF.get(option.lower())
    if option.lower() in IGNORED and (off is None or value.lower() == off):
        return
    self.refused.append((str(self._path), self._line_no, option, value))


if TYPE_CHECKING:
    from asyncssh.config import SSHClientConfig


@cache
def _canonical() -> dict[str, str]:
    """Options' spelling in messages, by lower-case name."""
    from asyncssh.config import SSHClientConfig

    return {k: v[0] for k, v in SSHClientConfig._handlers.items()} | {
        n.lower(): n for n in ("KnownHostsCommand", "ProxyUseFdpass", "BindInterface",
                               "ControlMaster", "ControlPath", "ControlPersist", "LocalCommand")}


class _Handlers(dict[str, tuple[str, Callable[..., None]]]):
    """Handlers by lower-case option; an option not listed is recorded as refused."""

    def __missing__(self, key: str) -> tuple[str, Callable[..., None]]:
        return _canonical().get(key, key), _record


def _strict(self: Any, option: str, args: list[str]) -> None:
    value = args.pop(0).lower()
    if option not in self._options:
        self._options[option] = value


@cache
def _config_class() -> type[SSHClientConfig]:
    """asyncssh's client config, recording every option runbook will not honour (made on
    first use: importing asyncssh is a good part of runbook's start-up)."""
    from asyncssh.config import SSHClientConfig

    class _Config(SSHClientConfig):
        _handlers = _Handlers({k: v for k, v in SSHClientConfig._handlers.items()
                               if k in SUPPORTED})
        _handlers["stricthostkeychecking"] = ("StrictHostKeyChecking", _strict)
        for _name in IGNORED:
            _handlers[_name] = (_canonical().get(_name, _name), _record)

        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            self.refused: list[tuple[str, int, str, str]] = []

    return _Config


def default_paths() -> list[Path]:
    """The files OpenSSH would read: `$RUNBOOK_SSH_CONFIG` if set (alone, like `ssh -F`),
    else `~/.ssh/config` and then the system-wide file."""
    if os.environ.get(ENV_CONFIG):
        return [Path(os.environ[ENV_CONFIG]).expanduser()]
    return [p for p in (Path.home() / ".ssh" / "config", SYSTEM_CONFIG) if p.is_file()]


def lookup(alias: str, *, user: str | None = None, port: int | None = None,
           paths: Sequence[Path] | None = None) -> HostSettings:
    """Settings for `alias` (values given here win, as on ssh's command line).

    Raises SshConfigError naming file:line for a bad file or an option runbook cannot honour.
    """
    files = list(default_paths() if paths is None else paths)
    for f in files:
        if not f.is_file():
            raise SshConfigError(f"{f}: ssh config file not found")
    try:
        config = _config_class()
        cfg: Any = config.load(None, files, False, False, False, getpass.getuser(),
                               user if user else (), alias, port if port else ())
    except Exception as exc:  # noqa: BLE001 - asyncssh raises several kinds for a bad file
        raise SshConfigError(f"{exc}") from None
    refused: list[tuple[str, int, str, str]] = cfg.refused
    if refused:
        where, line, option, value = refused[0]
        why = WHY.get(option.lower(), "runbook cannot honour it")
        raise SshConfigError(f"{where}:{line}: {option} {value} (for host {alias}) is not "
                             f"supported: {why}. Remove it for this host or use an option "
                             "runbook supports (see README, Inventory)")

    def strs(option: str) -> tuple[str, ...] | None:
        v = cfg.get(option)
        if v is None:
            return None
        items = v if isinstance(v, list) else [v]
        return tuple(str(Path(str(i)).expanduser()) for i in items)

    jump = cfg.get("ProxyJump")
    strict = str(cfg.get("StrictHostKeyChecking", "ask")).lower() in ("yes", "true")
    timeout, alive = cfg.get("ConnectTimeout"), cfg.get("ServerAliveInterval")
    count = cfg.get("ServerAliveCountMax")
    return HostSettings(
        alias=alias, hostname=str(cfg.get("Hostname", alias)),
        port=int(str(cfg.get("Port"))) if cfg.get("Port") else None,
        user=str(cfg.get("User")) if cfg.get("User") else None,
        identity_files=strs("IdentityFile") or (),
        identities_only=bool(cfg.get("IdentitiesOnly", False)),
        proxy_jump=None if jump is None else
        () if str(jump).lower() == "none" else split_jumps(str(jump)),
        user_known_hosts=strs("UserKnownHostsFile"),
        global_known_hosts=strs("GlobalKnownHostsFile"), strict=strict,
        connect_timeout=float(str(timeout)) if timeout else None,
        keepalive_interval=float(str(alive)) if alive is not None else None,
        keepalive_count_max=int(str(count)) if count else None,
        identity_agent=str(cfg.get("IdentityAgent")) if cfg.get("IdentityAgent") else None)


@dataclass(frozen=True)
class JumpSpec:
    """One hop of a `-J`/ProxyJump list: `[user@]host[:port]` or `ssh://[user@]host[:port]`."""

    user: str | None
    host: str
    port: int | None


def split_jumps(value: str) -> tuple[str, ...]:
    """The hops of a comma-separated ProxyJump value, first hop first."""
    hops = tuple(h.strip() for h in value.split(",") if h.strip())
    for hop in hops:
        parse_jump(hop)
    return hops


def parse_jump(spec: str) -> JumpSpec:
    """`a@b:2222` → JumpSpec('a', 'b', 2222); `[::1]:22` and `ssh://` forms too.

    Raises SshConfigError for an empty host or a port that is not a number.
    """
    rest = spec[6:] if spec.startswith("ssh://") else spec
    user, _, hostport = rest.rpartition("@")
    if hostport.startswith("["):
        host, _, tail = hostport[1:].partition("]")
        port = tail[1:] if tail.startswith(":") else ""
    elif hostport.count(":") == 1:
        host, _, port = hostport.partition(":")
    else:
        host, port = hostport, ""
    if not host or (port and not port.isdigit()):
        raise SshConfigError(f"jump host {spec!r}: expected [user@]host[:port]")
    return JumpSpec(user or None, host, int(port) if port else None)


# ssh command-line flags that take no argument and change nothing runbook does.
HARMLESS_FLAGS = set("46aACgkKnNqstTvxXyY")
OPTION_NAMES = {n.lower(): n for n in ("ProxyJump", "Port", "User", "IdentityFile",
                                       "IdentitiesOnly", "UserKnownHostsFile",
                                       "GlobalKnownHostsFile", "StrictHostKeyChecking",
                                       "ConnectTimeout", "ServerAliveInterval",
                                       "ServerAliveCountMax", "HostName")}


@dataclass
class SshArgs:
    """What `ansible_ssh_common_args`-style ssh arguments set."""

    options: dict[str, str]
    config_file: str | None = None


def parse_ssh_args(args: str, where: str) -> SshArgs:
    """Parse ssh command-line arguments (`-J`, `-o K=V`, `-p`, `-l`, `-i`, `-F`, harmless
    flags); raises SshConfigError naming any option runbook would otherwise drop."""
    try:
        parts = shlex.split(args)
    except ValueError as exc:
        raise SshConfigError(f"{where}: ssh arguments: {exc}") from None
    out = SshArgs({})
    flag_opts = {"-J": "ProxyJump", "-p": "Port", "-l": "User", "-i": "IdentityFile"}
    i = 0
    while i < len(parts):
        part = parts[i]
        flag = part[:2]
        takes_value = flag in flag_opts or flag in ("-F", "-o")
        val_: str = ""
        if takes_value:
            val_ = part[2:]
            if not val_:
                i += 1
                if i >= len(parts):
                    raise SshConfigError(f"{where}: ssh option {flag} needs a value")
                val_ = parts[i]

        def value() -> str:
            return val_  # noqa: B023 - used at once, in this iteration

        if flag in flag_opts:
            out.options[flag_opts[flag]] = value()
        elif flag == "-F":
            out.config_file = value()
        elif flag == "-o":
            raw = value()
            key, sep, val = raw.partition("=")
            if not sep:
                key, _, val = raw.strip().partition(" ")
            lkey = key.strip().lower()
            if lkey in OPTION_NAMES:
                out.options[OPTION_NAMES[lkey]] = val.strip()
            elif lkey in IGNORED and (lkey not in REFUSED_UNLESS_OFF
                                      or val.strip().lower() == REFUSED_UNLESS_OFF[lkey]):
                pass
            else:
                why = WHY.get(lkey, "runbook cannot honour it")
                raise SshConfigError(f"{where}: ssh option -o {key.strip()} is not supported: "
                                     f"{why}")
        elif part.startswith("-") and len(part) > 1 and set(part[1:]) <= HARMLESS_FLAGS:
            pass
        else:
            raise SshConfigError(f"{where}: ssh argument {part!r} is not supported")
        i += 1
    if "ProxyJump" in out.options and out.options["ProxyJump"].lower() != "none":
        split_jumps(out.options["ProxyJump"])
    return out
