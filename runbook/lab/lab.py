"""The lab: every simulated device started together, with a client key, pinned host keys and an
Ansible-style inventory written for the engine (`runbook lab`, `runbook demo`, the tests)."""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import checkpoint, cisco, clavister, solaris
from .device import Faults, LabDevice
from .server import LabServer, generate_key
from .shell import ShellDevice

SCENARIOS = {
    "healthy": "every device reachable and trusted; the FMC InternalCA has 60 days left",
    "fmc-ca-expired": "the FMC InternalCA expired 5 days ago (tunnels still established)",
    "ftd-tunnel-down": "ftd2's sftunnel is down: generate_certs.pl cannot push to it",
    "fmc-secondary-ca-expired": "only the HA secondary FMC's own InternalCA has expired",
    "gateway-in-cluster": "gw1 active and gw2 standby in a cluster, both trusted",
    "gateway-restarts": "the gateways restart their services on a SIC reset even with norestart",
    "ike-config-broken": "sol1's /etc/inet/ike/config breaks the seed's rules (p1_nonce_len 16)",
}


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
                    faults: dict[str, dict[str, Any]] | None = None) -> Lab:
        """Build the devices for `scenario`, start them, write the inventory; return the lab.

        Raises ValueError for an unknown scenario.
        """
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
        dir = Path(dir)
        if (dir / "devices").exists():
            shutil.rmtree(dir / "devices")
        dir.mkdir(parents=True, exist_ok=True)
        specs: dict[str, dict[str, Any]] = {
            s.name: {"name": s.name, "vendor": s.vendor, "role": s.role,
                     "root": str(dir / "devices" / s.name)} for s in SPECS}
        for entry in specs.values():
            Path(entry["root"]).mkdir(parents=True)
        await asyncio.to_thread(checkpoint.build, dir, specs, scenario)
        await asyncio.to_thread(cisco.build, dir, specs, scenario)
        await asyncio.to_thread(solaris.build, dir, specs, scenario)
        cmp_settings = await asyncio.to_thread(clavister.build, dir, specs, scenario)
        cmp = clavister.CmpServer(cmp_settings) if clavister.CmpServer.available() else None
        if cmp is not None:
            cmp_settings["port"] = await cmp.start()
        client = generate_key()
        key_path = dir / "client_key"
        key_path.write_bytes(client.export_private_key())
        key_path.chmod(0o600)
        authorized = client.export_public_key().decode()
        devices: dict[str, Any] = {}
        servers: dict[str, LabServer] = {}
        for s in SPECS:
            root = dir / "devices" / s.name
            fault = Faults.from_dict((faults or {}).get(s.name))
            if s.vendor == "lab":
                devices[s.name] = ShellDevice(root)
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
                                        readonly=cisco.PROTECTED if s.vendor == "cisco" else ())
            if isinstance(devices[s.name], LabDevice):
                devices[s.name].commands = servers[s.name].commands
        await asyncio.gather(*(srv.start() for srv in servers.values()))
        for name, srv in servers.items():
            specs[name]["port"] = srv.port
        (dir / "lab.json").write_text(json.dumps({"scenario": scenario, "devices": specs},
                                                 indent=2))
        (dir / "known_hosts").write_text("".join(s.known_hosts_line() for s in servers.values()))
        lab = cls(dir, scenario, servers, devices, cmp)
        lab.write_inventory(key_path)
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
                host["cmp_port"] = spec["cmp"].get("port", 0)
            groups.setdefault(s.group, {"hosts": {}})["hosts"][s.name] = host
        self.inventory_path.write_text(
            f"# runbook lab inventory (scenario: {self.scenario}); written by `runbook lab`\n"
            + yaml.safe_dump({"all": {"vars": {
                "ansible_user": "admin", "ansible_ssh_private_key_file": str(key_path),
                "runbook_known_hosts": str(self.dir / "known_hosts")},
                "children": groups}}, sort_keys=False))

    async def stop(self) -> None:
        """Stop every server and close their connections."""
        await asyncio.gather(*(s.stop() for s in self.servers.values()))
        if self.cmp is not None:
            await self.cmp.stop()


async def run_lab(dir: Path, scenario: str, ready: Any = None) -> None:
    """Run the lab until cancelled (Ctrl-C); `ready(lab)` is called once it listens."""
    lab = await Lab.start(dir, scenario)
    try:
        if ready is not None:
            ready(lab)
        await asyncio.Event().wait()
    finally:
        await lab.stop()
