"""Teams: four-eyes approval, handover between operators and OS users, moving runs between
journals, and who holds a run — over real SSH, on a real PostgreSQL server (and SQLite)."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import stat
import tempfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from . import helpers
from .helpers import cli, cli_env, start_until, write_procedure

APPROVED = """
id: test.four-eyes
title: Four eyes
vendor: test
source: {document: tests}
risk: high
params:
  dev: {type: target}
  dir: {type: string}
steps:
  - id: prepare
    title: Prepare
    kind: run
    target: dev
    command: "echo prepared > {{ dir }}/prepared"
  - id: change
    title: The change a second engineer must approve
    kind: run
    target: dev
    approve: other
    command: "echo changed > {{ dir }}/changed"
"""

HANDOVER = """
id: test.handover
title: Handover
vendor: test
source: {document: tests}
risk: medium
params:
  dev: {type: target}
  dir: {type: string}
steps:
  - id: night
    title: Night shift's step
    kind: run
    target: dev
    command: "echo night >> {{ dir }}/log"
  - id: morning
    title: Morning shift's step
    kind: run
    target: dev
    confirm: true
    command: "echo morning >> {{ dir }}/log"
"""

SLOW = """
id: test.slow
title: Slow
vendor: test
source: {document: tests}
risk: low
params:
  dev: {type: target}
steps:
  - id: slow
    title: Slow
    kind: run
    target: dev
    command: "echo '| ready'; sleep 30"
