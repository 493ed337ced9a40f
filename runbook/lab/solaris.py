"""Simulated Solaris IKE host: in.iked, ikecert slots, ikeadm, and the config syntax check.

in.iked keeps the certificate it loaded until it is restarted, as the seed's MDM relies on.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from ..certfacts import key_description
from . import pki, state
from .toolcontext import ToolContext

PREFIXES = ("/etc/inet", "/usr/lib/inet", "/var/tmp")
HOST_TOOLS = ("ikecert", "ikeadm", "in.iked", "pkill", "svcadm", "labca-sign", "sed", "grep",
              "readlink")
CONFIG = "etc/inet/ike/config"
PUB = "etc/inet/ike/publickeys"
PRIV = "etc/inet/secret/ike.privatekeys"
OIDS = {"C": NameOID.COUNTRY_NAME, "O": NameOID.ORGANIZATION_NAME,
        "OU": NameOID.ORGANIZATIONAL_UNIT_NAME, "CN": NameOID.COMMON_NAME}

# Output wording. Each entry says where it comes from; where no document shows the output, it is
# UNCONFIRMED and deliberately unlike anything a procedure could guess ("lab:" prefix).
MSG = {
    "priv": "Current privilege level is 0x{level}, access to keying material {what}",  # [C]
    "down": "ikeadm: Unable to communicate with in.iked",  # VENDOR-NOTES [C]
    "checks_out": "lab: in.iked/c {file} 0 [unconfirmed output]",  # UNCONFIRMED
    "added": "lab: certdb/a {slot} [unconfirmed output]",  # UNCONFIRMED
    # Solaris /usr/bin/sed, grep, readlink: no GNU extensions (sed(1), grep(1), readlink(1))
    "illegal": "{tool}: illegal option -- {opt}",
    "sed_usage": "Usage:\tsed [-n] script [file...]\n\tsed [-n] [-e script]...[-f script_file]..."
                 "[file...]",
    "grep_usage": "Usage: grep [-c|-l|-q] [-bhinsvwx] pattern_list [file ...]",
    "readlink_usage": "usage: readlink [-n] file",
}
GNU_FREE = {"sed": "ne:f:", "grep": "EFcqlbhinsvwxe:f:", "readlink": "n"}


def dn(name: x509.Name) -> str:
    """A name the way Solaris prints and configures it: `C=US, O=Lab, CN=host`."""
    short = {v: k for k, v in OIDS.items()}
    return ", ".join(f"{short.get(a.oid, a.oid.dotted_string)}={a.value!s}" for a in name)


def parse_dn(text: str) -> x509.Name:
    parts = [p.strip() for p in text.strip().strip('"').split(",") if p.strip()]
    return x509.Name([x509.NameAttribute(OIDS[k.strip()], v.strip())
                      for k, v in (p.split("=", 1) for p in parts)])


CONFIG_TEXT = """# /etc/inet/ike/config (lab)
cert_root "{ca}"
cert_trust "{ca}"
ignore_crls
p1_lifetime_secs 14400
p1_nonce_len {nonce}
p1_xform {{ auth_method rsa_sig oakley_group 14 auth_alg sha256 encr_alg aes }}

