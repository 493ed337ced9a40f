"""The lab: every simulated device started together, with a client key, pinned host keys and an
Ansible-style inventory written for the engine (`runbook lab`, `runbook demo`, the tests)."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import asyncssh
import yaml

from . import checkpoint, children, cisco, clavister, solaris, values
from .device import Faults, LabDevice
from .scenarios import SCENARIOS
from .server import LabServer, generate_key
from .shell import ShellDevice

# What SSH lands in per role (gateways: clish; FTDs: CLISH `>`), the access profile the
# inventory declares for it, and the lab passwords of the climbs (lab secrets: the engine
# redacts them and never journals them).
LOGIN = {"mds": "gaia", "gateway": "gaia", "ftd": "ftd"}
ACCESS = {"mds": "gaia-expert", "gateway": "gaia-expert", "ftd": "ftd-root", "fmc": "sudo",
          "fmc-secondary": "sudo", "ike-host": "shell"}


@dataclass(frozen=True)
class Spec:
    """One device of the lab."""

    name: str
    vendor: str
    role: str
    group: str
    prefixes: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    jump: str | None = None


SPECS = (
    Spec("jump", "lab", "jump", "lab"),
    Spec("mds1", "checkpoint", "mds", "checkpoint", checkpoint.PREFIXES, checkpoint.MDS_TOOLS,
         checkpoint.ENV),
    Spec("gw1", "checkpoint", "gateway", "checkpoint", checkpoint.PREFIXES,
         checkpoint.GW_TOOLS, checkpoint.ENV),
    Spec("gw2", "checkpoint", "gateway", "checkpoint", checkpoint.PREFIXES,
         checkpoint.GW_TOOLS, checkpoint.ENV),
    Spec("fmc1", "cisco", "fmc", "cisco", cisco.PREFIXES, cisco.FMC_TOOLS),
    Spec("fmc2", "cisco", "fmc-secondary", "cisco", cisco.PREFIXES, cisco.FMC_TOOLS),
    *(Spec(f"ftd{i}", "cisco", "ftd", "cisco", cisco.PREFIXES, cisco.FTD_TOOLS, jump="jump")
      for i in (1, 2, 3)),
    Spec("cos1", "clavister", "cos-stream", "clavister"),
    Spec("sol1", "solaris", "ike-host", "solaris", solaris.PREFIXES, solaris.HOST_TOOLS),
)


@dataclass
class Lab:
    """A running lab: its folder, servers and devices."""

    dir: Path
    scenario: str
    servers: dict[str, LabServer]
    devices: dict[str, Any]
    cmp: Any = None
    restored: bool = False  # brought back as a previous run left it (`keep`)
    _lock: IO[str] | None = None

    @property
    def inventory_path(self) -> Path:
        return self.dir / "inventory.yaml"

    def spec(self, name: str) -> dict[str, Any]:
        """A device's entry in lab.json (role, root, port, uuid)."""
        return json.loads((self.dir / "lab.json").read_text())["devices"][name]

    def root(self, name: str) -> Path:
        """A device's file tree."""
        return self.dir / "devices" / name

    @classmethod
    async def start(cls, dir: Path, scenario: str = "healthy",
                    faults: dict[str, dict[str, Any]] | None = None,
                    keep: bool = False) -> Lab:
        """Build the devices for `scenario`, start them, write the inventory; return the lab.

        With `keep`, a lab this folder already holds for the same scenario is brought back as
        it was left (device state, host keys, client key, ports) instead of built anew, so runs
        started on it can be resumed. Raises ValueError for an unknown scenario and LabError
        when the folder's lab runs in another process or cannot get its ports back.
        """
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
        dir = Path(dir)
        dir.mkdir(parents=True, exist_ok=True)
        lock = _lock(dir)
        try:
            children.reap(dir)  # a previous lab here that was killed left its children
            saved = _saved(dir, scenario) if keep else None
            lab = await (cls._restore(dir, saved, faults) if saved is not None
                         else cls._build(dir, scenario, faults))
        except BaseException:
            lock.close()
            raise
        lab.restored = saved is not None
        lab._lock = lock
        return lab

    @classmethod
    async def _build(cls, dir: Path, scenario: str,
                     faults: dict[str, dict[str, Any]] | None) -> Lab:
        if (dir / "devices").exists():
            shutil.rmtree(dir / "devices")
        specs: dict[str, dict[str, Any]] = {
            s.name: {"name": s.name, "vendor": s.vendor, "role": s.role,
                     "root": str(dir / "devices" / s.name)} for s in SPECS}
        for entry in specs.values():
            Path(entry["root"]).mkdir(parents=True)
        await asyncio.to_thread(checkpoint.build, dir, specs, scenario)
        await asyncio.to_thread(cisco.build, dir, specs, scenario)
        await asyncio.to_thread(solaris.build, dir, specs, scenario)
        cmp_settings = await asyncio.to_thread(clavister.build, dir, specs, scenario)
        client = generate_key()
        key_path = dir / "client_key"
        key_path.write_bytes(client.export_private_key())
        key_path.chmod(0o600)
        keys = dir / "host_keys"
        keys.mkdir(mode=0o700, exist_ok=True)
        host_keys = {}
        for s in SPECS:
            host_keys[s.name] = generate_key()
            path = keys / s.name
            path.write_bytes(host_keys[s.name].export_private_key())
            path.chmod(0o600)
        return await cls._run(dir, scenario, specs, cmp_settings, client, host_keys, faults)

    @classmethod
    async def _restore(cls, dir: Path, saved: dict[str, Any],
                       faults: dict[str, dict[str, Any]] | None) -> Lab:
        specs: dict[str, dict[str, Any]] = saved["devices"]
        client = asyncssh.read_private_key(dir / "client_key")
        host_keys = {s.name: asyncssh.read_private_key(dir / "host_keys" / s.name)
                     for s in SPECS}
        return await cls._run(dir, saved["scenario"], specs, specs["cos1"]["cmp"], client,
                              host_keys, faults, restore=True)

    @classmethod
    async def _run(cls, dir: Path, scenario: str, specs: dict[str, dict[str, Any]],
                   cmp_settings: dict[str, Any], client: asyncssh.SSHKey,
                   host_keys: dict[str, asyncssh.SSHKey],
                   faults: dict[str, dict[str, Any]] | None, restore: bool = False) -> Lab:
        cmp = clavister.CmpServer(cmp_settings, dir) if clavister.CmpServer.available() \
            else None
        if cmp is not None:
            try:
                cmp_settings["port"] = await cmp.start(cmp_settings.get("port", 0)
                                                       if restore else 0)
            except OSError as exc:
                if not restore:
                    raise
                raise LabError(f"cannot bring back the lab in {dir}: {exc}; "
                               + FRESH_HINT) from None
        authorized = client.export_public_key().decode()
        devices: dict[str, Any] = {}
        servers: dict[str, LabServer] = {}
        for s in SPECS:
            root = dir / "devices" / s.name
            fault = Faults.from_dict((faults or {}).get(s.name))
            if s.vendor == "lab":
                devices[s.name] = ShellDevice(root, {"LAB_ROOT": str(dir)})
            elif s.vendor == "clavister":
                devices[s.name] = clavister.CosDevice(root, dir, cmp_settings, fault)
            else:
                devices[s.name] = LabDevice(root, name=s.name, prefixes=s.prefixes,
                                            tools=s.tools, lab_root=dir, extra_env=s.env,
                                            faults=fault, login=LOGIN.get(s.role, "shell"),
                                            protected=cisco.PROTECTED
                                            if s.vendor == "cisco" else ())
            servers[s.name] = LabServer(s.name, devices[s.name], authorized,
                                        sftp_root=root / "files" if s.vendor == "clavister"
                                        else root,
                                        allow_forwarding=s.role == "jump",
                                        readonly=cisco.PROTECTED if s.vendor == "cisco" else (),
                                        port=specs[s.name].get("port", 0) if restore else 0,
                                        host_key=host_keys[s.name])
            if isinstance(devices[s.name], LabDevice):
                devices[s.name].commands = servers[s.name].commands
        started = await asyncio.gather(*(srv.start() for srv in servers.values()),
                                       return_exceptions=True)
        failed = [(name, r) for name, r in zip(servers, started, strict=True)
                  if isinstance(r, BaseException)]
        if failed:
            await asyncio.gather(*(srv.stop() for srv in servers.values()))
            if cmp is not None:
                await cmp.stop()
            name, error = failed[0]
            if not isinstance(error, OSError) or not restore:
                raise error
            raise LabError(f"cannot bring back the lab in {dir}: {name}'s port "
                           f"{servers[name].port}: {error.strerror or error}; " + FRESH_HINT)
        for name, srv in servers.items():
            specs[name]["port"] = srv.port
        (dir / "lab.json").write_text(json.dumps({"scenario": scenario, "devices": specs},
                                                 indent=2))
        (dir / "known_hosts").write_text("".join(s.known_hosts_line() for s in servers.values()))
        lab = cls(dir, scenario, servers, devices, cmp)
        lab.write_inventory(dir / "client_key")
        if restore:
            cos = devices["cos1"]
            if isinstance(cos, clavister.CosDevice):
                cos.resume_revert_timer()
        return lab

    def write_inventory(self, key_path: Path) -> None:
        groups: dict[str, Any] = {}
        for s in SPECS:
            host: dict[str, Any] = {"ansible_host": "127.0.0.1",
                                    "ansible_port": self.servers[s.name].port,
                                    "runbook_role": s.role}
            if s.jump:
                host["runbook_jump"] = s.jump
            spec = self.spec(s.name)
            if spec.get("uuid"):
                host["sf_uuid"] = spec["uuid"]
            if s.vendor == "clavister":
                host["runbook_shell"] = "cli"  # exec runs CLI commands, not a POSIX shell
                host["runbook_access"] = "cli"
            if s.role in ACCESS:
                host["runbook_access"] = ACCESS[s.role]
            if s.vendor == "checkpoint":
                host["runbook_expert_password"] = checkpoint.EXPERT_PASSWORD
            if s.vendor == "cisco":
                host["runbook_sudo_password"] = cisco.ADMIN_PASSWORD
            if spec.get("cmp"):
                host["cmp_server"] = "127.0.0.1"
            host.update(values.host_vars(s.name, spec))  # what procedures ask for, prefilled
            groups.setdefault(s.group, {"hosts": {}})["hosts"][s.name] = host
        self.inventory_path.write_text(
            f"# runbook lab inventory (scenario: {self.scenario}); written by `runbook lab`\n"
            + yaml.safe_dump({"all": {"vars": {
                "ansible_user": "admin", "ansible_ssh_private_key_file": str(key_path),
                "runbook_known_hosts": str(self.dir / "known_hosts")},
                "children": groups}}, sort_keys=False))

    async def stop(self) -> None:
        """Stop every server and close their connections; the folder is free again."""
        await asyncio.gather(*(s.stop() for s in self.servers.values()))
        if self.cmp is not None:
            await self.cmp.stop()
        if self._lock is not None:
            self._lock.close()
            self._lock = None


