"""--json errors as one object, `validate --json` as a list, and shell completion."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from runbook.commands.main import main
from runbook.journal import Journal

REPO = Path(__file__).resolve().parent.parent


def invoke(args: list[str], **env: str):
    return CliRunner().invoke(main, args, env=env, prog_name="runbook")


def test_json_errors_are_one_object_on_stderr(tmp_path) -> None:
    for args, title, code in ((["--json", "show", "nope"], "no such run", 2),
                              (["--json", "run"], "invalid input", 2),
                              (["--json", "runs", "--bogus"], "invalid input", 2),
                              (["--json", "run", "nope/none"], "invalid input", 2)):
        r = invoke(["--data-dir", str(tmp_path), *args])
        assert r.exit_code == code, r.stderr
        obj = json.loads(r.stderr)
        assert set(obj) == {"error", "title", "exit_code"}
        assert obj["title"] == title and obj["exit_code"] == code and obj["error"]
    r = invoke(["--data-dir", str(tmp_path), "show", "nope"])
    assert r.stderr.startswith("runbook: no such run: ")


def test_validate_json_lists_problems_and_is_empty_when_clean() -> None:
    good = str(REPO / "procedures" / "cisco" / "ftd-copy-sftunnel-certs.yaml")
    r = invoke(["--json", "validate", good])
    assert r.exit_code == 0 and json.loads(r.stdout) == []
    bad = str(REPO / "tests" / "procedures" / "bad" / "02-step-key-typo.yaml")
    r = invoke(["--json", "validate", good, bad, "no-such-file"])
    assert r.exit_code == 2
    problems = json.loads(r.stdout)
    assert problems[0] == {"file": bad, "line": 13, "column": 5,
                           "message": "steps[0] (id 'a'): unknown key 'comand' (did you mean "
                                      "'command'?)"}
    assert problems[1]["file"] == "no-such-file" and problems[1]["line"] is None


def complete(words: str, **env: str) -> list[str]:
    r = invoke([], _RUNBOOK_COMPLETE="bash_complete", COMP_WORDS=words,
               COMP_CWORD=str(len(words.split(" ")) - 1), **env)
    assert r.exit_code == 0, r.output
    return [line.split(",", 1)[1] for line in r.stdout.splitlines() if "," in line]


def test_completion_of_run_ids_procedures_and_hosts(tmp_path) -> None:
    data = tmp_path / "data"
    with Journal.open(data) as j:
        j.db.execute("INSERT INTO runs (id, created_at, updated_at, state, procedure_id, "
                     "procedure_title, procedure_path, procedure_hash, procedure_text, params, "
                     "secret_names, inventory, user, hostname) VALUES ('20261201-abc', 'x', "
                     "'x', 'failed', 'p', 't', 'f', 'h', '', '{}', '[]', '{}', 'u', 'h')")
    assert complete("runbook resume 2026", RUNBOOK_HOME=str(data)) == ["20261201-abc"]
    assert "last" in complete("runbook show ", RUNBOOK_HOME=str(data))
    assert complete("runbook run cisco/fmc", RUNBOOK_HOME=str(data))[0] == \
        "cisco/fmc-sftunnel-ca-renew"
    inv = str(REPO / "tests" / "inventories" / "site" / "hosts.ini")
    got = complete(f"runbook run cisco/x -i {inv} -p gateway=ftd0", RUNBOOK_HOME=str(data))
    assert got == ["gateway=ftd01", "gateway=ftd02", "gateway=ftd03", "gateway=ftd04"]
    assert complete("runbook resume x", RUNBOOK_HOME=str(tmp_path / "none")) == []


def test_completion_scripts_for_each_shell() -> None:
    for shell in ("bash", "zsh", "fish"):
        r = invoke([], _RUNBOOK_COMPLETE=f"{shell}_source")
        assert r.exit_code == 0 and "_RUNBOOK_COMPLETE" in r.stdout, shell
