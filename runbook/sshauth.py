"""SSH passwords and key passphrases, for devices that allow no keys: secrets like any other.

The inventory names a secret (`runbook_password_secret: fw1_pw`,
`runbook_key_passphrase_secret: key_pw`); its value comes from `--secret-env NAME=ENVVAR` or
is asked without echo on the terminal, when the connection is first opened. It is never
written anywhere and never put on a command line.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import TransportError

PASSWORD_VAR = "runbook_password_secret"
PASSPHRASE_VAR = "runbook_key_passphrase_secret"


def connection_secret_names(host_vars: Iterable[Mapping[str, Any]]) -> set[str]:
    """The secret names an inventory's hosts declare for logging in."""
    return {str(v[k]) for v in host_vars for k in (PASSWORD_VAR, PASSPHRASE_VAR) if v.get(k)}


class ConnectionSecrets:
    """Values of connection secrets, from named environment variables or asked once each."""

    def __init__(self, env_map: Mapping[str, str] | None = None,
                 interactive: bool | None = None) -> None:
        self.env_map = dict(env_map or {})
        self.interactive = sys.stdin.isatty() if interactive is None else interactive
        self._values: dict[str, str] = {}

    def get(self, name: str, purpose: str) -> str:
        """The value of secret `name` (`purpose` says what it is for, when asking)."""
        if name in self._values:
            return self._values[name]
        if name in self.env_map:
            value = os.environ.get(self.env_map[name])
            if value is None:
                raise TransportError(f"secret {name!r} ({purpose}): environment variable "
                                     f"{self.env_map[name]} is not set")
        elif self.interactive:
            value = getpass.getpass(f"{name} ({purpose}, not echoed): ")
        else:
            raise TransportError(f"{purpose} needs secret {name!r} and there is no terminal "
                                 f"to ask on: use --secret-env {name}=ENVVAR")
        self._values[name] = value
        return value

    def options(self, hop_vars: Mapping[str, Any], where: str) -> dict[str, str]:
        """asyncssh `password` / `passphrase` options for a hop whose inventory asks for them."""
        out = {}
        if hop_vars.get(PASSWORD_VAR):
            out["password"] = self.get(str(hop_vars[PASSWORD_VAR]), f"SSH password for {where}")
        if hop_vars.get(PASSPHRASE_VAR):
            out["passphrase"] = self.get(str(hop_vars[PASSPHRASE_VAR]),
                                         f"key passphrase for {where}")
        return out
