"""The lab's fault switches, seen through the engine's transport: fail, drop, slow and hang."""

from __future__ import annotations

import pytest

from runbook.errors import ConnectionLost
from runbook.hostkeys import HostKeyStore
from runbook.inventory import Inventory
from runbook.transport import Transport


@pytest.fixture
async def faulty(lab_factory, tmp_path):
    lab = await lab_factory("healthy", faults={
        "fmc1": {"fail": "^generate_certs", "slow": "^sftunnel_status", "slow_seconds": 0.3},
        "ftd1": {"drop": "^cat "}, "gw1": {"hang": "^fw stat"}})
    transport = Transport(Inventory.load(lab.inventory_path), HostKeyStore(tmp_path))
    yield lab, transport
    await transport.close()


async def run(transport, name, command, timeout=20):
    lines: list[str] = []
    result = await transport.exec(name, command, timeout=timeout,
                                  on_line=lambda s, line: lines.append(line))
    return result, lines


async def test_failing_command(faulty) -> None:
    _, transport = faulty
    result, lines = await run(transport, "fmc1", "generate_certs.pl")
    assert result.exit_status == 1
    assert lines == ["generate_certs.pl: error: operation failed (lab fault)"]


async def test_slow_command_still_answers(faulty) -> None:
    _, transport = faulty
    result, lines = await run(transport, "fmc1", "sftunnel_status.pl")
    assert result.exit_status == 0 and len(lines) == 4  # one line per peer


async def test_dropped_connection_mid_command(faulty) -> None:
    lab, transport = faulty
    with pytest.raises(ConnectionLost, match="ftd1: the connection dropped while"):
        await run(transport, "ftd1", "cat /var/sf/peers/x")
    result, _ = await run(transport, "ftd1", "true")  # the next command reconnects
    assert result.exit_status == 0


async def test_hanging_command_is_stopped_at_its_timeout(faulty) -> None:
    _, transport = faulty
    result, _ = await run(transport, "gw1", "fw stat", timeout=0.5)
    assert result.timed_out and result.exit_status is None
