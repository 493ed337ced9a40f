"""Every lab procedure, SIGKILLed at every step in turn and resumed, ends as if uninterrupted."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import Awaitable, Callable

import pytest
from cryptography import x509

from runbook.engine import critical
from runbook.lab import checkpoint, cisco, clavister, state
from runbook.library import resolve
from runbook.loader import load_procedure

from .helpers import cli, cli_env, device_exec


def resic_done(lab) -> None:
    gw = lab.root("gw2")
    assert checkpoint.trust(gw) == checkpoint.ESTABLISHED
    assert state.read(gw)["policy"] == "Standard" and state.read(gw)["cpd"] == "E"


def mds_done(lab) -> None:
    assert state.read(lab.root("mds1"))["domains"]["Domain1"]["ca_serial"] >= 2
    for gw in ("gw1", "gw2"):
        assert checkpoint.trust(lab.root(gw)) == checkpoint.ESTABLISHED
        assert state.read(lab.root(gw))["policy"] == "Standard"


def fmc_done(lab) -> None:
    fmc = lab.spec("fmc1")
    for peer in ("ftd1", "ftd2", "ftd3", "fmc2"):
        assert cisco.handshake(lab.root("fmc1"), fmc["uuid"], lab.spec(peer)) is None, peer


def sol_done(lab) -> None:
    from runbook.lab import solaris
    assert solaris.loaded(lab.root("sol1"))["subject"] == "C=US, O=Lab, CN=sol1-2027"
    assert state.read(lab.root("sol1"))["iked"]["priv"] == 2


def cos_done(lab) -> None:
    st = state.read(lab.root("cos1"))
    assert st["active"]["Certificate:cmp/clcert"]["CertificateData"] == "file://cl_newcert.der"
    assert st["activated"] is None


def cos_renewed(lab) -> None:
    cos_done(lab)
    cert = (lab.root("cos1") / "files/cl_newcert.der").read_bytes()
    assert cert != (lab.dir / "enrolled.der").read_bytes()  # a new certificate, bound
    assert x509.load_der_x509_certificate(cert).issuer.rfc4514_string() == \
        clavister.settings(lab.dir)["ca_subject"]


def cos_revoked(lab) -> None:
    assert state.read(lab.root("cos1"))["revoked"] == ["cmp/clcert"]  # once, not twice


def ftd_copied(lab) -> None:
    fmc = lab.spec("fmc1")
    assert cisco.handshake(lab.root("fmc1"), fmc["uuid"], lab.spec("ftd2")) is None


def cmp_params(lab) -> list[str]:
    cmp = clavister.settings(lab.dir)
    return ["firewall=cos1", "cmp_fqdn=127.0.0.1", f"cmp_port={cmp['port']}",
            f"reference={cmp['ref']}", "subject_cn=cos1.lab.example"]


async def enrolled(lab, env: dict[str, str]) -> None:
    """cmp-update and cmp-revoke need a certificate enrolled first."""
    code, out, err = await cli(["run", "clavister/cmp-initiate", "-i", str(lab.inventory_path),
                                "--yes", "--secret-env", "psk=RB_PSK",
                                *[a for p in cmp_params(lab) for a in ("-p", p)]], env)
    assert code == 0, out + err
    (lab.dir / "enrolled.der").write_bytes((lab.root("cos1") / "files/cl_newcert.der")
                                           .read_bytes())


async def generated(lab, env: dict[str, str]) -> None:
    """Copying by hand follows generate_certs.pl, which could not push to ftd2."""
    _, lines = await device_exec(lab.inventory_path, "fmc1", "generate_certs.pl",
                                 lab.dir / "keys")
    assert "Certificates could not be pushed to: ftd2" in lines


PREPARE: dict[str, Callable[[object, dict[str, str]], Awaitable[None]]] = {
    "clavister/cmp-update": enrolled, "clavister/cmp-revoke": enrolled,
    "cisco/ftd-copy-sftunnel-certs": generated}
# The in-doubt choice an engineer makes: rerun, except for a revocation, which is verified
# first (revoking twice is refused by the CA) and rerun only if it did not happen.
CHOICES = {"clavister/cmp-revoke": ["verify", "rerun"]}


CASES: dict[str, tuple[str, str, Callable[[object], list[str]], Callable[[object], None]]] = {
    "checkpoint/resic-gateway": (
        "gateway-in-cluster", "sic_key=RB_S1,admin_password=RB_S2",
        lambda lab: ["gateway=gw2", "management=mds1", "gateway_object=gw2",
                     "domain=Domain1"], resic_done),
    "checkpoint/mds-sic-reset": (
        "gateway-in-cluster", "sic_key=RB_S1,admin_password=RB_S2",
        lambda lab: ["management=mds1", "domain=Domain1", "domain_ip=192.0.2.10"], mds_done),
    "cisco/fmc-sftunnel-ca-renew": (
        "ftd-tunnel-down", "", lambda lab: ["fmc=fmc1", "fmc_secondary=fmc2"], fmc_done),
    "solaris/ike-cert-replace": (
        "healthy", "", lambda lab: ["host=sol1", "new_dn=C=US, O=Lab, CN=sol1-2027",
                                    "signer=lab"], sol_done),
    "clavister/cmp-initiate": (
        "healthy", "psk=RB_PSK",
        lambda lab: ["firewall=cos1", "cmp_fqdn=127.0.0.1",
                     f"cmp_port={clavister.settings(lab.dir)['port']}",
                     f"reference={clavister.settings(lab.dir)['ref']}",
                     "subject_cn=cos1.lab.example"], cos_done),
    "clavister/cmp-update": ("healthy", "", lambda lab: ["firewall=cos1"], cos_renewed),
    "clavister/cmp-revoke": ("healthy", "", lambda lab: ["firewall=cos1"], cos_revoked),
    "cisco/ftd-copy-sftunnel-certs": ("ftd-tunnel-down", "",
                                      lambda lab: ["fmc=fmc1", "ftd=ftd2"], ftd_copied),
}
def critical_confirms(name: str) -> list[str]:
    """`--confirm STEP` for the steps `--yes` does not cover (they cannot be undone)."""
    proc = load_procedure(resolve(name))
    return [a for s in proc.steps if s.confirm and critical(proc, s) for a in ("--confirm", s.id)]


POINTS = [(name, step.id) for name in CASES for step in load_procedure(resolve(name)).steps]


@pytest.mark.parametrize(("name", "step"), POINTS, ids=[f"{n}:{s}" for n, s in POINTS])
async def test_killed_at_step_then_resumed(lab_factory, tmp_path, name, step) -> None:
    scenario, secrets, params, done = CASES[name]
    lab = await lab_factory(scenario)
    if name.startswith("clavister") and not clavister.settings(lab.dir).get("port"):
        pytest.skip("this openssl has no `cmp` command")
    env = cli_env(tmp_path / "data", tmp_path, RB_S1="one-time-key-1", RB_S2="Adm1n-pw!",
                  RB_PSK=clavister.settings(lab.dir)["psk"])
    secret_args = [a for pair in secrets.split(",") if pair for a in ("--secret-env", pair)]
    if name in PREPARE:
        await PREPARE[name](lab, env)
    args = ["run", name, "-i", str(lab.inventory_path), "--yes", *critical_confirms(name),
            *secret_args,
            *[a for p in params(lab) for a in ("-p", p)]]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runbook", *args, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    run_id, seen = None, []
    async with asyncio.timeout(120):
        while line := (await proc.stdout.readline()).decode():
            seen.append(line)
            if m := re.search(r"run (\S+):", line):
                run_id = run_id or m.group(1)
            if re.match(rf"-- {re.escape(step)}\b", line):  # the step has started
                proc.send_signal(signal.SIGKILL)
                break
    await proc.wait()
    assert run_id, "".join(seen)
    code, out, err = None, "", ""
    for choice in CHOICES.get(name, ["rerun"] * 3):
        code, out, err = await cli(["resume", run_id, "--in-doubt", choice, "--yes",
                                    *critical_confirms(name), *secret_args], env)
        if code != 4:
            break
    assert code == 0, out + err
    done(lab)
