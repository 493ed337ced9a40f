"""Simulated Check Point Multi-Domain Server and cluster gateways: SIC state and its commands.

Follows the re-SIC seed: `cp_conf sic init KEY norestart` resets the gateway's SIC keys and
leaves its policy loaded; without `norestart` (or when the gateway restarts before trust is
back) it loads InitialPolicy. Trust is established only when the management side initialises
with the same one-time key (`push_cert ... -k KEY`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from . import pki, state
from .toolcontext import ToolContext

VERSION = "R81.20"  # what `fw ver` reports; the install paths follow it
CPDIR = f"/opt/CPshrd-{VERSION}"
FWDIR = f"/opt/CPsuite-{VERSION}/fw1"
MDSDIR = f"/opt/CPmds-{VERSION}"
PREFIXES = (CPDIR, FWDIR, MDSDIR)
GW_TOOLS = ("cp_conf", "cpwd_admin", "fw", "cpstat", "cphaprob", "clusterXL_admin")
MDS_TOOLS = ("fw", "mdsenv", "mdsstat", "fwm", "mdsconfig", "push_cert", "cpca_client")
ENV = {"CPDIR": CPDIR, "FWDIR": FWDIR, "MDSDIR": MDSDIR}
# SmartConsole object names differ from host names, as they usually do: `push_cert -o` takes
# the object name, so a procedure that passes the inventory name fails here.
OBJECTS = {"gw1": "GW-Cluster-Member-A", "gw2": "GW-Cluster-Member-B"}

# Output wording. Each entry says where it comes from: a seed, a public vendor document named
# by title, or UNCONFIRMED. Unconfirmed output is deliberately unlike anything a procedure
# could guess ("lab:" prefix, odd wording), so that a procedure must check state instead.
ESTABLISHED = "Trust established"  # VENDOR-NOTES [C]
NOT_ESTABLISHED = "Initialized but trust not established"  # VENDOR-NOTES [C, API wording]
MSG = {
    "sic_state": "Trust State: {trust}",  # VENDOR-NOTES [C]
    "fw_ver": f"This is Check Point's software version {VERSION} - Build 012",  # CLI Ref., fw ver
    "sic_reset": "lab: cp_conf/7 sic keys rotated [unconfirmed output]",  # UNCONFIRMED
    "restart": "lab: cp_conf/7 cpstop;cpstart [unconfirmed output]",  # UNCONFIRMED
    "norestart": "lab: cp_conf/7 (no services touched) [unconfirmed output]",  # UNCONFIRMED
    "cpd_started": "cpwd_admin:\nProcess CPD started successfully",  # VENDOR-NOTES [C]
    "cpd_alive": "cpwd_admin:\nCPD is alive",  # VENDOR-NOTES [C] (already running)
    "cpd_stopped": "lab: cpwd_admin/3 CPD down [unconfirmed output]",  # UNCONFIRMED
    "push_ok": "lab: push_cert/5 {obj} ok [unconfirmed output]",  # UNCONFIRMED
    "push_mismatch": "lab: push_cert/5 {obj} key#2 [unconfirmed output]",  # UNCONFIRMED
    "push_no_cpd": "lab: push_cert/5 {obj} 18211 closed [unconfirmed output]",  # UNCONFIRMED
    "push_no_ca": "lab: push_cert/5 ICA of {cma} stopped [unconfirmed output]",  # UNCONFIRMED
    "sic_reset_mgmt": "lab: fwm/2 ICA {cma} regenerated [unconfirmed output]",  # UNCONFIRMED
    "ca_started": "lab: mdsconfig/4 ICA {cma} {ip} up [unconfirmed output]",  # UNCONFIRMED
    # Check Point Quantum Spark CLI Reference Guide, "Viewing Cluster State" (cphaprob state)
    "ha_head": "Cluster Mode:   High Availability (Active Up)\n\nSync Mode:   Optimized Sync\n\n"
               "ID         Unique Address  Assigned Load   State\n",
    "ha_line": "{id:<10} {addr:<15} {load:<15} {state}",
    "ha_none": "lab: cphaprob/1 no cluster [unconfirmed output]",  # UNCONFIRMED
}


def ica_dir(domain: str) -> str:
    """A domain's $FWDIR/conf on a Multi-Domain Server (where its Internal CA files live)."""
    return f"{MDSDIR}/customers/{domain}/CPsuite-{VERSION}/fw1/conf"


