"""Secrets from where engineers keep them: environment, a command, the keyring, runbook.toml."""

from __future__ import annotations

import json
import re
import sys

import keyring
import pytest

from runbook import secret_sources as ss
from runbook.errors import UsageError

from .helpers import cli, cli_env
from .keyring_backend import MemoryKeyring

SIC_KEY = "SicKey-FromPass-5521"
ADMIN_PW = "AdminPw-FromKeyring-8830"


@pytest.fixture
def memory_keyring():
    before = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    yield ring
    keyring.set_keyring(before)


def test_command_gives_its_first_line_and_runs_without_a_shell(tmp_path) -> None:
    out = ss.from_command("k", f"{sys.executable} -c \"print('s3cret-line'); print('more')\"")
    assert out == "s3cret-line"
    marker = tmp_path / "touched"
    # No shell: `;` and `>` are plain arguments to printf, so nothing else runs.
    assert ss.from_command("k", f"printf '%s' 'a;b' ; touch {marker}").startswith("a;b;touch")
    assert not marker.exists()


def test_command_failure_never_shows_its_stderr() -> None:
    script = "import sys; sys.stderr.write('gpg: leaked-secret-value\\n'); sys.exit(2)"
    with pytest.raises(UsageError) as exc:
        ss.from_command("sic_key", f"{sys.executable} -c \"{script}\"")
    assert "failed (exit 2)" in str(exc.value) and "leaked-secret-value" not in str(exc.value)
    with pytest.raises(UsageError, match="cannot run `no-such-pass-tool`"):
        ss.from_command("k", "no-such-pass-tool show x")
    with pytest.raises(UsageError, match="printed nothing"):
        ss.from_command("k", "true")
    with pytest.raises(UsageError, match="gave no answer within 0.3 s"):
        ss.from_command("k", "sleep 20", timeout=0.3)


def test_keyring_lookup_and_clear_miss(memory_keyring) -> None:
    memory_keyring.set_password("runbook", "admin_password", "from-the-ring")
    memory_keyring.set_password("cp", "sic", "sic-from-ring")
    assert ss.from_keyring("admin_password", "") == "from-the-ring"
    assert ss.from_keyring("sic_key", "cp/sic") == "sic-from-ring"
    with pytest.raises(UsageError, match=r"nothing stored for runbook/other .*MemoryKeyring.*"
                                         r"keyring set runbook other"):
        ss.from_keyring("other", "")


def test_command_line_wins_over_config_and_unknown_names_are_refused(monkeypatch) -> None:
    monkeypatch.setenv("RB_A", "from-env-aaaa")
    given = ss.cli_sources(env=("a=RB_A",))
    configured = {"a": ss.parse_source("cmd:false", "cfg"),
                  "b": ss.parse_source("cmd:printf from-cmd-bbbb", "cfg")}
    assert ss.resolve(["a", "b"], given, configured) == {"a": "from-env-aaaa",
                                                        "b": "from-cmd-bbbb"}
    asked: list[str] = []
    assert ss.resolve(["c"], {}, configured, ask=lambda n: asked.append(n) or "typed") == \
        {"c": "typed"}
    assert asked == ["c"]
    with pytest.raises(UsageError, match="given for zz, which this procedure does not take"):
        ss.resolve(["a"], ss.cli_sources(cmd=("zz=printf x",)))
    with pytest.raises(UsageError, match="two sources"):
        ss.cli_sources(env=("a=X",), keyring=("a",))
    with pytest.raises(UsageError, match="expected env:VAR, cmd:COMMAND"):
        ss.parse_source("vault:x", "cfg")


def assert_on_stdin_only(lab) -> None:
    """The run succeeded, so push_cert found the SIC key equal to the one the gateways were
    given: the secret reached the devices; it did so on stdin, never on a command line."""
    for server in lab.servers.values():
        assert not any(s in c for s in (ADMIN_PW, SIC_KEY) for c in server.commands)


async def test_run_with_secrets_from_a_command_and_the_keyring(lab_factory, tmp_path) -> None:
    """A real procedure gets its secrets from `printf` and from a keyring backend; they reach
    the device and appear nowhere runbook wrote or showed."""
    lab = await lab_factory("healthy")
    data = tmp_path / "data"
    env = cli_env(data, tmp_path, PYTHON_KEYRING_BACKEND="tests.keyring_backend.EnvKeyring",
                  RB_TEST_KEYRING=json.dumps({"runbook/admin_password": ADMIN_PW}))
    args = ["run", "checkpoint/mds-sic-reset", "-i", str(lab.inventory_path), "-p",
            "management=mds1", "-p", "domain=Domain1", "-p", "domain_ip=192.0.2.10", "-p",
            "gateway_objects=GW-Cluster-Member-A GW-Cluster-Member-B", "--yes",
            "--confirm", "sic-reset",
            "--secret-cmd", f"sic_key=printf '%s\\nsecond line\\n' {SIC_KEY}",
            "--secret-keyring", "admin_password"]
    code, out, err = await cli(args, env)
    assert code == 0, out + err
    assert_on_stdin_only(lab)
    run_id = re.search(r"run (\S+):", out).group(1)
    code, shown, err2 = await cli(["show", run_id], env)
    for secret in (SIC_KEY, ADMIN_PW):
        assert secret not in out + err + shown + err2
        for p in data.rglob("*"):
            if p.is_file():
                assert secret.encode() not in p.read_bytes(), p


async def test_secret_sources_from_runbook_toml(lab_factory, tmp_path) -> None:
    lab = await lab_factory("healthy")
    conf = tmp_path / "rb.toml"
    conf.write_text(f'inventory = "{lab.inventory_path}"\noperator = "Jane Engineer"\n'
                    f'[secrets]\nsic_key = "cmd:printf {SIC_KEY}"\n'
                    'admin_password = "keyring:vault/cp-admin"\n')
    env = cli_env(tmp_path / "data", tmp_path, RUNBOOK_CONFIG=str(conf),
                  PYTHON_KEYRING_BACKEND="tests.keyring_backend.EnvKeyring",
                  RB_TEST_KEYRING=json.dumps({"vault/cp-admin": ADMIN_PW}))
    code, out, err = await cli(["run", "checkpoint/mds-sic-reset", "-p", "management=mds1",
                                "-p", "domain=Domain1", "-p", "domain_ip=192.0.2.10", "-p",
                                "gateway_objects=GW-Cluster-Member-A GW-Cluster-Member-B",
                                "--yes", "--confirm", "sic-reset"], env)
    assert code == 0, out + err
    assert_on_stdin_only(lab)
    code, cfg_out, _ = await cli(["--json", "config"], env)
    rows = {r["key"]: r for r in json.loads(cfg_out)["settings"]}
    assert rows["operator"] == {"key": "operator", "value": "Jane Engineer", "from": str(conf)}
    assert rows["secrets.admin_password"]["value"] == "keyring vault/cp-admin"