FRESH_HINT = "`runbook demo --fresh` builds a new lab (runs on the old one cannot be resumed then)"


class LabError(Exception):
    """The lab cannot start in its folder (in use, or its ports are taken)."""


def _lock(dir: Path) -> IO[str]:
    """Hold the folder's lock for the lab's lifetime (released by the kernel if it dies)."""
    fh = open(dir / ".lock", "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "another process"
        fh.close()
        raise LabError(f"the lab in {dir} is in use by {holder}; stop it first") from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"runbook (pid {os.getpid()})")
    fh.flush()
    return fh


def _saved(dir: Path, scenario: str) -> dict[str, Any] | None:
    """The folder's previous lab (lab.json) when it can be brought back for `scenario`."""
    try:
        saved = json.loads((dir / "lab.json").read_text())
    except (OSError, ValueError):
        return None
    devices = saved.get("devices") if isinstance(saved, dict) else None
    if saved.get("scenario") != scenario or not isinstance(devices, dict):
        return None
    for s in SPECS:
        entry = devices.get(s.name)
        if not isinstance(entry, dict) or not entry.get("port") \
                or not (dir / "host_keys" / s.name).is_file() \
                or not (dir / "devices" / s.name).is_dir():
            return None
    if not (dir / "client_key").is_file() or not isinstance(devices["cos1"].get("cmp"), dict):
        return None
    return saved


async def run_lab(dir: Path, scenario: str, ready: Any = None) -> None:
    """Run the lab until cancelled (Ctrl-C); `ready(lab)` is called once it listens."""
    lab = await Lab.start(dir, scenario)
    try:
        if ready is not None:
            ready(lab)
        await asyncio.Event().wait()
    finally:
        await lab.stop()
