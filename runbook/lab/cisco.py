"""Simulated Cisco FMC (primary and HA secondary) and FTDs: sftunnel certificates and tools.

Files follow the FMC sftunnel document: the InternalCA under /etc/sf/ca_root, the FMC's own
tunnel certificate under /etc/sf/keys, one folder per peer under /var/sf/peers/<UUID>, and on
each FTD the FMC's folder under /var/sf/peers/<FMC-UUID>. Whether a tunnel comes up is computed
from the certificates themselves (mutual TLS: each side checks the other's chain and dates).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from . import pki, state
from .toolcontext import ToolContext

PREFIXES = ("/etc/sf", "/var/sf", "/var/log/sf", "/ngfw")
PROTECTED = ("/etc/sf", "/var/sf")  # root-owned on FMC and FTD: admin may read, not write
ADMIN_PASSWORD = "lab-admin-Passw0rd"  # `sudo su` on the FMC and FTDs (a lab secret)
FMC_TOOLS = ("generate_certs.pl", "sftunnel_status.pl")
FTD_TOOLS = ("sftunnel-status-brief",)
CA_DAYS = 3650

# Output wording. Each entry says where it comes from; where no document shows the output, it is
# UNCONFIRMED and deliberately unlike anything a procedure could guess ("lab:" prefix), so that
# a procedure must check state (exit status, certificates, files), never these words.
MSG = {
    "critical": "lab: sfca/9 blocked ({op}) [unconfirmed output]",  # UNCONFIRMED
    "ca": "lab: sfca/9 ca#{serial} [unconfirmed output]",  # UNCONFIRMED
    "push_ok": "lab: sfca/9 {peer} +  [unconfirmed output]",  # UNCONFIRMED
    "push_fail": "lab: sfca/9 {peer} -  [unconfirmed output]",  # UNCONFIRMED
    "log": "lab: sfca/9 see /var/log/sf/sfca_generation.log [unconfirmed output]",  # UNCONFIRMED
    "status_up": "lab: sftunnel/2 {peer} 1 [unconfirmed output]",  # UNCONFIRMED
    "status_down": "lab: sftunnel/2 {peer} 0 {why} [unconfirmed output]",  # UNCONFIRMED
    # Cisco cdFMC troubleshooting, sftunnel-status-brief (VENDOR-NOTES [C]); the IP is the FMC's
    "brief_up_a": "Peer channel Channel-A is valid type (CONTROL), using 'eth0', "
                  "connected to '{ip}'",
    "brief_up_b": "Peer channel Channel-B is valid type (EVENT), using 'eth0', "
                  "connected to '{ip}'",
    "brief_down": "Last disconnect reason : Both control and event channel connections with "
                  "peer went down",
}
FMC_IPS = {"fmc1": "192.0.2.31", "fmc2": "192.0.2.32"}


def ca_name(fmc_uuid: str) -> x509.Name:
    return pki.name(fmc_uuid, o="Sourcefire, Inc.", ou="Intrusion Management System")


def peer_name(peer_uuid: str) -> x509.Name:
    return pki.name(peer_uuid, o="Sourcefire, Inc.", ou="Intrusion Management System")


def peer_dir(root: Path, peer_uuid: str) -> Path:
    return root / "var/sf/peers" / peer_uuid


def issue_ca(root: Path, fmc_uuid: str, *, age_days: int = 0) -> tuple[Any, x509.Certificate]:
    """Write a new InternalCA (and its index, serial, CRL) into an FMC tree."""
    key, cert = pki.make_ca(ca_name(fmc_uuid), CA_DAYS, age_days)
    ca = root / "etc/sf/ca_root"
    pki.write(ca / "cacert.pem", pki.cert_pem(cert))
    pki.write(ca / "cakey.pem", pki.key_pem(key), 0o600)
    pki.write(ca / "serial", b"01\n")
    pki.write(ca / "index.txt", b"")
    pki.write(ca / "crl.pem", pki.crl_pem(key, cert))
    return key, cert


def issue_fmc_cert(root: Path, fmc_uuid: str, ca_key: Any, ca: x509.Certificate,
                   age_days: int = 0) -> None:
    key, cert = pki.make_leaf(ca_key, ca, peer_name(fmc_uuid), CA_DAYS, age_days)
    pki.write(root / "etc/sf/keys/sftunnel-cert.pem", pki.cert_pem(cert))
    pki.write(root / "etc/sf/keys/sftunnel-key.pem", pki.key_pem(key), 0o600)
    _index(root, cert)


def _index(root: Path, cert: x509.Certificate) -> None:
    index = root / "etc/sf/ca_root/index.txt"
    stamp = cert.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
    with open(index, "a") as fh:
        fh.write(f"V\t{stamp}\t\t{cert.serial_number:X}\tunknown\t"
                 f"{cert.subject.rfc4514_string()}\n")


def issue_peer(fmc_root: Path, peer: dict[str, Any], ca_key: Any, ca: x509.Certificate,
               age_days: int = 0) -> None:
    """Make a peer's certificate on the FMC (under /var/sf/peers/<UUID>)."""
    key, cert = pki.make_leaf(ca_key, ca, peer_name(peer["uuid"]), CA_DAYS, age_days)
    d = peer_dir(fmc_root, peer["uuid"])
    pki.write(d / "sftunnel-cert.pem", pki.cert_pem(cert))
    pki.write(d / "sftunnel-key.pem", pki.key_pem(key), 0o600)
    # No per-peer cacert.pem on the FMC: the document names only the certificate and key under
    # /var/sf/peers/<UUID> there; the CA is /etc/sf/ca_root/cacert.pem (proxy_cacert).
    pki.write(d / "sftunnel.json", json.dumps({"uuid": peer["uuid"], "name": peer["name"],
                                               "port": 8305}).encode())
    _index(fmc_root, cert)


