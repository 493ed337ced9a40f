"""Replace a Solaris host's IKE certificate on the simulated host; in.iked follows on restart."""

from __future__ import annotations

import hashlib

from cryptography import x509

from runbook.headless import FlagDecider
from runbook.inventory import Inventory
from runbook.lab import solaris, state
from runbook.library import resolve
from runbook.loader import load_procedure
from runbook.rollback import rollback

from .helpers import engine_for

PROC = resolve("solaris/ike-cert-replace")
NEW = "C=US, O=Lab, CN=sol1-2027"


def tree(lab) -> dict[str, str]:
    root = lab.root("sol1")
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "etc/inet").rglob("*")) if p.is_file()}


async def replace(lab, tmp_path):
    engine, journal, rec = engine_for(tmp_path / "data", FlagDecider(yes=True))
    run_id = engine.create(load_procedure(PROC), PROC.read_text(), str(PROC),
                           {"host": "sol1", "new_dn": NEW, "signer": "lab"}, {},
                           Inventory.load(lab.inventory_path))
    return await engine.execute(run_id, {}), engine, journal, run_id, rec


async def test_new_certificate_is_imported_configured_and_loaded(lab_factory, tmp_path) -> None:
    lab = await lab_factory("healthy")
    before, old = tree(lab), solaris.loaded(lab.root("sol1"))

    final, engine, journal, run_id, rec = await replace(lab, tmp_path)

    assert final == "succeeded", journal.get_run(run_id).reason
    root = lab.root("sol1")
    assert solaris.loaded(root)["subject"] == NEW  # in.iked restarted onto the new one
    slots = sorted((root / solaris.PUB).iterdir())
    newest = x509.load_pem_x509_certificate(slots[-1].read_bytes())
    assert solaris.dn(newest.subject) == NEW and solaris.dn(newest.issuer) == \
        "C=US, O=Lab, CN=Lab IKE CA"
    config = (root / solaris.CONFIG).read_text()
    assert f'local_id "{NEW}"' in config and "p1_nonce_len 20" in config
    # The document: cert_trust and cert_root hold the root CA's DN, and MDM does not touch it.
    assert 'cert_trust "C=US, O=Lab, CN=Lab IKE CA"' in config
    assert 'cert_root "C=US, O=Lab, CN=Lab IKE CA"' in config
    assert state.read(root)["iked"]["priv"] == 2
    # The old certificate (slot 0) and its key are gone once the new one is loaded.
    assert not (root / solaris.PUB / "0").exists() and not (root / solaris.PRIV / "0").exists()
    assert journal.captures(run_id)["old_local"] == "C=US, O=Lab, CN=sol1"

    assert await rollback(engine, run_id, {}) == "rolled_back"

    assert tree(lab) == before
    assert solaris.loaded(root) == old  # restarted after the files were restored


async def test_broken_config_is_caught_before_in_iked_restarts(lab_factory, tmp_path) -> None:
    lab = await lab_factory("ike-config-broken")
    old = solaris.loaded(lab.root("sol1"))

    final, _, journal, run_id, _ = await replace(lab, tmp_path)

    assert final == "failed"
    assert journal.get_run(run_id).reason.startswith("step rules-before on sol1 failed:")
    assert ("restart", "sol1") not in journal.latest_attempts(run_id)
    assert solaris.loaded(lab.root("sol1")) == old  # still running the old certificate
    assert state.read(lab.root("sol1"))["iked"]["running"]


async def test_certdb_listing_and_syntax_check_over_ssh(lab_factory, tmp_path) -> None:
    from runbook.hostkeys import HostKeyStore
    from runbook.transport import Transport

    lab = await lab_factory("healthy")
    transport = Transport(Inventory.load(lab.inventory_path), HostKeyStore(tmp_path))
    out: list[str] = []
    try:
        r = await transport.exec("sol1", "ikecert certdb -l", timeout=30,
                                 on_line=lambda s, line: out.append(line))
        assert r.exit_status == 0
        assert "Certificate Slot Name: 0   Key Type: ec" in out
        assert "\t(Private key in certlocal slot 0)" in out
        assert "\tSubject Name: <C=US, O=Lab, CN=sol1>" in out
        out.clear()
        r = await transport.exec("sol1", "sed -i 's/p1_nonce_len 20/p1_nonce_len 8/' "
                                 "/etc/inet/ike/config", timeout=30,
                                 on_line=lambda s, line: out.append(line))
        assert r.exit_status == 2  # Solaris sed has no -i
        assert out[0] == "sed: illegal option -- i"
        out.clear()
        r = await transport.exec("sol1", "F=/etc/inet/ike/config; sed 's/p1_nonce_len 20/"
                                 "p1_nonce_len 8/' $F > $F.new && cat $F.new > $F; "
                                 "/usr/lib/inet/in.iked -c -f $F", timeout=30,
                                 on_line=lambda s, line: out.append(line))
        assert r.exit_status == 1
        assert out == ["in.iked: Error: p1_nonce_len 8 is not allowed here (must be 20)"]
        out.clear()
        r = await transport.exec("sol1", "grep 'p1_nonce_len\\|cert_trust' /etc/inet/ike/config",
                                 timeout=30, on_line=lambda s, line: out.append(line))
        assert (r.exit_status, out) == (1, [])  # `\\|` is no alternation on Solaris
        for gnu in ("grep -P 'nonce' /etc/inet/ike/config", "readlink -f /etc/inet/ike/config"):
            out.clear()
            r = await transport.exec("sol1", gnu, timeout=30,
                                     on_line=lambda s, line: out.append(line))
            assert r.exit_status == 2 and "illegal option" in out[0], gnu
        out.clear()
        await transport.exec("sol1", "pkill in.iked; ikeadm get priv", timeout=30,
                             on_line=lambda s, line: out.append(line))
        assert out == ["ikeadm: Unable to communicate with in.iked"]
    finally:
        await transport.close()