def write_sic_cert(root: Path, cn: str) -> None:
    """A real PKCS#12 SIC certificate (key protected by a lab passphrase)."""
    ca_key, ca = pki.make_ca(pki.name("ICA", o="lab"), 3650)
    key, cert = pki.make_leaf(ca_key, ca, pki.name(cn, o="lab"), 1825)
    data = pkcs12.serialize_key_and_certificates(cn.encode(), key, cert, [ca],
                                                 BestAvailableEncryption(b"lab"))
    pki.write(sic_cert(root), data, 0o600)


def sic_cert(root: Path) -> Path:
    """The gateway's SIC certificate file."""
    return root / CPDIR.lstrip("/") / "conf/sic_cert.p12"


def cert_digest(root: Path) -> str:
    """sha256 of the gateway's SIC certificate: what the management side trusts."""
    return hashlib.sha256(sic_cert(root).read_bytes()).hexdigest()


def trust(root: Path) -> str:
    """The trust state: established while the management trusts the certificate in place."""
    return ESTABLISHED if state.read(root).get("mgmt_trusts") == cert_digest(root) \
        else NOT_ESTABLISHED


def build(lab_root: Path, devices: dict[str, dict[str, Any]], scenario: str) -> None:
    """Create the MDS and the two cluster members."""
    mds = devices["mds1"]
    with state.change(Path(mds["root"])) as st:
        st["domains"] = {"Domain1": {"ip": "192.0.2.10", "ca_serial": 1, "ca_running": True}}
        st["current_domain"] = None
    ica = Path(mds["root"]) / ica_dir("Domain1").lstrip("/")
    pki.write(ica / "InternalCA.db", b"lab ICA database, serial 1\n", 0o600)
    pki.write(ica / "InternalCA.NDB", b"lab ICA keys, serial 1\n", 0o600)
    mds_bin = Path(mds["root"]) / MDSDIR.lstrip("/") / "bin"
    mds_bin.mkdir(parents=True, exist_ok=True)
    pki.write(mds_bin / "mdsconfig", b'#!/bin/sh\nexec mdsconfig "$@"\n', 0o755)
    for name in ("gw1", "gw2"):
        gw = devices[name]
        root = Path(gw["root"])
        write_sic_cert(root, name)
        (root / FWDIR.lstrip("/") / "conf").mkdir(parents=True, exist_ok=True)
        pki.write(root / FWDIR.lstrip("/") / "conf/InternalCA.db", b"lab ICA database\n")
        with state.change(root) as st:
            st.update(mgmt_trusts=cert_digest(root), pending_key=None, policy="Standard",
                  clustered=scenario == "gateway-in-cluster",
                      policy_date="20Nov2026 22:14:05", cpd="E", cpd_pid=random.randint(2000,
                                                                                        9000),
                      domain="Domain1", restart_on_reset=scenario == "gateway-restarts",
                      member="standby" if name == "gw2" else "active")


def _gw(ctx: ToolContext, name: str | None = None) -> Path:
    return ctx.device(name) if name else ctx.root


def cp_conf(ctx: ToolContext, args: list[str]) -> int:
    """cp_conf sic state | cp_conf sic init KEY [norestart]."""
    if args[:2] == ["sic", "state"]:
        ctx.out(MSG["sic_state"].format(trust=trust(ctx.root)))
        return 0
    if args[:2] == ["sic", "init"] and len(args) in (3, 4):
        key = args[2]
        norestart = len(args) == 4 and args[3] == "norestart"
        if len(args) == 4 and not norestart:
            ctx.err(f"cp_conf: unknown option {args[3]!r}")
            return 1
        write_sic_cert(ctx.root, ctx.name)
        with state.change(ctx.root) as st:
            st["pending_key"] = key
            restart = not norestart or st.get("restart_on_reset")
            if restart:
                st["policy"] = "InitialPolicy"
                st["policy_date"] = dt.datetime.now(dt.UTC).strftime("%d%b%Y %H:%M:%S")
        ctx.out(MSG["sic_reset"])
        ctx.out(MSG["restart"] if restart else MSG["norestart"])
        return 0
    ctx.err("Usage: cp_conf sic state | cp_conf sic init <Activation Key> [norestart]")
    return 1


