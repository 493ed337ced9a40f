"""A real PostgreSQL server for the tests: a private cluster on a free loopback port.

`initdb` into a fresh directory, started with `pg_ctl`, stopped at the end of the session. As
root the cluster runs as the `postgres` system account (PostgreSQL refuses to run as root).
The journal connects as `runbook`, a role with no superuser rights (only CREATEDB, to give
each test its own database), as a team's DBA would set it up. `RUNBOOK_TEST_PG` names an
existing server's admin connection string instead.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def binaries() -> Path | None:
    """The folder holding initdb and pg_ctl, or None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    return next((Path(d) for d in dirs if (Path(d) / "initdb").exists()), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CA: Path | None = None  # the test cluster's TLS CA certificate (None for an external server)


def _tls_files(top: Path, owner: str | None) -> list[str]:
    """A CA and a server certificate for 127.0.0.1 (made with cryptography); server options."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    from runbook.lab import pki

    global CA
    ca_key, ca = pki.make_ca(pki.name("runbook test database CA"))
    key = pki.new_key()
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cert = (x509.CertificateBuilder().subject_name(pki.name("127.0.0.1"))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pki.write(top / "ca.pem", pki.cert_pem(ca))
    pki.write(top / "server.crt", pki.cert_pem(cert))
    pki.write(top / "server.key", pki.key_pem(key), 0o600)
    if owner:
        pw = pwd.getpwnam(owner)
        for f in ("server.crt", "server.key"):
            os.chown(top / f, pw.pw_uid, pw.pw_gid)
    CA = top / "ca.pem"
    return ["-c ssl=on", f"-c ssl_cert_file={top / 'server.crt'}",
            f"-c ssl_key_file={top / 'server.key'}"]


def _as_owner(cmd: list[str], owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--", *cmd] if owner else cmd


@contextmanager
def cluster() -> Iterator[str]:
    """Start a private cluster; yield its admin connection string; stop and remove it."""
    if os.environ.get("RUNBOOK_TEST_PG"):
        yield os.environ["RUNBOOK_TEST_PG"]
        return
    bin_dir = binaries()
    assert bin_dir is not None
    owner = "postgres" if os.geteuid() == 0 else None
    top = Path(tempfile.mkdtemp(prefix="runbook-pg-"))
    data = top / "data"
    if owner:
        pw = pwd.getpwnam(owner)
        os.chown(top, pw.pw_uid, pw.pw_gid)
    port = _free_port()
    log = top / "server.log"
    try:
        subprocess.run(_as_owner([str(bin_dir / "initdb"), "-D", str(data), "-U", "admin",
                                  "-A", "trust", "--no-sync", "-E", "UTF8"], owner),
                       check=True, capture_output=True)
        opts = " ".join([f"-c listen_addresses=127.0.0.1 -p {port} -k {top}",
                         "-c max_connections=200", *_tls_files(top, owner)])
        subprocess.run(_as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log),
                                  "-o", opts, "-w", "start"], owner),
                       check=True, capture_output=True)
        admin = f"postgresql://admin@127.0.0.1:{port}/postgres"
        import psycopg

        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CREATE ROLE runbook LOGIN CREATEDB")
        yield admin
    finally:
        subprocess.run(_as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                  "stop"], owner), capture_output=True)
        shutil.rmtree(top, ignore_errors=True)


def new_database(admin: str) -> str:
    """A fresh database owned by the unprivileged `runbook` role; its connection string."""
    import psycopg

    name = "t_" + secrets.token_hex(6)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} OWNER runbook")
    host_port = admin.split("@", 1)[1].rsplit("/", 1)[0]
    return f"postgresql://runbook@{host_port}/{name}"
