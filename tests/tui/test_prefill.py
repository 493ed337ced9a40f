"""The Parameters form starts from the devices' inventory variables, the values last used with
the procedure (never secrets, kept 0600) and, under `runbook demo`, the lab's test secrets."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path
from typing import Any

import yaml
from textual.widgets import Select

from runbook.screens import create_app
from runbook.screens.params import ParamsScreen
from runbook.screens.run import RunScreen
from runbook.screens.widgets import Field

from ..helpers import REPO
from .conftest import DEMO, SECRET
from .test_e2e import until

CMP_INITIATE = str(REPO / "procedures/clavister/cmp-initiate.yaml")
SIC_RESET = str(REPO / "procedures/checkpoint/mds-sic-reset.yaml")


def field(screen: Any, name: str) -> str:
    return str(screen.query_one(f"#param-{name}", Field).value)


async def open_params(pilot: Any, path: str) -> ParamsScreen:
    app = pilot.app
    app.push_screen(ParamsScreen(app.backend, path))
    await until(pilot, lambda: isinstance(app.screen, ParamsScreen), "the parameters")
    await pilot.pause()
    assert isinstance(app.screen, ParamsScreen)
    return app.screen


async def test_the_demo_prefills_the_labs_values_and_its_test_secret(tmp_path: Path) -> None:
    app = create_app(data_dir=tmp_path / "data", lab="healthy")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.backend.inventory is not None, "the lab")
        cmp_port = app.backend.inventory.targets["cos1"].vars["cmp_port"]
        form = await open_params(pilot, CMP_INITIATE)
        assert form.query_one("#param-firewall", Select).value == "cos1"
        assert (field(form, "cmp_fqdn"), field(form, "cmp_port")) == ("127.0.0.1",
                                                                       str(cmp_port))
        assert field(form, "reference") == "lab-ref-4711"
        assert field(form, "subject_cn") == "cos1.lab.example"
        assert field(form, "psk") == "lab-psk-0815"
        assert "cos1's inventory" in str(form.query_one("#hint-reference").render())
        await pilot.press("escape")
        form = await open_params(pilot, SIC_RESET)
        assert form.query_one("#param-management", Select).value == "mds1"
        assert (field(form, "domain"), field(form, "domain_ip")) == ("Domain1", "192.0.2.10")
        assert field(form, "gateway_objects") == "GW-Cluster-Member-A GW-Cluster-Member-B"
        assert field(form, "sic_key") == ""  # not a lab value: the engineer chooses it
        inventory = Path(app.backend.inventory_path or "")
    # the same lab's inventory opened as any other: its values, but no secret
    plain = create_app(data_dir=tmp_path / "data2", inventory_path=inventory)
    async with plain.run_test(size=(120, 40)) as pilot:
        form = await open_params(pilot, CMP_INITIATE)
        assert field(form, "reference") == "lab-ref-4711"
        assert field(form, "psk") == ""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_form_remembers_the_last_values_but_never_secrets(tmp_path: Path) -> None:
    port = closed_port()  # nothing answers: the run fails at once, its values are kept
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"lab": {"hosts": {
        "fw1": {"ansible_host": "127.0.0.1", "ansible_port": port, "runbook_role": "test",
                "label": "fromvar"},
        "fw2": {"ansible_host": "127.0.0.1", "ansible_port": port,
                "runbook_role": "test"}}}}}}))
    data = tmp_path / "data"
    app = create_app(data_dir=data, inventory_path=inventory)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_params(pilot, str(DEMO))
        assert form.query_one("#param-device", Select).value is Select.NULL  # two devices
        assert field(form, "label") == "renew"  # the procedure's default
        form.query_one("#param-device", Select).value = "fw2"
        form.query_one("#param-label", Field).value = "custom"
        form.query_one("#param-token", Field).value = SECRET
        await pilot.pause()
        await pilot.press("ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, RunScreen), "the run")
        await app.workers.wait_for_complete()
        saved = data / "params.json"
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        assert SECRET not in saved.read_text()
        assert json.loads(saved.read_text())["lab.renew-demo"]["label"] == "custom"
        await pilot.press("escape")
    again = create_app(data_dir=data, inventory_path=inventory)
    async with again.run_test(size=(120, 40)) as pilot:
        form = await open_params(pilot, str(DEMO))
        assert form.query_one("#param-device", Select).value == "fw2"
        assert field(form, "label") == "custom"
        assert "last used" in str(form.query_one("#hint-label").render())
        assert field(form, "token") == ""
        # another device with its own variable: the untouched field takes the device's value
        form.query_one("#param-device", Select).value = "fw1"
        await until(pilot, lambda: field(form, "label") == "fromvar", "fw1's label")
        # a typed value is never overwritten by a device's
        form.query_one("#param-label", Field).value = "typed"
        form.query_one("#param-device", Select).value = "fw2"
        await pilot.pause()
        form.query_one("#param-device", Select).value = "fw1"
        await pilot.pause()
        assert field(form, "label") == "typed"
