"""What runbook makes of Ansible's connection variables; nothing is dropped without a word.

Read as Ansible does: `ansible_host`, `ansible_port`, `ansible_user` (and their old `ansible_ssh_*`
spellings), `ansible_ssh_private_key_file`, `ansible_ssh_common_args`/`ansible_ssh_extra_args`
(ProxyJump), `ansible_connection` ssh/network_cli. Mapped: `ansible_become` with method sudo
(or none) to user root (or none) gives `runbook_access: sudo`; `ansible_network_os` (a network
CLI, not a POSIX shell) gives `runbook_shell: cli` — unless the runbook_* variable is set.
Passwords (`ansible_password`, `ansible_become_password`, ...) are never taken from an inventory:
they are removed (so they never reach the journal) and reported, pointing at runbook's secret
sources. Every other `ansible_*` variable and every vault-encrypted value is reported as ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ALIASES = {"ansible_ssh_host": "ansible_host", "ansible_ssh_port": "ansible_port",
           "ansible_ssh_user": "ansible_user"}
UNDERSTOOD = {"ansible_host", "ansible_port", "ansible_user", "ansible_ssh_private_key_file",
              "ansible_private_key_file", "ansible_ssh_common_args", "ansible_ssh_extra_args",
              *ALIASES}
SSH_CONNECTIONS = {"ssh", "smart", "paramiko", "paramiko_ssh", "network_cli",
                   "ansible.netcommon.network_cli", "ansible.builtin.ssh"}
PASSWORDS = {"ansible_password", "ansible_ssh_pass", "ansible_ssh_password",
             "ansible_become_password", "ansible_become_pass", "ansible_sudo_pass",
             "ansible_httpapi_pass", "ansible_httpapi_password"}
SECRET_HINT = ("runbook never reads passwords from an inventory: give the access profile's "
               "password a secret source (keyring, --secret-cmd, --secret-env) instead")


class Vaulted(str):
    """A `!vault` value: runbook does not decrypt Ansible Vault."""


def map_vars(v: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Host variables runbook keeps (ansible_* mapped) and {variable: why it is ignored}."""
    out: dict[str, Any] = {}
    notes: dict[str, str] = {}
    for k, value in v.items():
        if isinstance(value, Vaulted):
            notes[k] = "vault-encrypted: runbook does not decrypt Ansible Vault (ignored)"
            continue
        if k in PASSWORDS:
            notes[k] = SECRET_HINT
            continue
        out[k] = value
    for old, new in ALIASES.items():
        if old in out:
            out.setdefault(new, out[old])
    _become(out, notes)
    conn = out.get("ansible_connection")
    if conn is not None and str(conn) not in SSH_CONNECTIONS:
        notes["ansible_connection"] = f"{conn!r}: runbook connects over SSH only (ignored)"
    elif conn is not None:
        notes["ansible_connection"] = f"{conn!r}: runbook connects over SSH (fine)"
    if out.get("ansible_network_os"):
        if "runbook_shell" not in out:
            out["runbook_shell"] = "cli"
            notes["ansible_network_os"] = "mapped: runbook_shell cli (commands run as typed)"
        else:
            notes["ansible_network_os"] = "runbook_shell is set and wins (ignored)"
    for k in out:
        if k.startswith("ansible_") and k not in UNDERSTOOD and k not in notes \
                and not k.startswith("ansible_become"):
            notes[k] = "not used by runbook (ignored)"
    return out, notes


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "yes", "on", "1")


def _become(out: dict[str, Any], notes: dict[str, str]) -> None:
    keys = [k for k in out if k.startswith("ansible_become")]
    if not keys:
        return
    become = _truthy(out.get("ansible_become", False))
    method = str(out.get("ansible_become_method", "sudo"))
    user = str(out.get("ansible_become_user", "root"))
    if become and method == "sudo" and user == "root" and "runbook_access" not in out:
        out["runbook_access"] = "sudo"
        for k in keys:
            notes[k] = "mapped: runbook_access sudo"
        return
    why = ("runbook_access is set and wins" if "runbook_access" in out else
           "not become" if not become else
           f"become method {method!r} / user {user!r} has no runbook access profile")
    for k in keys:
        notes[k] = f"{why} (ignored)"
