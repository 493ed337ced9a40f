"""Rolling back the cOS CMP and Check Point procedures: the state before, or a refusal that
changes nothing where the document says a step cannot be undone."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from runbook.errors import RollbackRefused
from runbook.export.plan import build_plan
from runbook.export.render import render
from runbook.inventory import Inventory
from runbook.lab import checkpoint, clavister, state
from runbook.library import resolve
from runbook.loader import load_procedure, procedure_hash
from runbook.rollback import rollback

from .helpers import approve_all, engine_for


def device(root: Path) -> dict[str, Any]:
    """Everything that makes up a lab device's state: its state file and every file's hash."""
    return {"state": state.read(root),
            "files": {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                      for p in sorted(root.rglob("*")) if p.is_file()
                      and p.name not in ("state.json", "events.log", "commands.log")}}


async def run(lab, tmp_path, name: str, params: dict[str, str], secrets: dict[str, str]):
    proc = resolve(name)
    engine, journal, _ = engine_for(tmp_path / "data", approve_all())
    run_id = engine.create(load_procedure(proc), proc.read_text(), str(proc), params, secrets,
                           Inventory.load(lab.inventory_path))
    return await engine.execute(run_id, secrets), engine, journal, run_id


def cmp_params(lab) -> dict[str, str]:
    cmp = clavister.settings(lab.dir)
    return {"firewall": "cos1", "cmp_fqdn": "127.0.0.1", "cmp_port": str(cmp["port"]),
            "reference": cmp["ref"], "subject_cn": "cos1.lab.example"}


async def revoked(lab, tmp_path):
    """Enrol a certificate, then revoke it; returns the revoke run's (engine, journal, id)."""
    psk = clavister.settings(lab.dir)["psk"]
    assert (await run(lab, tmp_path / "a", "clavister/cmp-initiate", cmp_params(lab),
                      {"psk": psk}))[0] == "succeeded"
    final, engine, journal, run_id = await run(lab, tmp_path / "b", "clavister/cmp-revoke",
                                               {"firewall": "cos1"}, {})
    assert final == "succeeded", journal.get_run(run_id).reason
    return engine, journal, run_id


@pytest.fixture
async def cos_lab(lab_factory):
    lab = await lab_factory("healthy")
    if not clavister.settings(lab.dir).get("port"):
        pytest.skip("this openssl has no `cmp` command")
    return lab


@pytest.mark.parametrize("psk", ["right", "wrong"])
async def test_initiate_rolls_back_to_the_configuration_and_files_before(cos_lab, tmp_path,
                                                                         psk) -> None:
    root = cos_lab.root("cos1")
    before = device(root)
    key = clavister.settings(cos_lab.dir)["psk"] if psk == "right" else "not-the-psk"
    final, engine, journal, run_id = await run(cos_lab, tmp_path, "clavister/cmp-initiate",
                                               cmp_params(cos_lab), {"psk": key})
    assert final == ("succeeded" if psk == "right" else "failed"), journal.get_run(run_id).reason
    if psk == "right":
        assert "Certificate:cmp/clcert" in state.read(root)["active"]
        assert (root / "files/cl_newkey.pem").exists()

    assert await rollback(engine, run_id, {"psk": key}) == "rolled_back"

    assert device(root) == before  # objects deleted, committed, received files removed


async def test_update_rolls_back_to_the_previous_certificate(cos_lab, tmp_path) -> None:
    root = cos_lab.root("cos1")
    psk = clavister.settings(cos_lab.dir)["psk"]
    assert (await run(cos_lab, tmp_path / "a", "clavister/cmp-initiate", cmp_params(cos_lab),
                      {"psk": psk}))[0] == "succeeded"
    before = device(root)
    final, engine, journal, run_id = await run(cos_lab, tmp_path / "b", "clavister/cmp-update",
                                               {"firewall": "cos1"}, {})
    assert final == "succeeded", journal.get_run(run_id).reason
    assert device(root)["files"]["files/cl_newcert.der"] != before["files"]["files/cl_newcert.der"]

    assert await rollback(engine, run_id, {}) == "rolled_back"

    assert device(root) == before
    assert (root / "files/cl_newkey.pem").stat().st_mode & 0o777 == 0o600
    # The object holds what was bound: the restored files were bound again, not only put back.
    bound = state.read(root)["active"]["Certificate:cmp/clcert"]["Loaded"]
    assert bound == hashlib.sha256((root / "files/cl_newcert.der").read_bytes()).hexdigest()[:16]


