"""The FMC sftunnel CA renewal, end to end on the simulated FMC and FTDs."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from runbook.headless import FlagDecider
from runbook.inventory import Inventory
from runbook.lab import cisco, state
from runbook.lab.pki import load_cert
from runbook.library import resolve
from runbook.loader import load_procedure
from runbook.rollback import rollback

from .helpers import device_exec, engine_for

PROC = resolve("cisco/fmc-sftunnel-ca-renew")


def files(lab, name: str) -> dict[str, str]:
    root = lab.root(name)
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "etc/sf").rglob("*")) + sorted((root / "var/sf").rglob("*"))
            if p.is_file()}


def peer_files(lab, ftd: str) -> Path:
    return cisco.peer_dir(lab.root(ftd), lab.spec("fmc1")["uuid"])


def openssl_verify(ca: Path, cert: Path) -> bool:
    return subprocess.run(["openssl", "verify", "-CAfile", str(ca), str(cert)],
                          capture_output=True).returncode == 0


async def renew(lab, tmp_path, decider=None, params=None):
    engine, journal, rec = engine_for(tmp_path / "data", decider or FlagDecider(yes=True))
    run_id = engine.create(load_procedure(PROC), PROC.read_text(), str(PROC),
                           params or {"fmc": "fmc1"}, {}, Inventory.load(lab.inventory_path))
    return await engine.execute(run_id, {}), engine, journal, run_id, rec


async def test_renewal_with_a_tunnel_down_copies_and_verifies(lab_factory, tmp_path) -> None:
    lab = await lab_factory("ftd-tunnel-down")
    old_ca = tmp_path / "old-ca.pem"
    old_ca.write_bytes((lab.root("fmc1") / "etc/sf/ca_root/cacert.pem").read_bytes())
    before = {n: files(lab, n) for n in ("fmc1", "ftd1", "ftd2", "ftd3")}

    state_, engine, journal, run_id, _ = await renew(lab, tmp_path)

    assert state_ == "succeeded", journal.get_run(run_id).reason
    new_ca = lab.root("fmc1") / "etc/sf/ca_root/cacert.pem"
    assert load_cert(new_ca).serial_number != load_cert(old_ca).serial_number
    for ftd in ("ftd1", "ftd2", "ftd3"):
        cert = peer_files(lab, ftd) / "sftunnel-cert.pem"
        assert openssl_verify(new_ca, cert), ftd  # the real openssl accepts it...
        assert not openssl_verify(old_ca, cert), ftd  # ...and the old CA does not
    latest = journal.latest_attempts(run_id)
    for ftd in ("ftd1", "ftd2", "ftd3"):  # copied to all, then the CA fingerprint compared
        assert latest[("copy-cert", ftd)].status == "succeeded"
        assert latest[("ftd-ca-is-new", ftd)].status == "succeeded"
    assert all(p["established"] for p in state.read(lab.root("fmc1"))["peers"].values())

    assert await rollback(engine, run_id, {}) == "rolled_back"

    assert {n: files(lab, n) for n in before} == before


async def test_expired_ca_is_renewed(lab_factory, tmp_path) -> None:
    lab = await lab_factory("fmc-ca-expired")
    state_, _, journal, run_id, rec = await renew(lab, tmp_path)
    assert state_ == "succeeded", journal.get_run(run_id).reason
    facts = [e.facts for e in rec.of(__import__("runbook.events").events.CertFactsFound)
             if e.step_id == "ca-expiry"]
    assert facts[0]["status"] == "warn" and facts[0]["days_left"] < 0


async def test_critical_operation_stops_before_anything_changes(lab_factory, tmp_path) -> None:
    lab = await lab_factory("healthy")
    with state.change(lab.root("fmc1")) as st:
        st["critical_operation"] = "VDB update task in progress"
    before = files(lab, "fmc1")
    state_, _, journal, run_id, _ = await renew(lab, tmp_path)
    assert state_ == "failed"
    assert journal.get_run(run_id).reason.startswith("step generate on fmc1 failed")
    assert files(lab, "fmc1") == before


async def test_copy_by_hand_brings_a_down_tunnel_back(lab_factory, tmp_path) -> None:
    lab = await lab_factory("ftd-tunnel-down")
    inv = Inventory.load(lab.inventory_path)
    await device_exec(lab.inventory_path, "fmc1", "generate_certs.pl", tmp_path)
    assert cisco.handshake(lab.root("fmc1"), lab.spec("fmc1")["uuid"], lab.spec("ftd2"))
    before = files(lab, "ftd2")
    proc = resolve("cisco/ftd-copy-sftunnel-certs")
    engine, journal, _ = engine_for(tmp_path / "data", FlagDecider(yes=True))
    run_id = engine.create(load_procedure(proc), proc.read_text(), str(proc),
                           {"fmc": "fmc1", "ftd": "ftd2"}, {}, inv)

    assert await engine.execute(run_id, {}) == "succeeded", journal.get_run(run_id).reason

    new_ca = lab.root("fmc1") / "etc/sf/ca_root/cacert.pem"
    assert openssl_verify(new_ca, peer_files(lab, "ftd2") / "sftunnel-cert.pem")
    assert await rollback(engine, run_id, {}) == "rolled_back"
    assert files(lab, "ftd2") == before


async def test_copy_by_hand_refuses_a_tunnel_that_is_up(lab_factory, tmp_path) -> None:
    lab = await lab_factory("ftd-tunnel-down")
    await device_exec(lab.inventory_path, "fmc1", "generate_certs.pl", tmp_path)
    before = files(lab, "ftd1")  # its tunnel was up: the FMC pushed its files
    proc = resolve("cisco/ftd-copy-sftunnel-certs")
    engine, journal, _ = engine_for(tmp_path / "data", FlagDecider(yes=True))
    run_id = engine.create(load_procedure(proc), proc.read_text(), str(proc),
                           {"fmc": "fmc1", "ftd": "ftd1"}, {}, Inventory.load(lab.inventory_path))

    assert await engine.execute(run_id, {}) == "failed"

    assert journal.get_run(run_id).reason.startswith("step tunnel-down on ftd1 failed")
    assert files(lab, "ftd1") == before


async def test_copy_by_hand_asks_before_replacing(lab_factory, tmp_path) -> None:
    lab = await lab_factory("ftd-tunnel-down")
    await device_exec(lab.inventory_path, "fmc1", "generate_certs.pl", tmp_path)
    before = files(lab, "ftd2")
    proc = resolve("cisco/ftd-copy-sftunnel-certs")
    engine, journal, _ = engine_for(tmp_path / "data", FlagDecider())
    run_id = engine.create(load_procedure(proc), proc.read_text(), str(proc),
                           {"fmc": "fmc1", "ftd": "ftd2"}, {}, Inventory.load(lab.inventory_path))

    assert await engine.execute(run_id, {}) == "waiting"
    assert files(lab, "ftd2") == before


async def test_no_per_ftd_ca_file_on_the_fmc(lab_factory) -> None:
    lab = await lab_factory("healthy")
    for ftd in ("ftd1", "ftd2", "ftd3"):
        folder = cisco.peer_dir(lab.root("fmc1"), lab.spec(ftd)["uuid"])
        assert (folder / "sftunnel-cert.pem").exists() and not (folder / "cacert.pem").exists()


async def test_secondary_ca_alone_expired_is_renewed_for_the_ftds(lab_factory, tmp_path) -> None:
    """The document's HA scenario 2: only the secondary's own CA has expired."""
    lab = await lab_factory("fmc-secondary-ca-expired")
    primary_before = files(lab, "fmc1")
    sec = lab.spec("fmc2")["uuid"]
    old = load_cert(lab.root("fmc2") / "etc/sf/ca_root/cacert.pem")
    assert old.not_valid_after_utc < load_cert(
        lab.root("fmc1") / "etc/sf/ca_root/cacert.pem").not_valid_after_utc  # its own expiry

    state_, _, journal, run_id, rec = await renew(
        lab, tmp_path, params={"fmc": "fmc1", "fmc_secondary": "fmc2", "renew": "secondary"})

    assert state_ == "succeeded", journal.get_run(run_id).reason
    assert files(lab, "fmc1") == primary_before  # the primary's CA is left alone
    new_ca = lab.root("fmc2") / "etc/sf/ca_root/cacert.pem"
    assert load_cert(new_ca).serial_number != old.serial_number
    for ftd in ("ftd1", "ftd2", "ftd3"):
        folder = cisco.peer_dir(lab.root(ftd), sec)
        assert openssl_verify(new_ca, folder / "sftunnel-cert.pem"), ftd
        assert cisco.handshake(lab.root("fmc2"), sec, lab.spec(ftd)) is None, ftd
    skipped = [k for k, a in journal.latest_attempts(run_id).items() if k[0] == "generate"]
    assert all(journal.latest_attempts(run_id)[k].status == "skipped" for k in skipped)


async def test_without_the_hotfix_nothing_changes(lab_factory, tmp_path) -> None:
    lab = await lab_factory("healthy")
    (lab.root("fmc1") / ".lab/bin/generate_certs.pl").unlink()  # no hotfix: no script
    before = files(lab, "fmc1")
    state_, _, journal, run_id, _ = await renew(lab, tmp_path)
    assert state_ == "failed"
    assert journal.get_run(run_id).reason.startswith("step hotfix on fmc1 failed")
    assert files(lab, "fmc1") == before


async def test_secondary_with_its_tunnel_down_gets_the_primary_files_by_hand(lab_factory,
                                                                             tmp_path) -> None:
    """The document's HA scenario 1: the secondary is a peer of the primary; when its tunnel is
    down, generate_certs.pl cannot push to it and the files are copied by hand."""
    lab = await lab_factory("fmc-ca-expired")
    with state.change(lab.root("fmc1")) as st:
        st["peers"]["fmc2"]["established"] = False
    primary = lab.spec("fmc1")["uuid"]

    state_, engine, journal, run_id, _ = await renew(
        lab, tmp_path, params={"fmc": "fmc1", "fmc_secondary": "fmc2"})

    assert state_ == "succeeded", journal.get_run(run_id).reason
    new_ca = lab.root("fmc1") / "etc/sf/ca_root/cacert.pem"
    assert openssl_verify(new_ca, cisco.peer_dir(lab.root("fmc2"), primary) / "sftunnel-cert.pem")
    assert cisco.handshake(lab.root("fmc1"), primary, lab.spec("fmc2")) is None
    assert journal.latest_attempts(run_id)[("copy-secondary-cert", "fmc2")].status == "succeeded"
