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

CPDIR = "/opt/CPshrd-R81"
FWDIR = "/opt/CPsuite-R81/fw1"
MDSDIR = "/opt/CPmds-R81"
PREFIXES = (CPDIR, FWDIR, MDSDIR)
GW_TOOLS = ("cp_conf", "cpwd_admin", "fw", "cpstat")
MDS_TOOLS = ("mdsenv", "mdsstat", "fwm", "mdsconfig", "push_cert", "cpca_client")
ENV = {"CPDIR": CPDIR, "FWDIR": FWDIR, "MDSDIR": MDSDIR}

# Output wording: [C] where VENDOR-NOTES saw it in public sources, else inferred; fix it here.
ESTABLISHED = "Trust established"  # [C]
NOT_ESTABLISHED = "Initialized but trust not established"  # [C, API wording]
MSG = {
    "sic_state": "Trust State: {trust}",
    "sic_reset": "Initializing Secure Internal Communication...\nSIC keys were reset.",
    "norestart": "Services were not restarted (norestart): the current policy stays loaded.",
    "restart": "Restarting Check Point services ... done",
    "cpd_started": "cpwd_admin:\nProcess CPD started successfully",  # [C]
    "cpd_stopped": "cpwd_admin:\nProcess CPD will be stopped",
    "push_ok": "SIC trust was initialized with {obj}: Trust established",
    "push_mismatch": "push_cert: SIC activation key mismatch for {obj}",
    "push_no_cpd": "push_cert: {obj} does not answer on port 18211 (CPD is not running)",
    "push_no_ca": "push_cert: the Internal CA of {cma} is not running (run mdsconfig -ca)",
    "sic_reset_mgmt": ("WARNING: the Internal CA of {cma} was destroyed and a new one created;"
                       " every gateway of this domain has lost SIC."),
    "ca_started": "Starting the Internal CA of {cma} ({ip}) ... done",
}


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
            else:
                st["cpd"], st["cpd_pid"] = "E", random.randint(2000, 9000)
                ctx.out(MSG["cpd_started"])
        return 0
    ctx.err("usage: cpwd_admin list | start -name APP -path PATH -command CMD | stop ...")
    return 1


def fw(ctx: ToolContext, args: list[str]) -> int:
    """fw stat: the installed policy."""
    if args[:1] != ["stat"]:
        ctx.err("usage: fw stat")
        return 1
    st = state.read(ctx.root)
    ctx.out("HOST      POLICY         DATE")
    ctx.out(f"localhost {st['policy']:<14} {st['policy_date']} :  [>eth0] [<eth0]")
    return 0


def cpstat(ctx: ToolContext, args: list[str]) -> int:
    """cpstat fw: a short status."""
    st = state.read(ctx.root)
    ctx.out(f"Product name:      Firewall\nPolicy name:       {st['policy']}\n"
            f"Install time:      {st['policy_date']}\nCluster member:    {st['member']}")
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
    cma = opts["-s"]
    if cma not in st["domains"]:
        ctx.err(f"push_cert: unknown domain {cma}")
        return 1
    if not st["domains"][cma]["ca_running"]:
        ctx.err(MSG["push_no_ca"].format(cma=cma))
        return 1
    obj = opts["-o"]
    if obj not in ctx.lab["devices"]:
        ctx.err(f"push_cert: no gateway object named {obj}")
        return 1
    with state.change(ctx.device(obj)) as gst:
        if gst["cpd"] != "E":
            ctx.err(MSG["push_no_cpd"].format(obj=obj))
            return 1
        if gst.get("pending_key") != opts["-k"]:
            ctx.err(MSG["push_mismatch"].format(obj=obj))
            return 1
        gst["mgmt_trusts"], gst["pending_key"] = cert_digest(ctx.device(obj)), None
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
         "push_cert": push_cert, "cpca_client": cpca_client}


EXPERT_PASSWORD = "lab-expert-pw"  # the lab's expert password (shown by `runbook lab`)
