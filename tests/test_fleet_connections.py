"""A fan-out's connections on real sshd: opened ahead of each device's turn, a failure tried
once, the login key decoded once per run."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import asyncssh
import pytest
import yaml

from runbook.errors import TransportError
from runbook.hostkeys import HostKeyStore
from runbook.inventory import Inventory
from runbook.loader import load_procedure
from runbook.transport import Transport

from .helpers import engine_for, write_procedure


def procedure(tmp_path: Path, command: str) -> Path:
    return write_procedure(tmp_path, f"""
        id: test.fleet
        title: Fleet
        vendor: test
        source: {{document: tests}}
        risk: low
        params:
          fleet: {{type: targets}}
        steps:
          - id: each
            title: Each device
            kind: run
            foreach: fleet
            concurrency: 1
            command: {command!r}
        """)


class Relay:
    """A TCP relay to `to` (None: accept and hang up at once) that counts its connections."""

    def __init__(self, to: int | None) -> None:
        self.to = to
        self.accepted = 0
        self.seen = asyncio.Event()
        self.ended = asyncio.Event()
        self.port = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> Relay:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.seen.set()
        if self.to is None:
            w.close()
            return
        if self.to == 0:  # never answers; notes when the client gives up
            await r.read()
            self.ended.set()
            w.close()
            return
        ur, uw = await asyncio.open_connection("127.0.0.1", self.to)

        async def pipe(a: asyncio.StreamReader, b: asyncio.StreamWriter) -> None:
            try:
                while data := await a.read(65536):
                    b.write(data)
                    await b.drain()
            finally:
                b.close()

        await asyncio.gather(pipe(r, uw), pipe(ur, w), return_exceptions=True)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


def port_of(device) -> int:  # noqa: ANN001
    """The port of the test sshd, as its inventory gives it."""
    (host,) = yaml.safe_load(Path(device.inventory_path).read_text())["all"]["hosts"].values()
    return int(host["ansible_port"])


def fleet(device, tmp_path: Path, ports: dict[str, int]) -> Path:  # noqa: ANN001
    """An inventory of the named devices, each at its own port of 127.0.0.1, all trusting
    the test sshd's host key (a relay passes that key on)."""
    inv = yaml.safe_load(Path(device.inventory_path).read_text())
    (host,) = inv["all"]["hosts"].values()
    pinned = Path(inv["all"]["vars"]["runbook_known_hosts"])
    key = pinned.read_text().split(" ", 1)[1]
    pinned.write_text("".join(f"[127.0.0.1]:{p} {key}" for p in set(ports.values())))
    inv["all"]["hosts"] = {n: {**host, "ansible_port": p} for n, p in ports.items()}
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(inv))
    return path


async def run(device, tmp_path: Path, inv: Path, command: str) -> tuple[str, str]:  # noqa: ANN001
    path = procedure(tmp_path, command)
    engine, journal, _ = engine_for(device.data_dir)
    try:
        run_id = engine.create(load_procedure(path), path.read_text(), str(path),
                               {"fleet": ",".join(Inventory.load(inv).targets)}, {},
                               Inventory.load(inv))
        async with asyncio.timeout(60):
            state = await engine.execute(run_id, {})
        return state, journal.get_run(run_id).reason
    finally:
        journal.close()


async def test_devices_past_the_concurrency_are_connected_before_their_turn(sshd,
                                                                            tmp_path) -> None:
    """One device at a time: the first device's command waits until the third device has
    been connected to. Connecting only in each device's turn, it would wait for ever."""
    sshd_port = port_of(sshd)
    third = await Relay(sshd_port).start()
    fifo = tmp_path / "go"
    os.mkfifo(fifo)

    async def release() -> None:
        await third.seen.wait()
        await asyncio.to_thread(fifo.write_text, "go\n")  # opens once the command reads

    inv = fleet(sshd, tmp_path, {"dev1": sshd_port, "dev2": sshd_port, "dev3": third.port})
    waiter = asyncio.ensure_future(release())
    try:
        # the first device to run (dev1: one at a time, in order) waits; the others do not
        state, reason = await run(sshd, tmp_path, inv,
                                  f"mkdir {tmp_path / 'first'} 2>/dev/null && read x < {fifo};"
                                  " echo done")
    finally:
        waiter.cancel()
        third.close()
    assert state == "succeeded", reason
    assert third.accepted == 1


async def test_a_device_that_cannot_be_reached_is_tried_once_not_twice(sshd, tmp_path) -> None:
    """The third device's connection fails while it is opened ahead of its turn; its turn
    reports that failure instead of connecting again."""
    sshd_port = port_of(sshd)
    dead = await Relay(None).start()
    inv = fleet(sshd, tmp_path, {"dev1": sshd_port, "dev2": sshd_port, "dev3": dead.port})
    try:
        state, reason = await run(sshd, tmp_path, inv, "echo done")
    finally:
        dead.close()
    assert state == "failed" and "dev3" in reason, reason
    assert dead.accepted == 1


async def test_closing_a_runs_connections_stops_those_still_being_opened(sshd,
                                                                         tmp_path) -> None:
    silent = await Relay(0).start()
    inv = fleet(sshd, tmp_path, {"dev1": silent.port})
    transport = Transport(Inventory.load(inv), HostKeyStore(tmp_path / "keys"))
    try:
        transport.warm(["dev1"], 1)
        await silent.seen.wait()
        await transport.close()
        async with asyncio.timeout(30):
            await silent.ended.wait()  # the half-open connection was dropped, not left
    finally:
        silent.close()
    with pytest.raises(TransportError):
        await Transport(Inventory.load(inv), HostKeyStore(tmp_path / "keys"),
                        connect_timeout=0.5).connect("dev1")


async def test_a_run_decodes_its_login_key_once_for_all_its_devices(sshd, tmp_path,
                                                                    monkeypatch) -> None:
    """Decoding an RSA key costs tens of milliseconds of processor time: a fleet of a
    thousand devices on one key decoded it a thousand times."""
    sshd_port = port_of(sshd)
    decoded: list[object] = []
    real = asyncssh.load_keypairs

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        decoded.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(asyncssh, "load_keypairs", counted)
    inv = fleet(sshd, tmp_path, {f"dev{n}": sshd_port for n in range(1, 5)})
    state, reason = await run(sshd, tmp_path, inv, "echo done")
    assert state == "succeeded", reason
    assert len(decoded) == 1


async def test_a_key_file_that_cannot_be_read_is_named(sshd, tmp_path) -> None:
    inv = yaml.safe_load(sshd.inventory_path.read_text())
    inv["all"]["vars"]["ansible_ssh_private_key_file"] = str(tmp_path / "no-such-key")
    sshd.inventory_path.write_text(yaml.safe_dump(inv))
    transport = Transport(Inventory.load(sshd.inventory_path), HostKeyStore(tmp_path / "k"))
    with pytest.raises(TransportError) as err:
        await transport.connect("sshd1")
    await transport.close()
    assert str(err.value).startswith("sshd1 (127.0.0.1:")
    assert str(err.value).endswith(f": cannot read the private key {tmp_path / 'no-such-key'}:"
                                   " No such file or directory")
