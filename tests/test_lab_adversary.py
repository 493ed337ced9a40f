"""The lab as an adversary: today's mistakes (GNU tools on Solaris, invented wording, hard-coded
paths, wrong push_cert arguments, files no document shows) fail on it, one test per class."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbook.inventory import Inventory
from runbook.lab import checkpoint, clavister, pki, solaris, state
from runbook.library import resolve
from runbook.loader import load_procedure

from .helpers import approve_all, device_exec, engine_for

MISTAKES = Path(__file__).parent / "procedures" / "mistakes"


async def run(lab, tmp_path, path: Path, params: dict[str, str], secrets=None):
    engine, journal, rec = engine_for(tmp_path / "data", approve_all())
    run_id = engine.create(load_procedure(path), path.read_text(), str(path), params,
                           secrets or {}, Inventory.load(lab.inventory_path))
    final = await engine.execute(run_id, secrets or {})
    return final, journal.get_run(run_id).reason, rec


async def test_gnu_sed_in_place_fails_on_solaris(lab_factory, tmp_path) -> None:
    lab = await lab_factory("healthy")
    before = (lab.root("sol1") / solaris.CONFIG).read_bytes()
    final, reason, rec = await run(lab, tmp_path, MISTAKES / "solaris-sed-i.yaml",
                                   {"host": "sol1"})
    assert final == "failed" and reason.startswith("step edit on sol1 failed")
    assert "sed: illegal option -- i" in rec.lines("edit")  # what Solaris sed says
    assert (lab.root("sol1") / solaris.CONFIG).read_bytes() == before


async def test_gnu_grep_alternation_finds_nothing_on_solaris(lab_factory, tmp_path) -> None:
    lab = await lab_factory("healthy")
    final, reason, rec = await run(lab, tmp_path, MISTAKES / "solaris-grep-alternation.yaml",
                                   {"host": "sol1"})
    assert final == "failed" and "exit status 1" in reason  # `\|` is a plain `|` there
    assert not [line for line in rec.lines("show") if "cert_trust" in line]


async def test_cert_trust_set_to_the_host_dn_stops_in_iked(lab_factory, tmp_path) -> None:
    lab = await lab_factory("healthy")
    final, reason, _ = await run(lab, tmp_path, MISTAKES / "solaris-cert-trust-host-dn.yaml",
                                 {"host": "sol1"})
    assert final == "failed" and reason.startswith("step restart on sol1 failed")
    assert not state.read(lab.root("sol1"))["iked"]["running"]


@pytest.mark.parametrize(("name", "scenario", "host", "step"), [
    ("cisco-invented-wording.yaml", "healthy", "ftd1", "tunnel"),
    ("cisco-invented-generate-wording.yaml", "healthy", "fmc1", "generate"),
    ("checkpoint-invented-wording.yaml", "healthy", "mds1", "sic-reset"),
])
async def test_an_expect_on_invented_wording_fails(lab_factory, tmp_path, name, scenario, host,
                                                   step) -> None:
    lab = await lab_factory(scenario)
    final, reason, _ = await run(lab, tmp_path, MISTAKES / name, {"host": host})
    assert final == "failed"
    assert reason.startswith(f"step {step} on {host} failed: output did not match")


async def test_a_per_ftd_ca_file_on_the_fmc_does_not_exist(lab_factory, tmp_path) -> None:
    lab = await lab_factory("ftd-tunnel-down")
    final, reason, _ = await run(lab, tmp_path, MISTAKES / "cisco-per-ftd-cacert.yaml",
                                 {"host": "fmc1", "ftd": "ftd2"})
    assert final == "failed" and reason.startswith("step copy-cacert on ftd2 failed")


async def test_a_hard_coded_version_path_fails(lab_factory, tmp_path) -> None:
    lab = await lab_factory("healthy")
    final, reason, _ = await run(lab, tmp_path, MISTAKES / "checkpoint-hard-coded-cpdir.yaml",
                                 {"host": "gw1"})
    assert final == "failed" and reason.startswith("step sic-cert on gw1 failed")
    code, lines = await device_exec(lab.inventory_path, "gw1", "fw ver", tmp_path)
    assert (code, lines) == (0, [checkpoint.MSG["fw_ver"]])  # the version the paths follow
    assert checkpoint.CPDIR == "/opt/CPshrd-R81.20" and checkpoint.sic_cert(lab.root("gw1"))\
        .exists()


async def test_push_cert_with_names_instead_of_ip_and_object_fails(lab_factory,
                                                                   tmp_path) -> None:
    lab = await lab_factory("healthy")
    await device_exec(lab.inventory_path, "gw1", "cp_conf sic init lab-key-1 norestart",
                      tmp_path)
    final, reason, _ = await run(lab, tmp_path, MISTAKES / "checkpoint-push-cert-names.yaml",
                                 {"host": "mds1"})
    assert final == "failed" and "push_cert/5 -s Domain1 unreachable" in reason
    assert checkpoint.trust(lab.root("gw1")) == checkpoint.NOT_ESTABLISHED
    code, _ = await device_exec(lab.inventory_path, "mds1", "mdsenv Domain1 && push_cert -s "
                                "192.0.2.10 -u admin -p lab-pw -o GW-Cluster-Member-A -k "
                                "lab-key-1", tmp_path)
    assert code == 0 and checkpoint.trust(lab.root("gw1")) == checkpoint.ESTABLISHED


async def test_re_sic_of_the_active_member_is_refused(lab_factory, tmp_path) -> None:
    lab = await lab_factory("gateway-in-cluster")
    cert = checkpoint.sic_cert(lab.root("gw1")).read_bytes()
    params = {"gateway": "gw1", "management": "mds1", "gateway_object": checkpoint.OBJECTS["gw1"],
              "domain": "Domain1", "cma_ip": "192.0.2.10"}
    secrets = {"sic_key": "abc123-one-time", "admin_password": "Adm1n-pw!"}
    final, reason, _ = await run(lab, tmp_path, resolve("checkpoint/resic-gateway"), params,
                                 secrets)
    assert final == "failed" and reason.startswith("step member-state on gw1 failed: output "
                                                   "matched forbidden pattern")
    assert checkpoint.sic_cert(lab.root("gw1")).read_bytes() == cert
    # The operator may decide otherwise, explicitly.
    final, reason, _ = await run(lab, tmp_path / "again", resolve("checkpoint/resic-gateway"),
                                 {**params, "allow_active": "true"}, secrets)
    assert final == "succeeded", reason


async def test_standby_first_then_fail_over(lab_factory, tmp_path) -> None:
    lab = await lab_factory("gateway-in-cluster")
    params = {"gateway": "gw2", "management": "mds1", "gateway_object": checkpoint.OBJECTS["gw2"],
              "domain": "Domain1", "cma_ip": "192.0.2.10", "peer": "gw1"}
    secrets = {"sic_key": "abc123-one-time", "admin_password": "Adm1n-pw!"}
    final, reason, _ = await run(lab, tmp_path, resolve("checkpoint/resic-gateway"), params,
                                 secrets)
    assert final == "succeeded", reason
    assert state.read(lab.root("gw2"))["member"] == "active"
    assert state.read(lab.root("gw1"))["member"] == "down"
    # Now the peer is no longer active: its own re-SIC passes the member check.
    final, reason, _ = await run(lab, tmp_path / "peer", resolve("checkpoint/resic-gateway"),
                                 {**params, "gateway": "gw1", "peer": "gw2",
                                  "gateway_object": checkpoint.OBJECTS["gw1"]}, secrets)
    assert final == "succeeded", reason


async def test_cmp_update_refuses_an_expired_certificate(lab_factory, tmp_path) -> None:
    lab = await lab_factory("healthy")
    d = Path(clavister.settings(lab.dir)["dir"])
    key, cert = pki.make_leaf(pki.load_key(d / "ca.key"), pki.load_cert(d / "ca.crt"),
                              pki.name("cos1.lab.example", o="lab"), 365, 400)
    files = lab.root("cos1") / "files"
    from cryptography.hazmat.primitives.serialization import Encoding
    pki.write(files / "cl_newcert.der", cert.public_bytes(Encoding.DER))
    pki.write(files / "cl_newkey.pem", pki.key_pem(key), 0o600)
    before = state.read(lab.root("cos1"))
    final, reason, _ = await run(lab, tmp_path, resolve("clavister/cmp-update"),
                                 {"firewall": "cos1"})
    assert final == "failed" and reason.startswith("step current on cos1 failed")
    assert "expired" in reason
    assert state.read(lab.root("cos1")) == before
    assert (files / "cl_newcert.der").read_bytes() == cert.public_bytes(Encoding.DER)
