"""runbook.toml: defaults a user would otherwise repeat, under command-line flags."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from runbook.commands.main import main
from runbook.config import ConfigError, load_config


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env or {})
    return result.exit_code, result.stdout, result.stderr


def test_file_values_flags_win_and_each_origin_is_shown(tmp_path) -> None:
    conf = tmp_path / "rb.toml"
    conf.write_text('inventory = "net/hosts.ini"\noperator = "Jane Engineer"\n'
                    'concurrency = 4\ndata_dir = "rbdata"\n'
                    '[secrets]\nsic_key = "cmd:pass show cp/sic"\n')
    code, out, err = run("--config", str(conf), "--concurrency", "7", "--json", "config",
                         env={"RUNBOOK_HOME": ""})
    assert code == 0, err
    rows = {r["key"]: (r["value"], r["from"]) for r in json.loads(out)["settings"]}
    assert rows["inventory"] == (str(tmp_path / "net/hosts.ini"), str(conf))
    assert rows["data_dir"] == (str(tmp_path / "rbdata"), str(conf))
    assert rows["operator"] == ("Jane Engineer", str(conf))
    assert rows["concurrency"] == (7, "--concurrency")
    assert rows["secrets.sic_key"] == ("cmd pass show cp/sic", f"{conf}: secrets.sic_key")
    code, out, _ = run("--config", str(conf), "--data-dir", str(tmp_path / "d"), "config")
    assert f"data_dir                 {tmp_path / 'd'}" in out and "--data-dir" in out


def test_no_file_means_defaults_but_a_named_missing_file_is_an_error(tmp_path) -> None:
    code, out, _ = run("config", env={"XDG_CONFIG_HOME": str(tmp_path), "RUNBOOK_CONFIG": ""})
    assert code == 0 and f"{tmp_path / 'runbook' / 'runbook.toml'} (not present)" in out
    assert "concurrency              10" in out
    code, _, err = run("--config", str(tmp_path / "none.toml"), "config")
    assert code == 2 and "none.toml: no such configuration file" in err


@pytest.mark.parametrize(("text", "message"), [
    ("inventroy = 'x'\n", "unknown setting 'inventroy'"),
    ("concurrency = 'ten'\n", "concurrency must be a int"),
    ("concurrency = 0\n", "between 1 and 1000"),
    ("operator = \n", r"rb.toml: Invalid value \(at line 1, column 12\)"),
    ("[secrets]\nsic = 'pass show x'\n", "secrets.sic: secret source 'pass show x': expected"),
])
def test_bad_config_is_one_clear_line(tmp_path, text, message) -> None:
    conf = tmp_path / "rb.toml"
    conf.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(str(conf))
    code, _, err = run("--config", str(conf), "config")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
