"""Small holes an outside user found: foreign data directories, a full disk, runs shown
`running` after their process died, `--in-doubt verify` without a verify command, comments
on unknown steps."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from runbook.journal import Journal

from .helpers import cli, cli_env, start_until, write_procedure

PROCEDURE = """
id: test.holes
title: Small holes
vendor: test
source: {document: tests}
risk: low
params: {dev: {type: target}}
steps:
  - {id: one, title: One, kind: run, target: dev, command: "echo one >> log.txt"}
  - id: slow
    title: Slow
    kind: run
    target: dev
    command: "[ -e resumed ] || { echo ready; sleep 60; }"
  - {id: last, title: Last, kind: run, target: dev, command: "echo last >> log.txt"}
"""


def _run_args(device, path: Path) -> list[str]:
    return ["run", str(path), "-i", str(device.inventory_path), "-p", f"dev={device.name}"]


async def test_a_data_directory_owned_by_another_user_is_refused(tmp_path) -> None:
    if os.geteuid() == 0:
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, 65534, 65534)
    else:
        theirs = Path("/usr")  # root's, not writable by others: only the owner is wrong
    code, out, err = await cli(["runs"], cli_env(theirs, tmp_path))
    assert code == 6, out + err
    assert "owned by" in err and "chown" in err and "--data-dir" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
async def test_a_run_no_process_holds_is_shown_interrupted(ssh_device, tmp_path, sig) -> None:
    path = write_procedure(tmp_path, PROCEDURE)
    env = cli_env(ssh_device.data_dir, tmp_path)
    proc, run_id = await start_until(_run_args(ssh_device, path), env)

    _code, out, _err = await cli(["show", run_id], env)  # while it runs: running, and by whom
    assert "state: running — held by " in out and "(pid " in out

    proc.send_signal(sig)
    _out, err = await proc.communicate()
    if sig == signal.SIGTERM:
        assert proc.returncode == 130
        assert f"runbook resume {run_id}" in err.decode()  # the message names the run

    code, out, err = await cli(["runs"], env)
    assert code == 0 and re.search(rf"{run_id}\s+interrupted", out), out
    code, out, err = await cli(["show", run_id], env)
    assert "state: interrupted" in out and f"runbook resume {run_id}" in out
    code, out, err = await cli(["--json", "show", run_id], env)
    assert '"state": "interrupted"' in out and '"held_by": null' in out


async def test_in_doubt_verify_without_a_verify_command_says_why(ssh_device, tmp_path) -> None:
    path = write_procedure(tmp_path, PROCEDURE)
    env = cli_env(ssh_device.data_dir, tmp_path)
    proc, run_id = await start_until(_run_args(ssh_device, path), env)
    proc.kill()
    await proc.communicate()

    code, out, err = await cli(["resume", run_id, "--in-doubt", "verify"], env)

    assert code == 4
    assert "has no verify command, so verify cannot decide" in out + err
    assert "--in-doubt rerun|skip|done|rollback|abort" in out + err


async def test_a_comment_on_an_unknown_step_is_refused(ssh_device, tmp_path) -> None:
    path = write_procedure(tmp_path, PROCEDURE.replace("[ -e resumed ] ||", "true ||"))
    env = cli_env(ssh_device.data_dir, tmp_path)
    code, out, err = await cli(_run_args(ssh_device, path), env)
    assert code == 0, out + err
    run_id = re.search(r"run (\S+):", out).group(1)

    code, out, err = await cli(["comment", run_id, "typo", "--step", "sloww"], env)
    assert code == 2
    assert "has no step 'sloww'" in err and "one, slow, last" in err

    code, out, err = await cli(["comment", run_id, "fine", "--step", "slow"], env)
    assert code == 0, err
    with Journal.open(ssh_device.data_dir) as j:
        comments = [e.data for e in j.events(run_id) if e.kind == "comment"]
    assert comments == [{"text": "fine", "step_id": "slow", "target": None}]


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs for the data directory (skipped where mounting is not allowed)."""
    mnt = tmp_path / "small"
    mnt.mkdir(mode=0o700)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs",
                           str(mnt)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


BIG = """
id: test.full
title: Fills the disk
vendor: test
source: {document: tests}
risk: low
params: {dev: {type: target}}
steps:
  - {id: one, title: One, kind: run, target: dev, command: "echo one"}
  - id: loud
    title: Loud
    kind: run
    target: dev
    command: "[ -e big ] && head -c 3000000 /dev/zero | tr '\\\\0' x | fold -w 100; echo done"
  - {id: last, title: Last, kind: run, target: dev, command: "echo last"}
"""


async def test_a_full_disk_is_one_clear_line_and_the_run_resumes(ssh_device, tmp_path,
                                                                  small_disk) -> None:
    (ssh_device.root / "big").touch()
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (1200 * 1024))  # leaves room for the journal, not the output
    path = write_procedure(tmp_path, BIG)
    env = cli_env(small_disk, tmp_path)
    inv = str(ssh_device.inventory_path)

    code, out, err = await cli(["run", str(path), "-i", inv, "-p", "dev=dev1"], env)

    run_id = re.search(r"run (\S+):", out).group(1)
    assert code == 6, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("runbook: disk full: no space left") and \
        f"runbook resume {run_id}" in lines[0]
    code, out, _ = await cli(["show", run_id], env)
    assert code == 0 and "state: interrupted" in out, out

    filler.unlink()
    (ssh_device.root / "big").unlink()
    code, out, err = await cli(["resume", run_id, "--in-doubt", "rerun"], env)
    assert code == 0, out + err
    with Journal.open(small_disk) as j:
        assert j.get_run(run_id).state == "succeeded"
        assert j.integrity() == "ok"


def test_closing_a_journal_that_can_no_longer_write_raises_nothing(tmp_path) -> None:
    """A full disk at the very end (releasing the run's lock) must not print a traceback
    after the one clear line: the lock names this process and frees itself when it ends."""
    journal = Journal.open(tmp_path)
    run_id = journal.create_run(procedure_id="p", procedure_title="P", procedure_path="p",
                                procedure_hash="0" * 64, procedure_text="id: p", params={},
                                secret_names=[], inventory={"hosts": {}})
    journal.lock(run_id)
    journal.db.execute("PRAGMA query_only = ON")  # every write now fails, as on a full disk
    journal.close()
    with Journal.open(tmp_path) as again:
        assert again.get_run(run_id).lock_pid == os.getpid()  # the release could not be written
        again.lock(run_id)  # ...and this process may still take it