def cpwd_admin(ctx: ToolContext, args: list[str]) -> int:
    """cpwd_admin list | stop -name APP ... | start -name APP ..."""
    st = state.read(ctx.root)
    if args[:1] == ["list"]:
        ctx.out("APP        PID    STAT  #START  START_TIME             MON  COMMAND")
        pid = st["cpd_pid"] if st["cpd"] == "E" else 0
        ctx.out(f"CPD        {pid:<6} {st['cpd']:<5} 1       [22:14:05] 20/11/2026   Y    cpd")
        ctx.out("FWD        2211   E     1       [22:14:09] 20/11/2026   N    fwd")
        return 0
    if args[:1] in (["stop"], ["start"]) and "-name" in args:
        app = args[args.index("-name") + 1]
        if app != "CPD":
            ctx.err(f"cpwd_admin: no such process {app}")
            return 1
        with state.change(ctx.root) as st:
            if args[0] == "stop":
                st["cpd"] = "T"
                ctx.out(MSG["cpd_stopped"])
            elif st["cpd"] == "E":
                ctx.out(MSG["cpd_alive"])
            else:
                st["cpd"], st["cpd_pid"] = "E", random.randint(2000, 9000)
                ctx.out(MSG["cpd_started"])
        return 0
    ctx.err("usage: cpwd_admin list | start -name APP -path PATH -command CMD | stop ...")
    return 1


def fw(ctx: ToolContext, args: list[str]) -> int:
    """fw stat: the installed policy; fw ver: the version."""
    if args[:1] == ["ver"]:
        ctx.out(MSG["fw_ver"])
        return 0
    if args[:1] != ["stat"]:
        ctx.err("usage: fw stat | fw ver")
        return 1
    st = state.read(ctx.root)
    if "policy" not in st:
        ctx.err("lab: fw/1 no policy on a management [unconfirmed output]")
        return 1
    ctx.out("HOST      POLICY         DATE")
    ctx.out(f"localhost {st['policy']:<14} {st['policy_date']} :  [>eth0] [<eth0]")
    return 0


def cpstat(ctx: ToolContext, args: list[str]) -> int:
    """cpstat fw: a short status."""
    st = state.read(ctx.root)
    ctx.out(f"Product name:      Firewall\nPolicy name:       {st['policy']}\n"
            f"Install time:      {st['policy_date']}\nCluster member:    {st['member']}")
    return 0


def _members(ctx: ToolContext) -> list[tuple[str, Path]]:
    return [(n, Path(d["root"])) for n, d in sorted(ctx.lab["devices"].items())
            if d["role"] == "gateway"]


def cphaprob(ctx: ToolContext, args: list[str]) -> int:
    """cphaprob state: this member's and its peer's cluster state (ClusterXL)."""
    if args != ["state"]:
        ctx.err("lab: cphaprob/1 usage [unconfirmed output]")
        return 1
    if not state.read(ctx.root).get("clustered"):
        ctx.out(MSG["ha_none"])
        return 0
    ctx.out(MSG["ha_head"])
    for i, (name, root) in enumerate(_members(ctx), 1):
        member = state.read(root)["member"].upper()
        ctx.out(MSG["ha_line"].format(id=f"{i} (local)" if name == ctx.name else str(i),
                                      addr=f"192.0.2.{240 + i}", state=member,
                                      load="100%" if member == "ACTIVE" else "0%"))
    return 0


def clusterXL_admin(ctx: ToolContext, args: list[str]) -> int:  # noqa: N802 - its name
    """clusterXL_admin down|up: take this member out of the cluster (its peer takes over)."""
    if args not in (["down"], ["up"]):
        ctx.err("lab: clusterXL_admin/1 usage [unconfirmed output]")
        return 1
    for name, root in _members(ctx):
        with state.change(root) as st:
            if name == ctx.name:
                st["member"] = "down" if args == ["down"] else "standby"
            elif args == ["down"]:
                st["member"] = "active"
    ctx.out(f"lab: clusterXL_admin/1 {args[0]} [unconfirmed output]")
    return 0


def mdsenv(ctx: ToolContext, args: list[str]) -> int:
    """mdsenv [DOMAIN]: select the domain later commands act on."""
    with state.change(ctx.root) as st:
        if args and args[0] not in st["domains"]:
            ctx.err(f"mdsenv: {args[0]}: no such Domain Management Server")
            return 1
        st["current_domain"] = args[0] if args else None
    return 0


def mdsstat(ctx: ToolContext, args: list[str]) -> int:
    """mdsstat: the domains and whether their CA runs."""
    st = state.read(ctx.root)
    ctx.out("| Type | Name     | IP address  | FWM | FWD | CPD | CPCA |")
    for name, d in st["domains"].items():
        ca = "up" if d["ca_running"] else "down"
        ctx.out(f"| CMA  | {name:<8} | {d['ip']:<11} | up  | up  | up  | {ca:<4} |")
    return 0