{{
  label INDEXID_1
  local_id_type dn
  local_id "{me}"
  remote_addr 192.0.2.20
  p1_xform {{ auth_method rsa_sig oakley_group 14 auth_alg sha256 encr_alg aes }}
}}
"""


def build(lab_root: Path, devices: dict[str, dict[str, Any]], scenario: str) -> None:
    """An IKE host with a lab CA (slot 1) and its own certificate and key (slot 0)."""
    root = Path(devices["sol1"]["root"])
    ca_key, ca = pki.make_ca(parse_dn("C=US, O=Lab, CN=Lab IKE CA"), 3650)
    key, cert = pki.make_leaf(ca_key, ca, parse_dn("C=US, O=Lab, CN=sol1"), 365, age_days=300)
    pki.write(root / ".lab/ca.key", pki.key_pem(ca_key), 0o600)
    pki.write(root / ".lab/ca.crt", pki.cert_pem(ca))
    pki.write(root / PUB / "0", pki.cert_pem(cert))
    pki.write(root / PUB / "1", pki.cert_pem(ca))
    pki.write(root / PRIV / "0", pki.key_pem(key), 0o600)
    (root / PRIV).chmod(0o700)
    (root / "etc/inet/ike/crls").mkdir(parents=True, exist_ok=True)
    (root / "var/tmp").mkdir(parents=True, exist_ok=True)
    nonce = 16 if scenario == "ike-config-broken" else 20
    pki.write(root / CONFIG, CONFIG_TEXT.format(ca=dn(ca.subject), me=dn(cert.subject),
                                                nonce=nonce).encode())
    iked = root / "usr/lib/inet/in.iked"
    pki.write(iked, b'#!/bin/sh\nexec in.iked "$@"\n', 0o755)
    with state.change(root) as st:
        st["iked"] = {"running": True, "priv": 2,
                      "loaded": {"subject": dn(cert.subject), "serial": f"{cert.serial_number:x}"}}


def _slots(root: Path, folder: str) -> list[tuple[int, Path]]:
    d = root / folder
    return sorted((int(p.name), p) for p in d.iterdir() if p.name.isdigit()) if d.exists() else []


def _certs(root: Path) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate(p.read_bytes()) for _, p in _slots(root, PUB)]


def _is_ca(c: x509.Certificate) -> bool:
    return bool(c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)


def _key_slot(root: Path, cert: x509.Certificate) -> int | None:
    want = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    for slot, p in _slots(root, PRIV):
        key = serialization.load_pem_private_key(p.read_bytes(), password=None)
        if key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo) == want:
            return slot
    return None


def ikecert(ctx: ToolContext, args: list[str]) -> int:
    """ikecert certdb -l [-v] | certdb -a | certdb -r SLOT | certlocal -kc -m N -t T -D DN."""
    if args[:2] == ["certdb", "-l"]:
        verbose = "-v" in args
        for slot, p in _slots(ctx.root, PUB):
            c = x509.load_pem_x509_certificate(p.read_bytes())
            is_ca = c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
            ctx.out(f"Certificate Slot Name: {slot}   Key Type: ec")
            ks = _key_slot(ctx.root, c)
            if ks is not None:
                ctx.out(f"\t(Private key in certlocal slot {ks})")
            ctx.out(f"\tSubject Name: <{dn(c.subject)}>")
            ctx.out(f"\tKey Size: {key_description(c.public_key())[1]}")
            ctx.out(f"\tPublic key hash: {c.fingerprint(hashes.SHA1()).hex().upper()}")
            ctx.out(f"\tCA: {'TRUE' if is_ca else 'FALSE'}")
            if verbose:
                ctx.out(f"\tIssuer Name: <{dn(c.issuer)}>")
                ctx.out(f"\tSerialNumber: 0x{c.serial_number:X}")
                ctx.out(f"\tValidity: {c.not_valid_before_utc:%b %d %H:%M:%S %Y} GMT to "
                        f"{c.not_valid_after_utc:%b %d %H:%M:%S %Y} GMT")
        return 0
    if args[:2] == ["certdb", "-a"]:
        try:
            c = x509.load_pem_x509_certificate(sys.stdin.buffer.read())
        except ValueError:
            ctx.err("ikecert: certdb: no certificate found on standard input")
            return 1
        slot = max((s for s, _ in _slots(ctx.root, PUB)), default=-1) + 1
        pki.write(ctx.root / PUB / str(slot), pki.cert_pem(c))
        ctx.out(MSG["added"].format(slot=slot))
        return 0
    if args[:2] == ["certlocal", "-r"] and len(args) == 3:
        target = ctx.root / PRIV / args[2].removeprefix("SLOT=")
        if not target.exists():
            ctx.err(f"lab: certlocal/r {args[2]} [unconfirmed output]")
            return 1
        target.unlink()
        return 0
    if args[:2] == ["certdb", "-r"] and len(args) == 3:
        target = ctx.root / PUB / args[2].removeprefix("SLOT=")
        if not target.exists():
            ctx.err(f"ikecert: certdb: no certificate in slot {args[2]}")
            return 1
        target.unlink()
        return 0
    if args[:2] == ["certlocal", "-kc"] and "-D" in args:
        subject = parse_dn(args[args.index("-D") + 1])
        key = pki.new_key()
        slot = max((s for s, _ in _slots(ctx.root, PRIV)), default=-1) + 1
        pki.write(ctx.root / PRIV / str(slot), pki.key_pem(key), 0o600)
        csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(
            key, hashes.SHA256())
        ctx.err("Creating private key.")
        ctx.out(csr.public_bytes(serialization.Encoding.PEM).decode().strip())
        return 0
    ctx.err("Usage: ikecert certdb -l [-v] | certdb -a | certdb -r SLOT | "
            "certlocal -kc -m keysize -t keytype -D dname")
    return 1


def labca_sign(ctx: ToolContext, args: list[str]) -> int:
    """The lab's stand-in for the organisation's CA: sign a CSR from stdin, print the cert."""
    csr = x509.load_pem_x509_csr(sys.stdin.buffer.read())
    ca_key = pki.load_key(ctx.root / ".lab/ca.key")
    ca = pki.load_cert(ctx.root / ".lab/ca.crt")
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca.subject)
            .public_key(csr.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=730))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    ctx.out(pki.cert_pem(cert).decode().strip())
    return 0


def check_config(text: str) -> list[str]:
    """The seed's constraints, as in.iked -c would enforce them."""
    problems = []
    nonce = re.findall(r"^\s*p1_nonce_len\s+(\d+)", text, re.M)
    if nonce and nonce[0] != "20":
        problems.append(f"p1_nonce_len {nonce[0]} is not allowed here (must be 20)")
    labels = re.findall(r'label\s+"?([^"\s]+)"?', text)
    if len(labels) != len(set(labels)):
        problems.append("duplicate rule label")
    for value in re.findall(r"lifetime_secs\s+(\d+)", text):
        if not 1800 <= int(value) <= 172800:
            problems.append(f"lifetime {value} s outside 1800-172800")
    for rule in re.findall(r"^\{(.*?)^\}", text, re.M | re.S):
        if "rsa_sig" in rule and not ("local_id_type dn" in rule and "local_id " in rule):
            problems.append("an rsa_sig rule needs local_id_type dn and local_id")
    if text.count("{") != text.count("}"):
        problems.append("unbalanced braces")
    return problems


