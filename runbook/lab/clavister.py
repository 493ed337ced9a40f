"""Simulated Clavister cOS Stream: a prompt-driven CLI, staged and active configuration, and
`certmgr` enrolling over real CMP against OpenSSL's mock CMP server.

Files (uploaded CA certificates, what certmgr receives) live in the device's file store,
which SFTP serves as its root: how the lab models uploads (inferred, not from the seed).

Quirk of the mock server (VENDOR-NOTES): it always answers with one fixed certificate, so the
simulated `certmgr` uses the key that certificate was made for instead of generating a new one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shlex
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import asyncssh
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import children, pki, state
from .pty import Lines

PROMPT = "System:/{context}> "  # the seed: `System:/>`, `System:/CertificateStore/cmp>`
# Output wording. The seed shows commands and prompts only, so everything the CLI prints is
# UNCONFIRMED and deliberately unlike anything a procedure could guess ("lab:" prefix), except
# that failures start with "Error:": the procedures' `errors` markers, which no document
# confirms either (see the README, "On real devices").
MSG = {
    "syntax": "Error: lab/syntax {syntax}",  # UNCONFIRMED
    "unknown": "Error: lab/unknown {cmd}",  # UNCONFIRMED
    "no_object": "Error: lab/no-object {name}",  # UNCONFIRMED
    "received": "lab: certmgr/3 {cert} ok [unconfirmed output]",  # UNCONFIRMED
    "failed": "Error: lab/certmgr {op}",  # UNCONFIRMED
    "lab_signed": "lab: certmgr/3 signed by the lab CA (mock server cannot) [unconfirmed output]",
    "activated": "lab: activate/{secs} [unconfirmed output]",  # UNCONFIRMED
    "committed": "lab: commit/0 [unconfirmed output]",  # UNCONFIRMED
    "nothing": "Error: lab/commit nothing activated",  # UNCONFIRMED
    "reverted": "lab: revert [unconfirmed output]",  # UNCONFIRMED
    "revoked": "lab: certmgr/3 {cert} rr [unconfirmed output]",  # UNCONFIRMED
    "already_revoked": "Error: lab/certmgr rr {cert} twice",  # UNCONFIRMED
}
SYNTAX = {
    "add": "add <Type> <Name> [<Property>=<Value> ...]",
    "set": "set <Type> <Name> <Property>=<Value> ...",
    "cc": "cc [<Type> <Name>] | cc .. | cc /",
    "delete": "delete <Type> <Name>",
    "certmgr": "certmgr -clientcert=<store>/<cert> (-initiate -username=<ref> "
               "-password=<psk> -subject=\"CN=...\" | -update | -revoke)",
}


def build(lab_root: Path, devices: dict[str, dict[str, Any]], scenario: str) -> dict[str, Any]:
    """Create the cOS device's files and the lab CMP CA; returns the CMP settings."""
    spec = devices["cos1"]
    root = Path(spec["root"])
    ca_key, ca = pki.make_ca(pki.name("Lab CMP CA", o="lab"), 3650)
    ca_dir = lab_root / "cmp"
    pki.write(ca_dir / "ca.crt", pki.cert_pem(ca))
    pki.write(ca_dir / "ca.key", pki.key_pem(ca_key), 0o600)
    key, cert = pki.make_leaf(ca_key, ca, pki.name("cos1.lab.example", o="lab"), 365)
    pki.write(ca_dir / "issued.crt", pki.cert_pem(cert))
    pki.write(root / ".lab/enrol.key", pki.key_pem(key), 0o600)
    (root / "files").mkdir(parents=True, exist_ok=True)
    pki.write(root / "files/cacert.pem", pki.cert_pem(ca))
    base = {"CertificateStore:ipsec": {}, "CertificateStore:cmp": {},
            "Certificate:cmp/cacert": {"Type": "Remote", "CertificateData": "file://cacert.pem"}}
    with state.change(root) as st:
        st.update(staged=base, active=base, previous=None, activated=None,
                  revert_seconds=30, revoked=[])
    cmp = {"ref": "lab-ref-4711", "psk": "lab-psk-0815", "ca_subject": ca.subject.rfc4514_string(),
           "dir": str(ca_dir)}
    spec["cmp"] = cmp
    return cmp