"""


def _env(device, tmp_path: Path, who: str, **extra: str) -> dict[str, str]:  # noqa: ANN001
    home = tmp_path / f"home-{who}"
    home.mkdir(exist_ok=True)
    return cli_env(device.data_dir, home, RUNBOOK_OPERATOR=who, **extra)


def _run_id(out: str, err: str) -> str:
    for line in (out + err).splitlines():
        for word in line.replace(":", " ").split():
            if word.count("-") == 2 and word[:8].isdigit():
                return word
    raise AssertionError(f"no run id in output:\n{out}{err}")


@pytest.mark.usefixtures("journal_backend")
async def test_a_step_that_asks_for_four_eyes_waits_until_someone_else_approves(
        ssh_device, tmp_path) -> None:
    proc = write_procedure(tmp_path, APPROVED)
    args = ["run", str(proc), "-i", str(ssh_device.inventory_path), "-p", "dev=" +
            ssh_device.name, "-p", f"dir={ssh_device.remote_dir}", "--yes"]
    alice = _env(ssh_device, tmp_path, "alice")
    code, out, err = await cli(args, alice)
    assert code == 3, out + err
    assert "waits for 1 more approval(s)" in out + err
    assert (ssh_device.root / "prepared").exists() and not (ssh_device.root / "changed").exists()
    run_id = _run_id(out, err)

    code, out, err = await cli(["approve", run_id, "change"], alice)
    assert code == 2 and "four eyes" in err  # nobody approves their own step
    code, out, err = await cli(["approve", run_id, "prepare"], _env(ssh_device, tmp_path, "bob"))
    assert code == 2 and "does not ask for approval" in err
    code, out, err = await cli(["approve", run_id, "nope"], _env(ssh_device, tmp_path, "bob"))
    assert code == 2 and "has no step 'nope'" in err

    code, out, err = await cli(["approve", run_id, "change", "--comment", "CAB-77 ok"],
                               _env(ssh_device, tmp_path, "bob"))
    assert code == 0, out + err
    code, out, err = await cli(["resume", run_id, "--yes"], alice)
    assert code == 0, out + err
    assert (ssh_device.root / "changed").read_text() == "changed\n"

    code, out, err = await cli(["--json", "export", run_id, "--format", "json", "-o",
                                str(tmp_path / "r.json")], alice)
    assert code == 0, out + err
    record = json.loads((tmp_path / "r.json").read_text())
    [approval] = record["approvals"]
    assert (approval["by"], approval["step_id"], approval["comment"]) == ("bob", "change",
                                                                          "CAB-77 ok")
    if helpers.JOURNAL:  # the server names the authenticated database role too
        assert approval["database_user"] == "runbook"
    code, out, err = await cli(["verify-record", str(tmp_path / "r.json")], alice)
    assert code == 0, out + err


async def test_a_run_held_by_a_live_process_cannot_be_taken_over(ssh_device, tmp_path,
                                                                 pg_url) -> None:
    helpers.JOURNAL = pg_url
    try:
        proc = write_procedure(tmp_path, SLOW)
        args = ["run", str(proc), "-i", str(ssh_device.inventory_path), "-p",
                "dev=" + ssh_device.name]
        holder, run_id = await start_until(args, _env(ssh_device, tmp_path, "alice"))
        try:
            code, out, err = await cli(["runs"], _env(ssh_device, tmp_path, "bob"))
            assert code == 0 and "held by alice@" not in out  # OS identity, not the name
            assert run_id in out and "held by " in out and "since" in out
            code, out, err = await cli(["resume", run_id, "--take-over", "--yes"],
                                       _env(ssh_device, tmp_path, "bob"))
            assert code == 6 and "in use by" in err, out + err
        finally:
            holder.send_signal(signal.SIGKILL)
            await holder.wait()
        code, out, err = await cli(["runs"], _env(ssh_device, tmp_path, "bob"))
        assert "free to resume" in out, out
    finally:
        helpers.JOURNAL = None


RUNUSER = shutil.which("runuser") or "/usr/sbin/runuser"


def _other_os_user() -> pwd.struct_passwd:
    """A second OS account that can run this interpreter and checkout, else skip (CI: fail)."""
    import subprocess
    import sys

    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("a handover between OS users needs root (to act as a second user)")
    user = pwd.getpwnam("nobody")
    probe = subprocess.run([RUNUSER, "-u", user.pw_name, "--", sys.executable, "-c",
                            "import runbook"], cwd="/", capture_output=True,
                           env={"PYTHONPATH": str(helpers.REPO), "PATH": "/usr/bin:/bin"})
    if probe.returncode != 0:
        why = ("the second account cannot run this Python or read this checkout (a private "
               "home directory?); .ci/run makes them reachable")
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    return user


def _share(path: Path, user: pwd.struct_passwd) -> None:
    os.chown(path, user.pw_uid, user.pw_gid)


async def test_the_morning_shift_takes_over_from_another_os_user_on_another_session(
        ssh_device, tmp_path, pg_url) -> None:
    other = _other_os_user()
    helpers.JOURNAL = pg_url
    try:
        proc = write_procedure(tmp_path, HANDOVER)
        inv_args = ["-i", str(ssh_device.inventory_path), "-p", "dev=" + ssh_device.name,
                    "-p", f"dir={ssh_device.remote_dir}"]
        code, out, err = await cli(["run", str(proc), *inv_args],
                                   cli_env(ssh_device.data_dir, tmp_path))
        assert code == 3, out + err  # the night shift stops at the confirmation
        run_id = _run_id(out, err)

        # Engineer B: another OS account with its own home, data directory and key copy.
        b_home = Path(tempfile.mkdtemp(prefix="runbook-b-"))
        os.chmod(b_home, stat.S_IRWXU)
        key = Path(ssh_device.inventory_path).parent / "client_key"
        inv = json.loads(json.dumps(__import__("yaml").safe_load(
            Path(ssh_device.inventory_path).read_text())))
        shutil.copy(key, b_home / "client_key")
        shutil.copy(Path(inv["all"]["vars"]["runbook_known_hosts"]), b_home / "known_hosts")
        inv["all"]["vars"]["ansible_ssh_private_key_file"] = str(b_home / "client_key")
        inv["all"]["vars"]["runbook_known_hosts"] = str(b_home / "known_hosts")
        (b_home / "inventory.yaml").write_text(json.dumps(inv))
        for p in [b_home, *b_home.iterdir()]:
            _share(p, other)
        env = cli_env(b_home / "data", b_home)
        env.pop("RUNBOOK_OPERATOR", None)
        runuser = [RUNUSER, "-u", other.pw_name, "--", "env", "-i",
                   *[f"{k}={v}" for k, v in env.items()]]

        async def as_b(*args: str) -> tuple[int, str, str]:
            import asyncio
            import sys

            p = await asyncio.create_subprocess_exec(
                *runuser, sys.executable, "-m", "runbook", *args,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, cwd=b_home)
            o, e = await p.communicate()
            return p.returncode or 0, o.decode(), e.decode()

        code, out, err = await as_b("runs")
        assert code == 0 and run_id in out and "free to resume" in out, out + err
        code, out, err = await as_b("show", run_id)
        assert code == 0 and "night" in out, out + err
        code, out, err = await as_b("resume", run_id, "--yes")
        assert code == 3 and "not taken over" in out + err, out + err
        code, out, err = await as_b("resume", run_id, "--yes", "--take-over", "-i",
                                    str(b_home / "inventory.yaml"))
        assert code == 0, out + err
        assert (ssh_device.root / "log").read_text() == "night\nmorning\n"

        code, out, err = await as_b("export", run_id, "--format", "md", "-o",
                                    str(b_home / "r.md"))
        assert code == 0, out + err
        text = (b_home / "r.md").read_text()
        me = f"{pwd.getpwuid(os.geteuid()).pw_name}@"
        assert f"{me}" in text and f"{other.pw_name}@" in text and "took over from" in text
        shutil.rmtree(b_home, ignore_errors=True)
    finally:
        helpers.JOURNAL = None


async def test_runs_travel_between_sqlite_and_postgresql_with_their_chain(ssh_device, tmp_path,
                                                                          pg_url) -> None:
    proc = write_procedure(tmp_path, HANDOVER)
    env = cli_env(ssh_device.data_dir, tmp_path)
    code, out, err = await cli(["run", str(proc), "-i", str(ssh_device.inventory_path), "-p",
                                "dev=" + ssh_device.name, "-p",
                                f"dir={ssh_device.remote_dir}", "--yes"], env)
    assert code == 0, out + err
    run_id = _run_id(out, err)
    sqlite = str(ssh_device.data_dir / "journal.db")
    copy = str(tmp_path / "copy.db")
    code, out, err = await cli(["journal", "copy", sqlite, pg_url], env)
    assert code == 0 and "copied 1 run" in out, out + err
    code, out, err = await cli(["journal", "copy", sqlite, pg_url], env)
    assert "1 already there" in out, out + err  # never overwritten
    code, out, err = await cli(["journal", "copy", pg_url, copy], env)
    assert code == 0, out + err
    records = []
    for journal in (sqlite, pg_url, copy):
        dest = tmp_path / f"record-{len(records)}.json"
        code, out, err = await cli(["--journal", journal, "export", run_id, "--format", "json",
                                    "-o", str(dest)], env)
        assert code == 0, out + err
        code, out, err = await cli(["verify-record", str(dest)], env)
        assert code == 0, out + err
        records.append(json.loads(dest.read_text()))
    # Each export seals the record with one more event in its own journal; all before agree.
    chains = [[e for e in r["events"] if e["kind"] != "record_sealed"] for r in records]
    assert chains[0] == chains[1] == chains[2]
    assert records[0]["steps"] == records[1]["steps"] == records[2]["steps"]


async def test_a_dump_of_the_team_journal_reveals_no_key_material(ssh_device, tmp_path,
                                                                 pg_url) -> None:
    from runbook.lab import pki

    from . import pgserver

    key = pki.new_key()
    pem = pki.key_pem(key)
    (ssh_device.root / "device.key").write_bytes(pem)
    proc = write_procedure(tmp_path, """
        id: test.key-swap
        title: Replace a private key
        vendor: test
        source: {document: tests}
        risk: high
        params:
          dev: {type: target}
          dir: {type: string}
        steps:
          - id: swap
            title: Swap the key
            kind: run
            target: dev
            modifies: ["{{ dir }}/device.key"]
            command: "echo replaced > {{ dir }}/device.key"
        """)
    helpers.JOURNAL = pg_url
    try:
        env = cli_env(ssh_device.data_dir, tmp_path)
        code, out, err = await cli(["run", str(proc), "-i", str(ssh_device.inventory_path),
                                    "-p", "dev=" + ssh_device.name, "-p",
                                    f"dir={ssh_device.remote_dir}"], env)
        assert code == 0, out + err
        run_id = _run_id(out, err)
        bin_dir = pgserver.binaries()
        assert bin_dir is not None
        import subprocess

        dump = subprocess.run([str(bin_dir / "pg_dump"), "--data-only", pg_url],
                              capture_output=True, check=True).stdout
        der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        assert b"PRIVATE KEY" not in dump and der.hex().encode() not in dump
        assert helpers.TEAM_PASSPHRASE.encode() not in dump
        assert b"\\\\x" in dump  # the blobs are there, as ciphertext

        wrong = {**env, "RUNBOOK_BACKUP_PASSPHRASE": "not the team's"}
        code, out, err = await cli(["rollback", run_id], wrong)
        assert code == 6 and "Nothing was changed" in out + err, out + err
        assert (ssh_device.root / "device.key").read_text() == "replaced\n"
        code, out, err = await cli(["rollback", run_id], env)
        assert code == 0, out + err
        assert (ssh_device.root / "device.key").read_bytes() == pem
    finally:
        helpers.JOURNAL = None
