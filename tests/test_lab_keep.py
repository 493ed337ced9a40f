"""A kept lab comes back as it was left (ports, host keys, device state); a folder's lab runs
once at a time; children of a killed lab are reaped."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from runbook.lab import children, state
from runbook.lab.lab import Lab, LabError


def _ports(lab: Lab) -> dict[str, int]:
    return {name: srv.port for name, srv in lab.servers.items()}


async def test_a_kept_lab_comes_back_with_its_ports_keys_and_state(tmp_path: Path) -> None:
    where = tmp_path / "lab"
    first = await Lab.start(where, "healthy", keep=True)
    try:
        assert not first.restored
        ports, known = _ports(first), (where / "known_hosts").read_text()
        cmp_port = first.spec("cos1")["cmp"].get("port")
        with state.change(first.root("fmc1")) as st:
            st["left_by_the_first_lab"] = True
        with pytest.raises(LabError, match="in use"):
            await Lab.start(where, "healthy", keep=True)  # one lab per folder at a time
    finally:
        await first.stop()

    again = await Lab.start(where, "healthy", keep=True)
    try:
        assert again.restored
        assert _ports(again) == ports
        assert (where / "known_hosts").read_text() == known  # pinned keys still verify
        assert again.spec("cos1")["cmp"].get("port") == cmp_port
        assert state.read(again.root("fmc1")).get("left_by_the_first_lab") is True
    finally:
        await again.stop()

    other = await Lab.start(where, "fmc-ca-expired", keep=True)  # another scenario: anew
    try:
        assert not other.restored
        assert (where / "known_hosts").read_text() != known
        assert "left_by_the_first_lab" not in state.read(other.root("fmc1"))
    finally:
        await other.stop()


async def test_a_lab_that_is_not_kept_is_built_anew(tmp_path: Path) -> None:
    where = tmp_path / "lab"
    first = await Lab.start(where, "healthy")
    known = (where / "known_hosts").read_text()
    await first.stop()
    again = await Lab.start(where, "healthy")
    try:
        assert not again.restored and (where / "known_hosts").read_text() != known
    finally:
        await again.stop()


def _long_child() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "3600"], process_group=0)


async def test_the_next_start_reaps_children_a_killed_lab_left(tmp_path: Path) -> None:
    where = tmp_path / "lab"
    where.mkdir()
    left = _long_child()  # as a lab killed before its child's death signal would leave it
    stranger = _long_child()
    try:
        children.record(where, left.pid)
        rows = json.loads((where / children.RECORD).read_text())
        rows.append({"pgid": stranger.pid, "start": "1"})  # a recycled pid: another program
        (where / children.RECORD).write_text(json.dumps(rows))
        lab = await Lab.start(where, "healthy")
        await lab.stop()
        assert left.wait(timeout=30) == -9
        assert stranger.poll() is None
    finally:
        for p in (left, stranger):
            p.kill()
            p.wait()


async def test_a_kept_lab_whose_port_is_taken_says_so(tmp_path: Path) -> None:
    where = tmp_path / "lab"
    first = await Lab.start(where, "healthy", keep=True)
    port = first.servers["fmc1"].port
    await first.stop()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        with pytest.raises(LabError, match=rf"fmc1's port {port}.*--fresh"):
            await Lab.start(where, "healthy", keep=True)
    again = await Lab.start(where, "healthy", keep=True)  # nothing of the failed start held on
    try:
        assert again.restored and again.servers["fmc1"].port == port
    finally:
        await again.stop()


async def test_the_next_start_reaps_what_a_killed_labs_devices_left(tmp_path: Path) -> None:
    """A command hanging on a device (a grandchild of the lab: no death signal reaches it)."""
    where = tmp_path / "lab"
    where.mkdir()
    env = {**os.environ, "LAB_ROOT": str(where)}
    other = {**os.environ, "LAB_ROOT": str(tmp_path / "another-lab")}
    left = subprocess.Popen(["sleep", "3600"], env=env, start_new_session=True)
    elsewhere = subprocess.Popen(["sleep", "3600"], env=other, start_new_session=True)
    try:
        lab = await Lab.start(where, "healthy")
        await lab.stop()
        assert left.wait(timeout=30) == -9
        assert elsewhere.poll() is None
    finally:
        for p in (left, elsewhere):
            p.kill()
            p.wait()