class CmpServer:
    """OpenSSL's mock CMP server on loopback for the lab (None when openssl has no `cmp`)."""

    def __init__(self, settings: dict[str, Any], lab_dir: Path | None = None) -> None:
        self.settings = settings
        self.lab_dir = Path(lab_dir) if lab_dir else Path(settings["dir"]).parent
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @staticmethod
    def available() -> bool:
        exe = shutil.which("openssl")
        if not exe:
            return False
        probe = subprocess.run([exe, "cmp", "-help"], capture_output=True)
        return probe.returncode in (0, 1) and b"-srv_secret" in probe.stdout + probe.stderr

    async def start(self, port: int = 0) -> int:
        """Start the server on `port` (a free one when 0); returns the port. Raises OSError
        when it does not come up (its port taken, say)."""
        if port:
            self.port = port
        else:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
        d = Path(self.settings["dir"])
        # `-port` listens on every interface (an OpenSSL 3.0 limit); the lab only ever talks
        # to it over 127.0.0.1.
        self.proc = subprocess.Popen(
            ["openssl", "cmp", "-port", str(self.port), "-srv_ref", self.settings["ref"],
             "-srv_secret", f"pass:{self.settings['psk']}", "-rsp_cert", str(d / "issued.crt"),
             "-rsp_capubs", str(d / "ca.crt")], stdout=subprocess.DEVNULL,
            stderr=open(d / "server.log", "wb"), preexec_fn=children.die_with_lab(),
            process_group=0)
        children.record(self.lab_dir, self.proc.pid)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                _, w = await asyncio.open_connection("127.0.0.1", self.port)
                w.close()
                return self.port
            except OSError:
                if self.proc.poll() is not None:
                    break
                await asyncio.sleep(0.02)  # the server is starting: there is no event for it
        await self.stop()
        raise OSError(f"the mock CMP server did not start on port {self.port} "
                      f"(see {d / 'server.log'})")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            await asyncio.to_thread(self.proc.wait, 5)
        if self.proc is not None:
            children.forget(self.lab_dir, self.proc.pid)


def _props(words: list[str]) -> dict[str, str]:
    out = {}
    for w in words:
        k, sep, v = w.partition("=")
        if not sep:
            raise ValueError(w)
        out[k] = v.strip('"')
    return out


