"""Secrets audit: run the procedures that take secrets with recognisable values, then look for
them (and their base64 and hex forms) in every byte runbook wrote or showed."""

from __future__ import annotations

import base64
import re

from runbook.lab import checkpoint, clavister

from .helpers import cli, cli_env

SIC_KEY = "SicKey-Audit-7731"
ADMIN_PW = "AdminPw-Audit-9902"
EXPERT_PW = checkpoint.EXPERT_PASSWORD


def forms(secret: str) -> list[str]:
    raw = secret.encode()
    return [secret, base64.b64encode(raw).decode().rstrip("="), raw.hex(), raw.hex().upper()]


async def test_no_secret_anywhere(lab_factory, tmp_path) -> None:
    lab = await lab_factory("gateway-in-cluster")
    cmp = clavister.settings(lab.dir)
    data = tmp_path / "data"
    env = cli_env(data, tmp_path, RB_SIC=SIC_KEY, RB_ADMIN=ADMIN_PW, RB_PSK=cmp["psk"])
    inv = str(lab.inventory_path)
    screens: list[str] = []
    runs = [
        ["run", "checkpoint/resic-gateway", "-i", inv, "-p", "gateway=gw2", "-p",
         "management=mds1", "-p", "gateway_object=gw2", "-p", "domain=Domain1", "--yes",
         "--confirm", "push-cert",
         "--secret-env", "sic_key=RB_SIC", "--secret-env", "admin_password=RB_ADMIN"],
        ["run", "checkpoint/mds-sic-reset", "-i", inv, "-p", "management=mds1", "-p",
         "domain=Domain1", "-p", "domain_ip=192.0.2.10", "--yes",
         "--confirm", "sic-reset",
         "--secret-env", "sic_key=RB_SIC", "--secret-env", "admin_password=RB_ADMIN"],
        ["run", "clavister/cmp-initiate", "-i", inv, "-p", "firewall=cos1", "-p",
         "cmp_fqdn=127.0.0.1", "-p", f"cmp_port={cmp['port'] or 1}", "-p",
         f"reference={cmp['ref']}", "-p", "subject_cn=cos1.lab.example", "--yes",
         "--secret-env", "psk=RB_PSK"],
    ]
    ids, codes = [], []
    for args in runs:
        code, out, err = await cli(args, env)
        codes.append(code)
        screens.append(out + err)
        ids.append(re.search(r"run (\S+):", out).group(1))
        assert code in (0, 1), out + err  # cmp-initiate fails without openssl cmp: still audited
    for run_id in ids:
        for fmt in ("md", "json", "html"):
            code, out, err = await cli(["export", run_id, "--format", fmt, "-o",
                                        str(tmp_path / f"{run_id}.{fmt}")], env)
            assert code == 0, err
        code, out, err = await cli(["show", run_id], env)
        screens.append(out + err)
    rolled = await cli(["rollback", ids[0], "--secret-env", "sic_key=RB_SIC",
                        "--secret-env", "admin_password=RB_ADMIN"], env)
    screens.append(rolled[1] + rolled[2])

    written = [p for p in list(data.rglob("*")) + list(tmp_path.glob("*.*")) if p.is_file()]
    assert any(p.name == "journal.db" for p in written)
    assert any("objects" in p.parts for p in written)  # backups were taken and are scanned
    for secret in (SIC_KEY, ADMIN_PW, cmp["psk"]):
        for form in forms(secret):
            assert all(form not in s for s in screens), form
            for p in written:
                assert form.encode() not in p.read_bytes(), (form, p)
    # They did reach the devices (the re-SIC succeeded: push_cert checks the key against the
    # gateway's), so the test proves redaction rather than absence; they went on stdin, never
    # on a command line.
    assert codes[0] == 0, screens[0]
    for server in lab.servers.values():
        assert not any(s in c for s in (ADMIN_PW, SIC_KEY) for c in server.commands)