async def test_revoke_cannot_be_rolled_back_and_nothing_changes(cos_lab, tmp_path) -> None:
    root = cos_lab.root("cos1")
    engine, journal, run_id = await revoked(cos_lab, tmp_path)
    after = device(root)

    with pytest.raises(RollbackRefused) as info:
        await rollback(engine, run_id, {})

    assert str(info.value) == (
        "step revoke (on cos1) cannot be undone: The CA has revoked the certificate and nothing "
        "un-revokes it. Enrol a new certificate (cmp-initiate) instead. Nothing was restored. "
        "No step after it needs undoing.")
    assert device(root) == after and after["state"]["revoked"] == ["cmp/clcert"]
    assert journal.get_run(run_id).state == "succeeded"


async def test_resic_after_trust_is_not_undone(lab_factory, tmp_path) -> None:
    lab = await lab_factory("gateway-in-cluster")
    secrets = {"sic_key": "abc123-one-time", "admin_password": "Adm1n-pw!"}
    params = {"gateway": "gw2", "management": "mds1", "gateway_object": "GW-Cluster-Member-B",
              "domain": "Domain1", "cma_ip": "192.0.2.10"}
    final, engine, journal, run_id = await run(lab, tmp_path, "checkpoint/resic-gateway",
                                               params, secrets)
    assert final == "succeeded", journal.get_run(run_id).reason
    gw, mds = device(lab.root("gw2")), device(lab.root("mds1"))

    with pytest.raises(RollbackRefused) as info:
        await rollback(engine, run_id, secrets)

    assert str(info.value).startswith(
        "step push-cert (on mds1) cannot be undone: The management now trusts the gateway's new "
        "SIC certificate, not the old one: restoring the old certificate would break trust. To "
        "undo, re-SIC the gateway again. Nothing was restored.")
    assert (device(lab.root("gw2")), device(lab.root("mds1"))) == (gw, mds)
    assert checkpoint.trust(lab.root("gw2")) == checkpoint.ESTABLISHED
    assert not [b for b in journal.backups(run_id) if b.restored_at is not None]


async def test_domain_ca_reset_after_the_reset_is_not_undone(lab_factory, tmp_path) -> None:
    lab = await lab_factory("gateway-in-cluster")
    secrets = {"sic_key": "new-one-time-key", "admin_password": "Adm1n-pw!"}
    final, engine, journal, run_id = await run(
        lab, tmp_path, "checkpoint/mds-sic-reset",
        {"management": "mds1", "domain": "Domain1", "domain_ip": "192.0.2.10",
         "gateway_objects": "GW-Cluster-Member-A GW-Cluster-Member-B"}, secrets)
    assert final == "succeeded", journal.get_run(run_id).reason
    devices = {n: device(lab.root(n)) for n in ("mds1", "gw1", "gw2")}

    with pytest.raises(RollbackRefused) as info:
        await rollback(engine, run_id, secrets)

    # The latest step that cannot be undone is push-certs; nothing after it needs undoing, and
    # no step whose undoing would restore certificates of the destroyed CA is offered.
    assert str(info.value).startswith("step push-certs (on mds1) cannot be undone: The gateway's "
                                      "previous SIC certificate was issued by the Internal CA")
    assert str(info.value).endswith("No step after it needs undoing.")
    assert "--to" not in str(info.value)
    for target in ("gateway-reset", "cpd-restart", "push-certs"):
        with pytest.raises(RollbackRefused):
            await rollback(engine, run_id, secrets, to_step=target)
    assert {n: device(lab.root(n)) for n in devices} == devices
    # The domain's CA files were saved before `fwm sic_reset` replaced them.
    saved = {Path(b.path).name: b for b in journal.backups(run_id) if b.step_id == "backup-ca"}
    assert set(saved) == {"InternalCA.db", "InternalCA.NDB"}
    ica = lab.root("mds1") / checkpoint.ica_dir("Domain1").lstrip("/")
    assert hashlib.sha256((ica / "InternalCA.db").read_bytes()).hexdigest() != \
        saved["InternalCA.db"].sha256


async def test_the_backout_plan_says_what_cannot_be_undone(lab_factory) -> None:
    lab = await lab_factory("healthy")
    path = resolve("checkpoint/resic-gateway")
    params = {"gateway": "gw2", "management": "mds1", "gateway_object": "GW-Cluster-Member-B",
              "domain": "Domain1", "cma_ip": "192.0.2.10"}
    plan = build_plan(load_procedure(path), procedure_hash(path.read_text()), str(path), params,
                      Inventory.load(lab.inventory_path))
    text = render(plan, "md")
    assert ("- `push-cert`: **cannot be undone**: The management now trusts the gateway's new "
            "SIC certificate") in text
    assert text.index("cannot be undone") > text.index("## Backout plan")


async def test_revoke_in_doubt_is_not_verified_by_invented_wording() -> None:
    """No document shows what the firewall prints about a revocation: a revocation in doubt is
    checked at the CA by the engineer, not by matching words the lab made up."""
    step = load_procedure(resolve("clavister/cmp-revoke")).step("revoke")
    assert step.verify is None and not step.verify_match and not step.expect.match
