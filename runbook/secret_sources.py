"""Where a secret comes from: an environment variable, a command, the system keyring, a prompt.

A source is written `env:VAR`, `cmd:pass show cp/sic`, `keyring:SERVICE/USER` (or `keyring:` for
service `runbook`, user = the secret's name) or `prompt`. Command line options name a source per
secret and win over the configuration file's `[secrets]` table; a secret with neither is asked
for without echo when there is a terminal. Values live only in memory: a command runs without a
shell (its words split as a POSIX shell would), its first stdout line is the secret, and its
stderr is never shown (it may echo what it read); nothing is written to disk or the journal.
"""

from __future__ import annotations

import getpass
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .errors import UsageError

COMMAND_TIMEOUT = 60.0  # seconds; a password manager may ask for its own passphrase first
KINDS = ("env", "cmd", "keyring", "prompt")


@dataclass(frozen=True)
class Source:
    """One place to read one secret from; `origin` says who chose it (for messages)."""

    kind: str
    spec: str = ""
    origin: str = "command line"

    def describe(self) -> str:
        """Human form without the value (e.g. `keyring runbook/admin`)."""
        return f"{self.kind} {self.spec}".strip()


def parse_source(text: str, origin: str) -> Source:
    """`env:VAR`, `cmd:COMMAND`, `keyring:SERVICE/USER`, `keyring:` or `prompt`."""
    kind, sep, spec = text.partition(":")
    kind = kind.strip()
    if kind not in KINDS or (not sep and kind != "prompt"):
        raise UsageError(f"{origin}: secret source {text!r}: expected env:VAR, cmd:COMMAND, "
                         "keyring:SERVICE/USER or prompt")
    if kind in ("env", "cmd") and not spec.strip():
        raise UsageError(f"{origin}: secret source {text!r}: {kind}: needs what to read")
    return Source(kind, spec.strip(), origin)


def _pairs(items: tuple[str, ...], option: str) -> list[tuple[str, str]]:
    out = []
    for item in items:
        name, sep, value = item.partition("=")
        if not name.strip() or (option != "--secret-keyring" and not sep):
            raise UsageError(f"{option} {item!r}: expected NAME=...")
        out.append((name.strip(), value.strip()))
    return out


def cli_sources(env: tuple[str, ...] = (), cmd: tuple[str, ...] = (),
                keyring: tuple[str, ...] = ()) -> dict[str, Source]:
    """Sources from `--secret-env NAME=VAR`, `--secret-cmd NAME='CMD'`,
    `--secret-keyring NAME[=SERVICE/USER]`; naming one secret twice is an error."""
    out: dict[str, Source] = {}
    for option, kind, items in (("--secret-env", "env", env), ("--secret-cmd", "cmd", cmd),
                                ("--secret-keyring", "keyring", keyring)):
        for name, value in _pairs(items, option):
            if name in out:
                raise UsageError(f"secret {name!r} is given two sources on the command line")
            if kind != "keyring" and not value:
                raise UsageError(f"{option} {name}=: says nothing to read")
            out[name] = Source(kind, value, option)
    return out


def from_env(name: str, var: str) -> str:
    """The value of environment variable `var`."""
    value = os.environ.get(var)
    if value is None:
        raise UsageError(f"secret {name!r}: environment variable {var} is not set")
    return value


def from_command(name: str, command: str, timeout: float | None = None) -> str:
    """First line of `command`'s stdout, run without a shell; its stderr is never shown."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise UsageError(f"secret {name!r}: cannot split the command: {exc}") from None
    if not argv:
        raise UsageError(f"secret {name!r}: the command is empty")
    limit = COMMAND_TIMEOUT if timeout is None else timeout
    try:
        done = subprocess.run(argv, capture_output=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        raise UsageError(f"secret {name!r}: `{argv[0]}` gave no answer within {limit:g} s"
                         ) from None
    except OSError as exc:
        raise UsageError(f"secret {name!r}: cannot run `{argv[0]}`: {exc.strerror}") from None
    if done.returncode != 0:
        raise UsageError(f"secret {name!r}: `{argv[0]}` failed (exit {done.returncode}); its "
                         "error output is not shown as it may hold the secret: run the "
                         "command yourself to see why")
    lines = done.stdout.decode(errors="replace").splitlines()
    if not lines or not lines[0]:
        raise UsageError(f"secret {name!r}: `{argv[0]}` printed nothing on its first line")
    return lines[0]


def from_keyring(name: str, spec: str) -> str:
    """The password stored in the system keyring under SERVICE/USER (default runbook/NAME)."""
    import keyring
    from keyring.errors import KeyringError

    service, _, user = spec.partition("/") if spec else ("runbook", "", name)
    if not service or not user:
        raise UsageError(f"secret {name!r}: keyring source {spec!r}: expected SERVICE/USER")
    try:
        value = keyring.get_password(service, user)
        backend = type(keyring.get_keyring()).__name__
    except KeyringError as exc:
        raise UsageError(f"secret {name!r}: the system keyring cannot be used: {exc}") from None
    if value is None:
        raise UsageError(f"secret {name!r}: nothing stored for {service}/{user} in the "
                         f"system keyring ({backend}); store it with "
                         f"`keyring set {service} {user}`")
    return value


def read(name: str, source: Source) -> str:
    """The secret `name` from `source`."""
    match source.kind:
        case "env":
            return from_env(name, source.spec)
        case "cmd":
            return from_command(name, source.spec)
        case "keyring":
            return from_keyring(name, source.spec)
        case _:
            return prompt(name)


def prompt(name: str) -> str:
    """Ask without echo; refuses when there is no terminal to ask on."""
    if not sys.stdin.isatty():
        raise UsageError(f"secret {name!r} is needed and there is no terminal to ask on: use "
                         f"--secret-env, --secret-cmd or --secret-keyring {name}=...")
    return getpass.getpass(f"{name} (secret, not echoed): ")


def resolve(names: list[str], given: Mapping[str, Source],
            configured: Mapping[str, Source] | None = None,
            ask: Callable[[str], str] | None = None) -> dict[str, str]:
    """Every secret in `names`: command-line source, else configured, else asked.

    A command-line source for a secret the procedure does not take is an error (a typo would
    otherwise send the operator to a prompt); configured ones for other secrets are fine.
    """
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise UsageError(f"secret source given for {', '.join(unknown)}, which this procedure "
                         f"does not take as secrets ({', '.join(names) or 'none'})")
    out = {}
    for name in names:
        source = given.get(name) or (configured or {}).get(name)
        if source is None or source.kind == "prompt":
            out[name] = (ask or prompt)(name)
        else:
            out[name] = read(name, source)
    return out