def _start(ctx: ToolContext, level: int) -> int:
    text = (ctx.root / CONFIG).read_text()
    problems = check_config(text)
    with state.change(ctx.root) as st:
        if problems:  # SMF puts the service into maintenance
            st["iked"] = {"running": False, "priv": 0, "loaded": None, "maintenance": True}
            ctx.err(f"in.iked: {problems[0]}; exiting")
            return 1
        cas = {dn(c.subject) for c in _certs(ctx.root) if _is_ca(c)}
        for key in ("cert_root", "cert_trust"):
            m = re.search(rf'^{key}\s+"([^"]+)"', text, re.M)
            if m and m.group(1) not in cas:  # the seed: both hold the root CA's DN
                st["iked"] = {"running": False, "priv": 0, "loaded": None, "maintenance": True}
                ctx.err(f"lab: in.iked/{key} {m.group(1)} [unconfirmed output]")
                return 1
        local = re.search(r'local_id\s+"([^"]+)"', text)
        loaded = None
        for _, p in _slots(ctx.root, PUB):
            c = x509.load_pem_x509_certificate(p.read_bytes())
            if local and dn(c.subject) == local.group(1) and _key_slot(ctx.root, c) is not None:
                loaded = {"subject": dn(c.subject), "serial": f"{c.serial_number:x}"}
        st["iked"] = {"running": True, "priv": level, "loaded": loaded}
    return 0


def in_iked(ctx: ToolContext, args: list[str]) -> int:
    """in.iked -c -f FILE (syntax check) | in.iked [-p LEVEL] (start)."""
    if "-c" in args:
        path = Path(args[args.index("-f") + 1]) if "-f" in args else ctx.root / CONFIG
        problems = check_config(path.read_text())
        for p in problems:
            ctx.err(f"in.iked: Error: {p}")
        if not problems:
            ctx.out(MSG["checks_out"].format(file=path.name))
        return 1 if problems else 0
    if state.read(ctx.root)["iked"]["running"]:
        ctx.err("in.iked: another in.iked is already running")
        return 1
    return _start(ctx, int(args[args.index("-p") + 1]) if "-p" in args else 0)