def push(fmc_root: Path, fmc_uuid: str, peer: dict[str, Any]) -> None:
    """Copy a peer's files from the FMC to the peer (what an up tunnel carries)."""
    src = peer_dir(fmc_root, peer["uuid"])
    dst = peer_dir(Path(peer["root"]), fmc_uuid)
    pki.write(dst / "cacert.pem", (fmc_root / "etc/sf/ca_root/cacert.pem").read_bytes())
    for name, mode in (("sftunnel-cert.pem", 0o644), ("sftunnel-key.pem", 0o600)):
        pki.write(dst / name, (src / name).read_bytes(), mode)
    pki.write(dst / "sftunnel.json", json.dumps({"uuid": fmc_uuid, "port": 8305}).encode())


def build(lab_root: Path, devices: dict[str, dict[str, Any]], scenario: str) -> None:
    """Create the FMC pair and the FTDs for a scenario (trees and state)."""
    fmc = devices["fmc1"]
    fmc2 = devices["fmc2"]
    ftds = [d for d in devices.values() if d["role"] == "ftd"]
    age = {"fmc-ca-expired": CA_DAYS + 5}.get(scenario, CA_DAYS - 60)
    for dev in (fmc, fmc2, *ftds):
        dev["uuid"] = str(uuid.uuid4())
    for f in (fmc, fmc2):
        root = Path(f["root"])
        pki.write(root / "etc/sf/sftunnel.conf", SFTUNNEL_CONF.encode())
        (root / "var/log/sf").mkdir(parents=True, exist_ok=True)
    root = Path(fmc["root"])
    ca_key, ca = issue_ca(root, fmc["uuid"], age_days=age)
    issue_fmc_cert(root, fmc["uuid"], ca_key, ca, age)
    # The secondary has its own InternalCA, made later than the primary's (a different expiry,
    # the document's FMC HA section), and its own peers: the FTDs, under its own UUID.
    age2 = CA_DAYS + 3 if scenario == "fmc-secondary-ca-expired" else 400
    root2 = Path(fmc2["root"])
    ca2_key, ca2 = issue_ca(root2, fmc2["uuid"], age_days=age2)
    issue_fmc_cert(root2, fmc2["uuid"], ca2_key, ca2, age2)
    for p in ftds:
        issue_peer(root2, p, ca2_key, ca2, age2)
        push(root2, fmc2["uuid"], p)
    with state.change(root2) as st:
        st["peers"] = {p["name"]: {"uuid": p["uuid"], "established": True} for p in ftds}
        st["critical_operation"] = None
    peers = [fmc2, *ftds]
    for p in peers:
        issue_peer(root, p, ca_key, ca, age)
        push(root, fmc["uuid"], p)
    down = {"ftd-tunnel-down": "ftd2"}.get(scenario)
    if down:  # its files are from a CA it no longer shares with the FMC: handshakes fail
        old_key, old_ca = pki.make_ca(ca_name(fmc["uuid"]), CA_DAYS, 30)
        key, cert = pki.make_leaf(old_key, old_ca, peer_name(devices[down]["uuid"]))
        d = peer_dir(Path(devices[down]["root"]), fmc["uuid"])
        pki.write(d / "cacert.pem", pki.cert_pem(old_ca))
        pki.write(d / "sftunnel-cert.pem", pki.cert_pem(cert))
        pki.write(d / "sftunnel-key.pem", pki.key_pem(key), 0o600)
    with state.change(root) as st:
        st["peers"] = {p["name"]: {"uuid": p["uuid"], "established": p["name"] != down}
                       for p in peers}
        st["critical_operation"] = None


SFTUNNEL_CONF = """proxyssl {
    proxy_cert /etc/sf/keys/sftunnel-cert.pem;
    proxy_key /etc/sf/keys/sftunnel-key.pem;
    proxy_cacert /etc/sf/ca_root/cacert.pem;
    proxy_crl /etc/sf/ca_root/crl.pem;
    proxy_cipher 1;
    proxy_tls_version TLSv1.2;
};
"""


