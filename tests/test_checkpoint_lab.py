"""Re-SIC a Check Point gateway without losing state, end to end on the simulated devices."""

from __future__ import annotations

from runbook.headless import FlagDecider
from runbook.inventory import Inventory
from runbook.lab import checkpoint, state
from runbook.library import resolve
from runbook.loader import load_procedure
from runbook.rollback import rollback

from .helpers import approve_all, engine_for

PROC = resolve("checkpoint/resic-gateway")
SECRETS = {"sic_key": "abc123-one-time", "admin_password": "Adm1n-pw!"}


async def resic(lab, tmp_path, gateway: str = "gw2"):
    engine, journal, rec = engine_for(tmp_path / "data", approve_all())
    params = {"gateway": gateway, "management": "mds1", "gateway_object": gateway,
              "domain": "Domain1"}
    run_id = engine.create(load_procedure(PROC), PROC.read_text(), str(PROC), params, SECRETS,
                           Inventory.load(lab.inventory_path))
    return await engine.execute(run_id, SECRETS), engine, journal, run_id


async def test_resic_keeps_the_policy_and_establishes_trust(lab_factory, tmp_path) -> None:
    lab = await lab_factory("gateway-in-cluster")
    gw = lab.root("gw2")
    cert_before = checkpoint.cert_digest(gw)

    final, _, journal, run_id = await resic(lab, tmp_path)

    assert final == "succeeded", journal.get_run(run_id).reason
    assert checkpoint.trust(gw) == checkpoint.ESTABLISHED
    assert checkpoint.cert_digest(gw) != cert_before  # new SIC keys
    st = state.read(gw)
    assert st["policy"] == "Standard" and st["cpd"] == "E" and st["pending_key"] is None
    assert journal.captures(run_id)["policy"] == "Standard"
    assert checkpoint.trust(lab.root("gw1")) == checkpoint.ESTABLISHED  # the other member


async def test_restart_without_norestart_is_caught_before_trust(lab_factory, tmp_path) -> None:
    lab = await lab_factory("gateway-restarts")
    gw = lab.root("gw2")
    cert_before = (checkpoint.sic_cert(gw)).read_bytes()

    final, engine, journal, run_id = await resic(lab, tmp_path)

    assert final == "failed"
    assert journal.get_run(run_id).reason.startswith(
        "step policy-unchanged on gw2 failed: output matched forbidden pattern 'InitialPolicy'")
    latest = journal.latest_attempts(run_id)
    assert ("push-cert", "mds1") not in latest  # trust was never re-established
    assert checkpoint.trust(gw) == checkpoint.NOT_ESTABLISHED

    assert await rollback(engine, run_id, SECRETS) == "rolled_back"

    assert checkpoint.sic_cert(gw).read_bytes() == cert_before
    assert checkpoint.trust(gw) == checkpoint.ESTABLISHED  # the management still trusts it
    assert state.read(gw)["cpd"] == "E"


async def test_push_cert_with_another_key_is_refused(lab_factory, tmp_path) -> None:
    from runbook.hostkeys import HostKeyStore
    from runbook.transport import Transport

    lab = await lab_factory("healthy")
    transport = Transport(Inventory.load(lab.inventory_path), HostKeyStore(tmp_path))
    out: list[str] = []
    try:
        r = await transport.exec("gw1", "cp_conf sic init key-one norestart", timeout=30,
                                 on_line=lambda s, line: out.append(line))
        assert r.exit_status == 0
        r = await transport.exec("mds1", "mdsenv Domain1 && push_cert -s Domain1 -u admin -p x "
                                 "-o gw1 -k key-two", timeout=30,
                                 on_line=lambda s, line: out.append(line))
    finally:
        await transport.close()
    assert r.exit_status == 1
    assert "push_cert: SIC activation key mismatch for gw1" in out
    assert checkpoint.trust(lab.root("gw1")) == checkpoint.NOT_ESTABLISHED


async def test_domain_ca_reset_then_every_gateway_re_sic(lab_factory, tmp_path) -> None:
    lab = await lab_factory("gateway-in-cluster")
    proc_path = resolve("checkpoint/mds-sic-reset")
    engine, journal, _ = engine_for(tmp_path / "data", approve_all())
    secrets = {"sic_key": "new-one-time-key", "admin_password": "Adm1n-pw!"}
    run_id = engine.create(load_procedure(proc_path), proc_path.read_text(), str(proc_path),
                           {"management": "mds1", "domain": "Domain1",
                            "domain_ip": "192.0.2.10"}, secrets,
                           Inventory.load(lab.inventory_path))

    assert await engine.execute(run_id, secrets) == "succeeded", journal.get_run(run_id).reason

    assert state.read(lab.root("mds1"))["domains"]["Domain1"] == {
        "ip": "192.0.2.10", "ca_serial": 2, "ca_running": True}
    for gw in ("gw1", "gw2"):
        assert checkpoint.trust(lab.root(gw)) == checkpoint.ESTABLISHED
        assert state.read(lab.root(gw))["policy"] == "Standard"


CLISH = """
id: test.clish
title: Read SIC state through clish and expert mode
vendor: checkpoint
source: {document: tests}
risk: low
params:
  gw: {type: target}
  expert_password: {type: secret}
steps:
  - id: state
    title: Trust state from Expert mode
    kind: cli
    target: gw
    prompt: "(gw1> |\\\\[Expert@gw1:0\\\\]# )$"
    lines: [expert, cp_conf sic state, exit]
    answers: {"Enter expert password: $": "{{ expert_password }}"}
    errors: ["Wrong password", "CLINFR"]
    expect: {match: ["^Trust State: Trust established"]}
"""


async def test_cli_step_switches_from_clish_to_expert(lab_factory, tmp_path) -> None:
    from .helpers import write_procedure

    lab = await lab_factory("healthy")
    path = write_procedure(tmp_path, CLISH)
    secrets = {"expert_password": checkpoint.EXPERT_PASSWORD}
    engine, journal, rec = engine_for(tmp_path / "data", FlagDecider())
    run_id = engine.create(load_procedure(path), path.read_text(), str(path), {"gw": "gw1"},
                           secrets, Inventory.load(lab.inventory_path))

    assert await engine.execute(run_id, secrets) == "succeeded", journal.get_run(run_id).reason

    assert "Trust State: Trust established" in rec.lines("state")
    assert not any(checkpoint.EXPERT_PASSWORD in line for line in rec.lines())

    wrong = {"expert_password": "not-the-password"}
    run2 = engine.create(load_procedure(path), path.read_text(), str(path), {"gw": "gw1"},
                         wrong, Inventory.load(lab.inventory_path))
    assert await engine.execute(run2, wrong) == "failed"
    assert journal.get_run(run2).reason.endswith("on gw1: Wrong password.")
