"""cOS Stream over CMP: the prompt-driven CLI, real CMP against OpenSSL's mock server."""

from __future__ import annotations

import asyncio

import pytest
from cryptography import x509

from runbook.errors import CliTimeout
from runbook.hostkeys import HostKeyStore
from runbook.inventory import Inventory
from runbook.lab import clavister, state
from runbook.library import resolve
from runbook.loader import load_procedure
from runbook.promptsession import CliSession
from runbook.transport import Transport

from .helpers import approve_all, engine_for

PROC = resolve("clavister/cmp-initiate")
PROMPT = r"System:/\S*> $"


async def enrol(lab, tmp_path, psk: str):
    cmp = clavister.settings(lab.dir)
    engine, journal, rec = engine_for(tmp_path / "data", approve_all())
    params = {"firewall": "cos1", "cmp_fqdn": "127.0.0.1", "cmp_port": str(cmp["port"]),
              "reference": cmp["ref"], "subject_cn": "cos1.lab.example"}
    run_id = engine.create(load_procedure(PROC), PROC.read_text(), str(PROC), params,
                           {"psk": psk}, Inventory.load(lab.inventory_path))
    return await engine.execute(run_id, {"psk": psk}), journal, run_id, rec


async def test_initiate_over_real_cmp_binds_and_commits(lab_factory, tmp_path) -> None:
    lab = await lab_factory("healthy")
    cmp = clavister.settings(lab.dir)
    if not cmp.get("port"):
        pytest.skip("this openssl has no `cmp` command")

    final, journal, run_id, rec = await enrol(lab, tmp_path, cmp["psk"])

    assert final == "succeeded", journal.get_run(run_id).reason
    st = state.read(lab.root("cos1"))
    assert st["active"]["Certificate:cmp/clcert"]["CertificateData"] == "file://cl_newcert.der"
    assert st["activated"] is None  # committed: nothing will revert
    der = (lab.root("cos1") / "files/cl_newcert.der").read_bytes()
    cert = x509.load_der_x509_certificate(der)
    assert cert.issuer.rfc4514_string() == cmp["ca_subject"]
    assert cert.subject.rfc4514_string() == "CN=cos1.lab.example,O=lab"
    assert all(cmp["psk"] not in line for line in rec.lines())  # typed, but never shown


async def test_wrong_psk_fails_initiate_with_the_cmp_error(lab_factory, tmp_path) -> None:
    lab = await lab_factory("healthy")
    if not clavister.settings(lab.dir).get("port"):
        pytest.skip("this openssl has no `cmp` command")
    final, journal, run_id, _ = await enrol(lab, tmp_path, "not-the-psk")
    assert final == "failed"
    reason = journal.get_run(run_id).reason
    assert reason == ("step initiate on cos1 failed: `certmgr -clientcert=cmp/clcert -initiate "
                      "-username=lab-ref-4711 -password=******** -subject=\"CN=cos1.lab.example"
                      "\"` on cos1: CMP error: wrong pbm value")
    attempt = journal.latest_attempts(run_id)[("initiate", "cos1")]
    assert "CMP error: wrong pbm value" in journal.output(attempt.id)
    assert "Certificate:cmp/clcert" not in state.read(lab.root("cos1"))["active"]


async def test_activate_without_commit_reverts(lab_factory, tmp_path) -> None:
    lab = await lab_factory("healthy")
    with state.change(lab.root("cos1")) as st:
        st["revert_seconds"] = 0.2
    transport = Transport(Inventory.load(lab.inventory_path), HostKeyStore(tmp_path))
    try:
        session = await CliSession.open(transport, "cos1", PROMPT, 10)
        assert await session.send("add CMPServer s1 CACert=cmp/cacert FQDN=x Port=1", 10) == []
        out = await session.send("activate", 10)
        assert out == [clavister.MSG["activated"].format(secs=0.2)]
        assert "CMPServer:s1" in state.read(lab.root("cos1"))["active"]
        await session.close()
        async with asyncio.timeout(10):
            while state.read(lab.root("cos1")).get("activated") is not None:
                await asyncio.sleep(0.05)  # the device's own revert timer: no event to wait on
        assert "CMPServer:s1" not in state.read(lab.root("cos1"))["active"]
        assert "CMPServer:s1" not in state.read(lab.root("cos1"))["staged"]
    finally:
        await transport.close()


async def test_missing_prompt_times_out_with_a_clear_message(lab_factory, tmp_path) -> None:
    lab = await lab_factory("healthy", faults={"cos1": {"no_prompt": True}})
    transport = Transport(Inventory.load(lab.inventory_path), HostKeyStore(tmp_path))
    try:
        with pytest.raises(CliTimeout) as info:
            await CliSession.open(transport, "cos1", PROMPT, 0.5)
        assert str(info.value) == ("cos1: no prompt matching 'System:/\\\\S*> $' within 0.5 s "
                                   "while waiting for the first prompt; last output: (nothing)")
    finally:
        await transport.close()


async def test_update_then_revoke(lab_factory, tmp_path) -> None:
    lab = await lab_factory("healthy")
    cmp = clavister.settings(lab.dir)
    if not cmp.get("port"):
        pytest.skip("this openssl has no `cmp` command")
    assert (await enrol(lab, tmp_path, cmp["psk"]))[0] == "succeeded"
    first = (lab.root("cos1") / "files/cl_newcert.der").read_bytes()
    inv = Inventory.load(lab.inventory_path)
    for name in ("clavister/cmp-update", "clavister/cmp-revoke"):
        proc = resolve(name)
        engine, journal, _ = engine_for(tmp_path / "data", approve_all())
        run_id = engine.create(load_procedure(proc), proc.read_text(), str(proc),
                               {"firewall": "cos1"}, {}, inv)
        assert await engine.execute(run_id, {}) == "succeeded", journal.get_run(run_id).reason
        if name.endswith("update"):
            renewed = (lab.root("cos1") / "files/cl_newcert.der").read_bytes()
            assert renewed != first
            assert x509.load_der_x509_certificate(renewed).issuer.rfc4514_string() == \
                cmp["ca_subject"]
    assert state.read(lab.root("cos1"))["revoked"] == ["cmp/clcert"]
