"""The copy step moves a file between two devices through this machine and a jump host."""

from __future__ import annotations

import hashlib

import yaml

from runbook.headless import FlagDecider
from runbook.inventory import Inventory
from runbook.lab.server import LabServer, generate_key
from runbook.lab.shell import ShellDevice
from runbook.loader import load_procedure

from .helpers import engine_for, write_procedure

COPY = """
id: test.copy
title: Copy a certificate
vendor: test
source: {document: tests}
risk: medium
params:
  src: {type: target}
  dst: {type: target}
steps:
  - id: copy-cert
    title: Copy the certificate
    kind: copy
    from: {target: src, path: certs/cert.pem}
    target: dst
    path: peer/cert.pem
"""


async def test_copy_through_a_jump_host_keeps_bytes_and_mode(tmp_path) -> None:
    client = generate_key()
    (tmp_path / "client_key").write_bytes(client.export_private_key())
    (tmp_path / "client_key").chmod(0o600)
    authorized = client.export_public_key().decode()
    servers = {}
    for name in ("jump", "src", "dst"):
        root = tmp_path / name
        (root / "certs").mkdir(parents=True)
        (root / "peer").mkdir()
        servers[name] = await LabServer(name, ShellDevice(root), authorized, sftp_root=root,
                                        allow_forwarding=name == "jump").start()
    try:
        data = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
        (tmp_path / "src/certs/cert.pem").write_bytes(data)
        (tmp_path / "src/certs/cert.pem").chmod(0o640)
        (tmp_path / "dst/peer/cert.pem").write_bytes(b"old")
        (tmp_path / "known_hosts").write_text("".join(s.known_hosts_line()
                                                      for s in servers.values()))
        hosts = {n: {"ansible_host": "127.0.0.1", "ansible_port": s.port}
                 for n, s in servers.items()}
        hosts["src"]["runbook_jump"] = "jump"
        hosts["dst"]["runbook_jump"] = "jump"
        inv_path = tmp_path / "inventory.yaml"
        inv_path.write_text(yaml.safe_dump({"all": {"vars": {
            "ansible_user": "admin",
            "ansible_ssh_private_key_file": str(tmp_path / "client_key"),
            "runbook_known_hosts": str(tmp_path / "known_hosts")}, "hosts": hosts}}))
        path = write_procedure(tmp_path, COPY)
        engine, journal, _ = engine_for(tmp_path / "data", FlagDecider())
        run_id = engine.create(load_procedure(path), path.read_text(), str(path),
                               {"src": "src", "dst": "dst"}, {}, Inventory.load(inv_path))

        assert await engine.execute(run_id, {}) == "succeeded"

        copied = tmp_path / "dst/peer/cert.pem"
        assert copied.read_bytes() == data
        assert copied.stat().st_mode & 0o777 == 0o640
        (backup,) = journal.backups(run_id)
        assert backup.path == "peer/cert.pem" and backup.sha256 == hashlib.sha256(
            b"old").hexdigest()
        # Both devices were only reached through the jump host.
        assert servers["src"].connections == 1 and servers["dst"].connections == 1
        assert servers["jump"].connections == 1
    finally:
        for s in servers.values():
            await s.stop()


