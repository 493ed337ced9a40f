"""Values cannot inject: on a real OpenSSH sshd and /bin/sh, every accepted placement of a
placeholder hands the command the value as one exact argument, and every other placement is
refused by `validate` at its line and column with the fix."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbook.errors import ProcedureError, TemplateError
from runbook.hostkeys import HostKeyStore
from runbook.inventory import Inventory
from runbook.loader import load_procedure_text
from runbook.template import Value, render
from runbook.transport import Transport

from .helpers import cli, cli_env, write_procedure

# Prints its argument count, then the sha256 of each argument, one a line.
ARGS_SCRIPT = """#!/bin/sh
printf 'argc %s\\n' "$#"
for a in "$@"; do h=$(printf '%s' "$a" | sha256sum); printf '%s\\n' "${h%% *}"; done
"""

# Every accepted placement: a template, and the arguments ARGS must receive (`{v}`: the value).
FORMS: list[tuple[str, list[str]]] = [
    ("ARGS {{ v }}", ["{v}"]),
    ("ARGS --subject=CN={{ v }}", ["--subject=CN={v}"]),
    ("ARGS {{ v }}.pem", ["{v}.pem"]),
    ("ARGS -- {{ v }} -x", ["--", "{v}", "-x"]),
    ("true; ARGS {{ v }} | cat", ["{v}"]),
    ("out=$(ARGS pre{{ v }}post); printf '%s\\n' \"$out\"", ["pre{v}post"]),
    ("V={{ v }}; ARGS \"$V\"", ["{v}"]),
    ("for x in {{ v }}; do ARGS \"$x\"; done", ["{v}"]),
    ("if [ -n {{ v }}x ]; then ARGS {{ v }}; fi", ["{v}"]),
    ("ARGS {{ v }} && ARGS {{ v }}-{{ v }}", ["{v}", "{v}-{v}"]),
]
LARGE = 16 * 1024
PAYLOADS = ["'", '"', "\\", "$(touch PWNED)", "`touch PWNED`", "; touch PWNED", "| touch PWNED",
            "& touch PWNED &", "a\ntouch PWNED", "a\r\ntouch PWNED\r", "--", "-n", "-e x",
            "é ∑ 日本 🙂", "' ; touch PWNED ; '", '" ; touch PWNED ; "', "$HOME ${HOME} $1 $$",
            "*", "~", "#", "a\\\nb", "\t \n", "", "\x01\x7f\x1b[31m", "EOF", "}\n"]
NO_NUL = st.text(st.characters(blacklist_characters="\x00"), max_size=200)
SPECIAL = st.lists(st.sampled_from(PAYLOADS + list("'\"\\$`;|&\n\r-() <>{}*?!#~=%")),
                   max_size=12).map("".join)
VALUES = st.one_of(NO_NUL, SPECIAL, st.builds(str.__add__, SPECIAL, NO_NUL))


def large_forms() -> list[int]:
    """The forms that use a value once (twice 64 KiB is over Linux's 128 KiB per argument)."""
    return [i for i, (t, _) in enumerate(FORMS) if t.count("{{") == 1]


def expected(value: str, which: list[int] | None = None) -> list[str]:
    """What ARGS prints for every form (or those in `which`), in order."""
    out = []
    for i, (_template, args) in enumerate(FORMS):
        if which is not None and i not in which:
            continue
        out.append("==")
        for call in ([args] if args != ["{v}", "{v}-{v}"] else [["{v}"], ["{v}-{v}"]]):
            out += [f"argc {len(call)}", *(_sha(a, value) for a in call)]
    return out


def _sha(arg: str, value: str) -> str:
    return hashlib.sha256(arg.replace("{v}", value).encode()).hexdigest()


class Device:
    """One SSH connection to the sshd, reused by every example."""

    def __init__(self, sshd: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.root = Path(sshd.root)
        (self.root / "ARGS").write_text(ARGS_SCRIPT)
        (self.root / "ARGS").chmod(0o755)
        self.transport = Transport(Inventory.load(sshd.inventory_path),
                                   HostKeyStore(sshd.data_dir))

    def run(self, value: str) -> list[str]:
        """Every form with `value`, as one command: one round trip per value (a command must
        fit in one SSH packet and, on Linux, in 128 KiB: a 64 KiB value goes alone)."""
        if len(value.encode()) > LARGE:
            return [line for i in large_forms() for line in self._run(value, [i])]
        return self._run(value, list(range(len(FORMS))))

    def _run(self, value: str, which: list[int]) -> list[str]:
        parts = [render(FORMS[i][0].replace("ARGS", str(self.root / "ARGS")),
                        {"v": Value(value)}).text for i in which]
        command = f"cd {self.root} || exit 9\n" + "".join(f"echo ==\n{p}\n" for p in parts)
        out: list[str] = []

        def on_line(stream: str, line: str) -> None:
            out.append(line if stream == "stdout" else f"stderr: {line}")

        result = self.loop.run_until_complete(
            self.transport.exec("sshd1", command, timeout=60, on_line=on_line))
        assert result.exit_status == 0, out
        return out


@pytest.fixture
def device(sshd):  # type: ignore[no-untyped-def]
    loop = asyncio.new_event_loop()
    dev = Device(sshd, loop)
    try:
        yield dev
    finally:
        loop.run_until_complete(dev.transport.close())
        loop.close()


def test_every_payload_in_every_placement_is_one_exact_argument(device: Device) -> None:
    for payload in PAYLOADS:
        assert device.run(payload) == expected(payload), payload
    assert not (device.root / "PWNED").exists()


def test_a_64_kib_value_is_one_exact_argument(device: Device) -> None:
    head = "".join(PAYLOADS).encode()
    value = (head + b"Z9- a" * 20000)[:65536].decode()  # 64 KiB of UTF-8, specials first
    assert len(value.encode()) == 65536
    assert device.run(value) == expected(value, large_forms())
    assert not (device.root / "PWNED").exists()


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(value=VALUES)
def test_any_value_in_any_placement_is_one_exact_argument(device: Device, value: str) -> None:
    assert device.run(value) == expected(value)
    assert not (device.root / "PWNED").exists()


REFUSED = [
    ("ARGS '{{ v }}'", "remove the quotes around {{ v }}"),
    ('ARGS "--subject={{ v }}"', "remove the quotes around {{ v }}"),
    ("ARGS \"$(echo '{{ v }}')\"", "remove the quotes around {{ v }}"),
    ("ARGS $'{{ v }}'", "remove the $'…' quotes"),
    ("cat <<EOF\n{{ v }}\nEOF", "here-document"),
    ("cat <<'EOF'\nx {{ v }}\nEOF", "here-document"),
    ("ARGS x # {{ v }}", "comment"),
    ("ARGS `echo {{ v }}`", "backquotes"),
    ("ARGS ${X:-{{ v }}}", "out of ${…}"),
    ("ARGS $(( {{ v }} + 1 ))", "out of $((…))"),
    ("ARGS ${{ v }}", "remove the $ before"),
    ("ARGS \\{{ v }}", "remove the backslash"),
]


def proc(command: str) -> str:
    body = "".join(f"      {line}\n" for line in command.split("\n"))
    return ("id: t.inject\ntitle: T\nvendor: test\nsource: {document: t}\nrisk: low\n"
            "params:\n  dev: {type: target}\n  v: {type: string}\n"
            "steps:\n  - id: s\n    title: S\n    kind: run\n    target: dev\n"
            f"    command: |-\n      echo ok\n{body}")


@pytest.mark.parametrize(("command", "fix"), REFUSED)
def test_unsafe_placements_are_refused_at_their_line_and_column(command: str, fix: str) -> None:
    text = proc(command)
    with pytest.raises(ProcedureError) as err:
        load_procedure_text(text, "p.yaml")
    assert fix in err.value.detail
    line = text.splitlines()[err.value.line - 1]
    assert line[err.value.column - 1:].startswith("{{ v }}"), (line, err.value.column)
    with pytest.raises(TemplateError):  # and the renderer refuses it too
        render(command, {"v": Value("x")})


def test_a_quoted_placeholder_and_a_secret_in_a_command_fail_validate(tmp_path: Path) -> None:
    path = write_procedure(tmp_path, """
        id: t.quoted
        title: T
        vendor: test
        source: {document: t}
        risk: low
        params:
          dev: {type: target}
          subject: {type: string}
        steps:
          - id: sign
            title: Sign
            kind: run
            target: dev
            command: openssl req -new -subj "/CN={{ subject }}" -key k.pem
        """)
    code, out, err = asyncio.run(cli(["validate", str(path)], cli_env(tmp_path, tmp_path)))
    assert code == 2
    line = path.read_text().splitlines()[13]
    assert f"{path}:14:{line.index('{{') + 1}: " in out + err
    assert "remove the quotes around {{ subject }}: values are quoted for you" in out + err
    assert "Traceback" not in err