def fwm(ctx: ToolContext, args: list[str]) -> int:
    """fwm sic_reset: destroy and recreate the current domain's Internal CA."""
    if args[:1] != ["sic_reset"]:
        ctx.err("usage: fwm sic_reset")
        return 1
    with state.change(ctx.root) as st:
        cma = st.get("current_domain")
        if not cma:
            ctx.err("fwm: no domain selected (run mdsenv DOMAIN first)")
            return 1
        st["domains"][cma]["ca_serial"] += 1
        st["domains"][cma]["ca_running"] = False
        serial = st["domains"][cma]["ca_serial"]
    ica = ctx.root / ica_dir(cma).lstrip("/")
    pki.write(ica / "InternalCA.db", f"lab ICA database, serial {serial}\n".encode(), 0o600)
    pki.write(ica / "InternalCA.NDB", f"lab ICA keys, serial {serial}\n".encode(), 0o600)
    for spec in ctx.lab["devices"].values():
        if spec["role"] == "gateway":
            with state.change(Path(spec["root"])) as gst:
                if gst.get("domain") == cma:
                    gst["mgmt_trusts"] = None
    ctx.out(MSG["sic_reset_mgmt"].format(cma=cma))
    return 0


def mdsconfig(ctx: ToolContext, args: list[str]) -> int:
    """mdsconfig -ca DOMAIN IP: (re)start a domain's Internal CA."""
    if len(args) != 3 or args[0] != "-ca":
        ctx.err("usage: mdsconfig -ca <DMS_NAME> <DMS_IP>")
        return 1
    with state.change(ctx.root) as st:
        if args[1] not in st["domains"]:
            ctx.err(f"mdsconfig: {args[1]}: no such domain")
            return 1
        st["domains"][args[1]]["ca_running"] = True
    ctx.out(MSG["ca_started"].format(cma=args[1], ip=args[2]))
    return 0


def push_cert(ctx: ToolContext, args: list[str]) -> int:
    """push_cert -s CMA -u USER -p PASSWORD -o GATEWAY -k KEY: initialise SIC from management."""
    opts = dict(zip(args[::2], args[1::2], strict=False))
    need = ("-s", "-u", "-p", "-o", "-k")
    if any(o not in opts for o in need):
        ctx.err("usage: push_cert -s <CMA> -u <user> -p <password> -o <gateway> -k <key>")
        return 1
    st = state.read(ctx.root)
    by_ip = {d["ip"]: name for name, d in st["domains"].items()}
    cma = by_ip.get(opts["-s"])
    if cma is None:  # the document: -s takes the CMA's IP address
        ctx.err(f"lab: push_cert/5 -s {opts['-s']} unreachable [unconfirmed output]")
        return 1
    if not st["domains"][cma]["ca_running"]:
        ctx.err(MSG["push_no_ca"].format(cma=cma))
        return 1
    obj = opts["-o"]
    device = {o: d for d, o in OBJECTS.items()}.get(obj)
    if device is None:  # -o takes the SmartConsole object name
        ctx.err(f"lab: push_cert/5 -o {obj} no such object [unconfirmed output]")
        return 1
    with state.change(ctx.device(device)) as gst:
        if gst["cpd"] != "E":
            ctx.err(MSG["push_no_cpd"].format(obj=obj))
            return 1
        if gst.get("pending_key") != opts["-k"]:
            ctx.err(MSG["push_mismatch"].format(obj=obj))
            return 1
        gst["mgmt_trusts"], gst["pending_key"] = cert_digest(ctx.device(device)), None
    ctx.out(MSG["push_ok"].format(obj=obj))
    return 0


def cpca_client(ctx: ToolContext, args: list[str]) -> int:
    """cpca_client lscert: the Internal CA's certificates (a summary)."""
    st = state.read(ctx.root)
    for name, d in st["domains"].items():
        ctx.out(f"Subject = O={name}..lab, CN=ICA  Status = Valid  Serial = {d['ca_serial']}")
    return 0


TOOLS = {"cp_conf": cp_conf, "cpwd_admin": cpwd_admin, "fw": fw, "cpstat": cpstat,
         "mdsenv": mdsenv, "mdsstat": mdsstat, "fwm": fwm, "mdsconfig": mdsconfig,
         "push_cert": push_cert, "cpca_client": cpca_client, "cphaprob": cphaprob,
         "clusterXL_admin": clusterXL_admin}


EXPERT_PASSWORD = "lab-expert-pw"  # the lab's expert password (shown by `runbook lab`)