class CosDevice:
    """The cOS Stream CLI, over a PTY session or one command per exec."""

    def __init__(self, root: Path, lab_root: Path, cmp: dict[str, Any], faults: Any) -> None:
        self.root, self.lab_root, self.cmp, self.faults = root, lab_root, cmp, faults
        self._revert: asyncio.TimerHandle | None = None

    async def __call__(self, process: asyncssh.SSHServerProcess) -> None:
        if process.command is not None:
            out, ok = await self.execute(process.command, [""])
            process.stdout.write((out + "\n" if out else "").encode())
            process.exit(0 if ok else 1)
            return
        context = [""]
        if self.faults.no_prompt:
            await process.channel.wait_closed()
            return
        io = Lines(process)
        io.write(f"Clavister cOS Stream (lab)\n{self._prompt(context)}")
        async for line in io:
            if line.strip() in ("exit", "quit"):
                break
            out, _ = await self.execute(line, context) if line.strip() else ("", True)
            if out:
                io.write(out + "\n")
            io.write(self._prompt(context))
        process.exit(0)

    def _prompt(self, context: list[str]) -> str:
        return PROMPT.format(context=context[0])

    async def execute(self, line: str, context: list[str]) -> tuple[str, bool]:
        """Run one CLI command; returns (output, success)."""
        try:
            words = shlex.split(line)
        except ValueError:
            return MSG["syntax"].format(syntax="(unbalanced quotes)"), False
        cmd, args = words[0], words[1:]
        try:
            match cmd:
                case "cc":
                    return self.cc(args, context)
                case "add" | "set":
                    return self.add_set(cmd, args, context)
                case "delete":
                    return self.delete(args, context)
                case "show":
                    return self.show(args)
                case "certmgr":
                    return await self.certmgr(args)
                case "activate":
                    return self.activate()
                case "commit":
                    return self.commit()
        except (ValueError, IndexError):
            return MSG["syntax"].format(syntax=SYNTAX.get(cmd, cmd)), False
        return MSG["unknown"].format(cmd=cmd), False

    def cc(self, args: list[str], context: list[str]) -> tuple[str, bool]:
        if not args or args[0] in ("/", ".."):
            context[0] = ""
            return "", True
        if len(args) != 2:
            raise ValueError
        if f"{args[0]}:{args[1]}" not in state.read(self.root)["staged"]:
            return MSG["no_object"].format(name=f"{args[0]} {args[1]}"), False
        context[0] = f"{args[0]}/{args[1]}"
        return "", True

    def add_set(self, cmd: str, args: list[str], context: list[str]) -> tuple[str, bool]:
        if len(args) < 2 or (cmd == "set" and len(args) < 3):
            raise ValueError
        kind, name = args[0], _qualify(args[1], context)
        key = f"{kind}:{name}"
        props = _props(args[2:])
        with state.change(self.root) as st:
            if cmd == "add" and key in st["staged"]:
                return f"Error: lab/exists {kind} {name}", False
            if cmd == "set" and key not in st["staged"]:
                return MSG["no_object"].format(name=f"{kind} {name}"), False
            for prop, value in list(props.items()):
                if value.startswith("file://") and not (self.root / "files" /
                                                        value[7:]).is_file():
                    return f"Error: lab/no-file {prop} {value[7:]}", False
            if props.get("CertificateData", "").startswith("file://"):
                # Binding reads the file: the object holds that certificate from now on, even
                # if the file is replaced later (so a restored file needs binding again).
                data = (self.root / "files" / props["CertificateData"][7:]).read_bytes()
                props["Loaded"] = hashlib.sha256(data).hexdigest()[:16]
            st["staged"][key] = {**st["staged"].get(key, {}), **props}
        return "", True

    def delete(self, args: list[str], context: list[str]) -> tuple[str, bool]:
        """Remove an object from the staged configuration (activate and commit apply it)."""
        if len(args) != 2:
            raise ValueError
        kind, name = args[0], _qualify(args[1], context)
        with state.change(self.root) as st:
            if f"{kind}:{name}" not in st["staged"]:
                return MSG["no_object"].format(name=f"{kind} {name}"), False
            del st["staged"][f"{kind}:{name}"]
        return "", True

    def show(self, args: list[str]) -> tuple[str, bool]:
        st = state.read(self.root)
        if len(args) >= 2 and args[0] == "Certificate":
            obj = st["staged"].get(f"Certificate:{args[1]}")
            if obj is None:
                return MSG["no_object"].format(name=f"Certificate {args[1]}"), False
            data = obj.get("CertificateData", "")
            if "-pem" in args[2:]:
                if not data.startswith("file://"):
                    return "Error: no certificate data bound.", False
                return self._cert(data[7:]).public_bytes(serialization.Encoding.PEM) \
                    .decode().strip(), True
            # UNCONFIRMED layout: property names and values, nothing else a procedure can use
            lines = [f"lab| {k} .. {v}" for k, v in obj.items()]
            return "\n".join(lines), True
        rows = [f"lab| {k.replace(':', ' .. ')}" for k in sorted(st["staged"])]
        return "\n".join(rows), True

    def _cert(self, name: str) -> x509.Certificate:
        data = (self.root / "files" / name).read_bytes()
        try:
            return x509.load_der_x509_certificate(data)
        except ValueError:
            return x509.load_pem_x509_certificate(data)

    async def certmgr(self, args: list[str]) -> tuple[str, bool]:
        opts = {a.split("=", 1)[0]: (a.split("=", 1) + [""])[1] for a in args}
        cert = opts.get("-clientcert")
        if not cert or not ({"-initiate", "-update", "-revoke"} & set(opts)):
            raise ValueError
        st = state.read(self.root)
        obj = st["staged"].get(f"Certificate:{cert}")
        if obj is None:
            return MSG["no_object"].format(name=f"Certificate {cert}"), False
        if "-revoke" in opts:
            if cert in st["revoked"]:
                return MSG["already_revoked"].format(cert=cert), False
            with state.change(self.root) as s:
                s["revoked"].append(cert)
            return MSG["revoked"].format(cert=cert), True
        server = st["staged"].get(f"CMPServer:{obj.get('CMPServer', '')}")
        if server is None:
            return f"Error: Certificate {cert} has no CMPServer.", False
        if "-initiate" in opts:
            if not all(opts.get(k) for k in ("-username", "-password", "-subject")):
                raise ValueError
            return await self._initiate(cert, server, opts)
        return self._lab_sign(cert, "update")

    async def _initiate(self, cert: str, server: dict[str, str],
                        opts: dict[str, str]) -> tuple[str, bool]:
        files = self.root / "files"
        port = int(server.get("Port", "0") or 0)
        subject = "/" + opts["-subject"].strip('"').replace(",", "/")
        if not self.cmp.get("port"):
            return self._lab_sign(cert, "initiate")
        out = files / ".cmp-out.pem"
        proc = await asyncio.create_subprocess_exec(
            "openssl", "cmp", "-cmd", "ir", "-server",
            f"127.0.0.1:{port}/{server.get('Path', 'pkix/')}",
            "-recipient", "/" + self.cmp["ca_subject"].replace(",", "/"),
            "-ref", opts["-username"], "-secret", f"pass:{opts['-password']}",
            "-newkey", str(self.root / ".lab/enrol.key"), "-subject", subject,
            "-certout", str(out), stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, preexec_fn=children.die_with_lab())
        text, _ = await proc.communicate()
        if proc.returncode != 0:
            errors = [ln for ln in text.decode(errors="replace").splitlines()
                      if "CMP error" in ln or "CMP warning" in ln]
            return "\n".join(errors + [MSG["failed"].format(op="initiate")]), False
        pem = out.read_bytes()
        out.unlink()
        c = x509.load_pem_x509_certificate(pem)
        pki.write(files / "cl_newcert.der", c.public_bytes(serialization.Encoding.DER))
        pki.write(files / "cl_newkey.pem", (self.root / ".lab/enrol.key").read_bytes(), 0o600)
        return MSG["received"].format(cert=cert), True

    def _lab_sign(self, cert: str, op: str) -> tuple[str, bool]:
        d = Path(self.cmp["dir"])
        ca = pki.load_cert(d / "ca.crt")
        key, new = pki.make_leaf(pki.load_key(d / "ca.key"), ca,
                                 pki.name("cos1.lab.example", o="lab"), 365)
        files = self.root / "files"
        pki.write(files / "cl_newcert.der", new.public_bytes(serialization.Encoding.DER))
        pki.write(files / "cl_newkey.pem", pki.key_pem(key), 0o600)
        return MSG["lab_signed"] + "\n" + MSG["received"].format(cert=cert), True

    def activate(self) -> tuple[str, bool]:
        with state.change(self.root) as st:
            st["previous"] = st["active"]
            st["active"] = st["staged"]
            st["activated"] = time.time()
            secs = st["revert_seconds"]
        loop = asyncio.get_running_loop()
        if self._revert is not None:
            self._revert.cancel()
        self._revert = loop.call_later(secs, self._revert_now)
        return MSG["activated"].format(secs=secs), True

    def resume_revert_timer(self) -> None:
        """A lab brought back: a configuration activated but not committed before it stopped
        still reverts when its time is up (at once if that passed meanwhile)."""
        st = state.read(self.root)
        if st.get("activated") is None:
            return
        left = st["activated"] + st["revert_seconds"] - time.time()
        self._revert = asyncio.get_running_loop().call_later(max(0.0, left), self._revert_now)

    def _revert_now(self) -> None:
        with state.change(self.root) as st:
            if st.get("activated") is None:
                return
            st["active"] = st["staged"] = st["previous"]
            st["activated"] = None
            st["reverted"] = st.get("reverted", 0) + 1
        (self.root / ".lab/events.log").open("a").write(MSG["reverted"] + "\n")

    def commit(self) -> tuple[str, bool]:
        with state.change(self.root) as st:
            if st.get("activated") is None:
                return MSG["nothing"], False
            st["activated"] = None
            st["previous"] = None
        if self._revert is not None:
            self._revert.cancel()
            self._revert = None
        return MSG["committed"], True


def _qualify(name: str, context: list[str]) -> str:
    """An object name as typed inside `cc CertificateStore X`: `clcert` means `X/clcert`."""
    if context[0].startswith("CertificateStore/") and "/" not in name:
        return f"{context[0].split('/', 1)[1]}/{name}"
    return name


def settings(lab_root: Path) -> dict[str, Any]:
    """The CMP settings recorded in lab.json (ref, psk, port, CA subject)."""
    return json.loads((lab_root / "lab.json").read_text())["devices"]["cos1"]["cmp"]