def _verify(cert: x509.Certificate, ca: x509.Certificate, now: dt.datetime) -> str | None:
    """None when `cert` is signed by `ca` and both are in date, else why not (OpenSSL words)."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return "certificate verify failed (unable to get local issuer certificate)"
    for c in (ca, cert):
        if now > c.not_valid_after_utc:
            return "certificate has expired"
        if now < c.not_valid_before_utc:
            return "certificate is not yet valid"
    return None


def handshake(fmc_root: Path, fmc_uuid: str, peer: dict[str, Any]) -> str | None:
    """Whether the mutual-TLS sftunnel between the FMC and a peer would come up (None: yes)."""
    now = dt.datetime.now(dt.UTC)
    d = peer_dir(Path(peer["root"]), fmc_uuid)
    try:
        fmc_ca = pki.load_cert(fmc_root / "etc/sf/ca_root/cacert.pem")
        fmc_cert = pki.load_cert(fmc_root / "etc/sf/keys/sftunnel-cert.pem")
        peer_ca = pki.load_cert(d / "cacert.pem")
        peer_cert = pki.load_cert(d / "sftunnel-cert.pem")
        pki.load_key(d / "sftunnel-key.pem")
    except (OSError, ValueError):
        return "certificate files missing or unreadable"
    return _verify(peer_cert, fmc_ca, now) or _verify(fmc_cert, peer_ca, now)


def _peers(ctx: ToolContext) -> list[dict[str, Any]]:
    st = state.read(ctx.root)
    out = []
    for name, info in st.get("peers", {}).items():
        out.append({**ctx.spec(name), "name": name, "uuid": info["uuid"],
                    "established": info["established"]})
    return out


def generate_certs(ctx: ToolContext, args: list[str]) -> int:
    """generate_certs.pl: new InternalCA and peer certs, pushed over tunnels that are up."""
    st = state.read(ctx.root)
    log = ctx.root / "var/log/sf/sfca_generation.log"
    if st.get("critical_operation"):  # the seed: it refuses while a critical operation runs
        ctx.out(MSG["critical"].format(op=st["critical_operation"]))
        return 1
    me = ctx.spec()
    ca_key, ca = issue_ca(ctx.root, me["uuid"])
    ctx.out(MSG["ca"].format(serial=f"{ca.serial_number:x}"[:6]))
    issue_fmc_cert(ctx.root, me["uuid"], ca_key, ca)
    failed = []
    lines = []
    for p in _peers(ctx):
        issue_peer(ctx.root, p, ca_key, ca)
        if p["established"]:
            push(ctx.root, me["uuid"], p)
            lines.append(MSG["push_ok"].format(peer=p["name"], uuid=p["uuid"]))
        else:
            failed.append(p["name"])
            lines.append(MSG["push_fail"].format(peer=p["name"], uuid=p["uuid"]))
    for line in lines:
        ctx.out(line)
    ctx.out(MSG["log"])
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as fh:
        fh.write("\n".join([*lines, *(["failed: " + ", ".join(failed)] if failed else [])])
                 + "\n")
    return 0


def sftunnel_status(ctx: ToolContext, args: list[str]) -> int:
    """sftunnel_status.pl: per-peer channel state, from whether the certificates verify."""
    me = ctx.spec()
    with state.change(ctx.root) as st:
        for p in _peers(ctx):
            why = handshake(ctx.root, me["uuid"], p)
            st["peers"][p["name"]]["established"] = why is None
            ctx.out(MSG["status_up"].format(peer=p["name"]) if why is None
                    else MSG["status_down"].format(peer=p["name"], why=why))
    return 0


def sftunnel_status_brief(ctx: ToolContext, args: list[str]) -> int:
    """sftunnel-status-brief on an FTD: its channel to the managing FMC."""
    me = {**ctx.spec(), "name": ctx.name}
    for fmc in ctx.lab["devices"].values():
        if fmc["role"] not in ("fmc", "fmc-secondary"):
            continue
        if not peer_dir(ctx.root, fmc["uuid"]).exists():
            continue
        why = handshake(Path(fmc["root"]), fmc["uuid"], me)
        with state.change(Path(fmc["root"])) as st:  # a tunnel is up (or down) for both ends
            if ctx.name in st.get("peers", {}):
                st["peers"][ctx.name]["established"] = why is None
        ip = FMC_IPS.get(fmc["name"], "192.0.2.30")
        ctx.out(f"lab: PEER {ip} [unconfirmed output]")
        if why is None:
            ctx.out(MSG["brief_up_a"].format(ip=ip))
            ctx.out(MSG["brief_up_b"].format(ip=ip))
        else:
            ctx.out(MSG["brief_down"])
    return 0


TOOLS = {"generate_certs.pl": generate_certs, "sftunnel_status.pl": sftunnel_status,
         "sftunnel-status-brief": sftunnel_status_brief}