def pkill(ctx: ToolContext, args: list[str]) -> int:
    """pkill in.iked (the only process this device knows)."""
    if args != ["in.iked"]:
        ctx.err("pkill: only in.iked can be signalled on this lab device")
        return 1
    with state.change(ctx.root) as st:
        was = st["iked"]["running"]
        st["iked"] = {"running": False, "priv": 0, "loaded": None}
    return 0 if was else 1


def svcadm(ctx: ToolContext, args: list[str]) -> int:
    """svcadm refresh|restart ike."""
    if len(args) != 2 or args[1] != "ike" or args[0] not in ("refresh", "restart"):
        ctx.err("usage: svcadm refresh|restart ike")
        return 1
    pkill(ctx, ["in.iked"])
    return _start(ctx, 0)


def ikeadm(ctx: ToolContext, args: list[str]) -> int:
    """ikeadm get priv | dump rule | dump certcache."""
    iked = state.read(ctx.root)["iked"]
    if not iked["running"]:
        ctx.err(MSG["down"])
        return 1
    if args == ["get", "priv"]:
        ctx.out(MSG["priv"].format(level=iked["priv"], what="enabled" if iked["priv"] >= 2
                                   else "disabled"))
        return 0
    if args == ["dump", "rule"]:
        for label in re.findall(r'label\s+"?([^"\s]+)"?', (ctx.root / CONFIG).read_text()):
            ctx.out(f"Label '{label}'")
        return 0
    if args == ["dump", "certcache"]:
        loaded = iked["loaded"]
        ctx.out(f"Subject: {loaded['subject']}\nSerial: {loaded['serial']}" if loaded
                else "no certificate loaded")
        return 0
    ctx.err("usage: ikeadm get priv | dump rule | dump certcache")
    return 1


def loaded(root: Path) -> dict[str, str] | None:
    """The certificate in.iked is using now (for tests)."""
    return state.read(root)["iked"]["loaded"]


def _posix(tool: str, ctx: ToolContext, args: list[str]) -> int:
    """A Solaris-like `tool`: GNU-only options and regex syntax fail or differ as on the host."""
    usage = MSG[f"{tool}_usage"]
    for a in args:
        if a == "--" or not a.startswith("-") or a == "-":
            break
        if a.startswith("--"):
            ctx.err(MSG["illegal"].format(tool=tool, opt="-"))
            ctx.err(usage)
            return 2
        for ch in a[1:]:
            if ch not in GNU_FREE[tool].replace(":", ""):
                ctx.err(MSG["illegal"].format(tool=tool, opt=ch))
                ctx.err(usage)
                return 2
            if GNU_FREE[tool][GNU_FREE[tool].index(ch) + 1:][:1] == ":":
                break  # the rest of this word is the option's argument
    if tool == "grep" and not any(a.startswith("-") and "E" in a for a in args):
        # In a basic regular expression `\|` is an ordinary `|` on Solaris, not alternation.
        args = [a.replace("\\|", "|") if not a.startswith("-") else a for a in args]
    real = shutil.which(tool, path="/usr/bin:/bin")
    assert real
    os.execv(real, [tool, *args])
    return 127  # not reached


def sed(ctx: ToolContext, args: list[str]) -> int:
    """Solaris sed: no -i, -E, -r."""
    return _posix("sed", ctx, args)


def grep(ctx: ToolContext, args: list[str]) -> int:
    """Solaris grep: no -P, -o, -r; `\\|` is not alternation."""
    return _posix("grep", ctx, args)


def readlink(ctx: ToolContext, args: list[str]) -> int:
    """Solaris readlink: no -f."""
    return _posix("readlink", ctx, args)


TOOLS = {"sed": sed, "grep": grep, "readlink": readlink, "ikecert": ikecert,
         "ikeadm": ikeadm, "in.iked": in_iked, "pkill": pkill, "svcadm": svcadm,
         "labca-sign": labca_sign}
