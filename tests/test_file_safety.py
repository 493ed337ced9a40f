"""The data directory, the journal and the backup store are private, and the run is locked."""

from __future__ import annotations

import signal

import pytest

from runbook.backups import BackupStore
from runbook.errors import UnsafeDirectory
from runbook.journal import Journal
from runbook.paths import data_dir

from .helpers import cli, cli_env, start_until, write_procedure


def test_journal_files_are_private(tmp_path) -> None:
    d = data_dir(tmp_path / "data")
    j = Journal.open(d)
    j.create_run(procedure_id="p", procedure_title="t", procedure_path="x",
                 procedure_hash="0" * 64, procedure_text="", params={}, secret_names=[],
                 inventory={})
    try:
        assert d.stat().st_mode & 0o777 == 0o700
        for name in ("journal.db", "journal.db-wal", "journal.db-shm"):
            assert (d / name).stat().st_mode & 0o777 == 0o600, name
        assert j.integrity() == "ok"
    finally:
        j.close()


def test_data_dir_writable_by_others_is_refused(tmp_path) -> None:
    d = tmp_path / "shared"
    d.mkdir(mode=0o777)
    d.chmod(0o777)
    with pytest.raises(UnsafeDirectory, match="writable by other users"):
        data_dir(d)


async def test_cli_refuses_unsafe_data_dir_in_one_line(tmp_path) -> None:
    d = tmp_path / "shared"
    d.mkdir()
    d.chmod(0o775)
    code, out, err = await cli(["runs"], cli_env(d, tmp_path))
    assert code == 6
    assert err.startswith("runbook: unsafe data directory:") and "Traceback" not in err


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "a\0b", "x" * 5000,
                                  "AB" * 32, ""])
def test_backup_store_names_come_only_from_hashes(tmp_path, name) -> None:
    store = BackupStore(tmp_path)
    with pytest.raises(ValueError):
        store.path(name)
    sha = store.put(b"data")
    assert store.path(sha).resolve().is_relative_to(store.root.resolve())
    assert store.get(sha) == b"data"


async def test_second_process_on_the_same_run_is_refused(ssh_device, tmp_path) -> None:
    path = write_procedure(tmp_path, """
        id: test.lock
        title: Holds the run
        vendor: test
        source: {document: tests}
        risk: low
        params: {dev: {type: target}}
        steps:
          - {id: slow, title: Slow, kind: run, target: dev, command: "echo ready; sleep 60"}
        """)
    env = cli_env(ssh_device.data_dir, tmp_path)
    proc, run_id = await start_until(["run", str(path), "-i", str(ssh_device.inventory_path),
                                      "-p", f"dev={ssh_device.name}"], env)
    try:
        code, out, err = await cli(["resume", run_id, "--in-doubt", "rerun"], env)

        assert code == 6
        assert f"run {run_id} is in use by process {proc.pid}" in err
        assert ssh_device.server.commands == ["echo ready; sleep 60"]
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()


async def test_two_runs_never_change_one_device_file_at_once(ssh_device, tmp_path) -> None:
    holder = write_procedure(tmp_path, """
        id: test.holder
        title: Changes app.conf slowly
        vendor: test
        source: {document: tests}
        risk: low
        params: {dev: {type: target}}
        steps:
          - {id: change, title: Change, kind: run, target: dev, modifies: [app.conf],
             command: "echo a >> app.conf"}
          - {id: slow, title: Slow, kind: run, target: dev, command: "echo ready; sleep 60"}
        """, "holder.yaml")
    other = write_procedure(tmp_path, """
        id: test.other
        title: Also changes app.conf
        vendor: test
        source: {document: tests}
        risk: low
        params: {dev: {type: target}}
        steps:
          - {id: change, title: Change, kind: run, target: dev, modifies: [app.conf],
             command: "echo b >> app.conf"}
        """, "other.yaml")
    env = cli_env(ssh_device.data_dir, tmp_path)
    args = ["-i", str(ssh_device.inventory_path), "-p", f"dev={ssh_device.name}"]
    proc, run_id = await start_until(["run", str(holder), *args], env)
    try:
        code, out, err = await cli(["run", str(other), *args], env)
        assert code == 1
        assert (f"app.conf on 127.0.0.1:{ssh_device.server.port} is being changed by run "
                f"{run_id} (process {proc.pid}") in out
        assert (ssh_device.root / "app.conf").read_text() == "a\n"  # b never written
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    code, out, err = await cli(["run", str(other), *args], env)  # the holder is gone
    assert code == 0, out + err
