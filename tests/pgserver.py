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
        return Path(found).parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    return next((Path(d) for d in dirs if (Path(d) / "initdb").exists()), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {top} -c max_connections=200"
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
