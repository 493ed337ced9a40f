"""A seeded crash campaign: run a lab procedure headless, SIGKILL it at random moments (inside
and between steps, during backups, rollback and export), resume as a careful operator would,
then check that nothing was lost or done twice and the devices end as they should.

    python -m tests.torture.campaign --kills 200 --seed 7      # the long campaign
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import re
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROC = "cisco/fmc-sftunnel-ca-renew"


@dataclass
class Report:
    """What a campaign did and found."""

    seed: int
    kills: int = 0
    resumes: int = 0
    runs: int = 0
    steps: int = 0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"seed {self.seed}: {self.runs} runs, {self.kills} kills, {self.resumes} resumes,"
                f" {self.steps} step attempts, {len(self.problems)} problems")


def snapshot(lab_dir: Path) -> dict[str, str]:
    """Every device file (not the simulators' own state) by path and sha256."""
    out = {}
    for p in sorted((lab_dir / "devices").rglob("*")):
        # Logs are evidence, not configuration: rollback leaves them (as it should).
        if p.is_file() and ".lab" not in p.parts and "log" not in p.parts:
            out[str(p.relative_to(lab_dir))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


async def runbook(args: list[str], env: dict[str, str], kill_after: int | None
                  ) -> tuple[int | None, str]:
    """Run `runbook ARGS`; SIGKILL it after `kill_after` output lines (None: let it finish)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runbook", *args, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    seen: list[str] = []
    killed = False
    while line := await proc.stdout.readline():
        seen.append(line.decode(errors="replace"))
        if kill_after is not None and len(seen) >= kill_after:
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
    await proc.wait()
    return (None if killed else proc.returncode), "".join(seen)


async def kill_export(args: list[str], env: dict[str, str], after: float) -> None:
    """Start an export and SIGKILL it after `after` seconds (or let it end first)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runbook", *args, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await asyncio.wait_for(proc.wait(), after)
    except TimeoutError:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()


async def campaign(seed: int, kills: int, work: Path, journal: str | None = None) -> Report:
    """Repeat run-to-the-end-under-fire and rollback-under-fire until `kills` kills are spent.

    `journal` is a PostgreSQL URL to run the campaign on the team journal (default: SQLite).
    """
    sys.path.insert(0, str(REPO))
    from runbook.backups import store_for
    from runbook.journal_chain import verify_chain
    from runbook.journals import open_journal
    from runbook.lab.lab import Lab

    rng = random.Random(seed)
    report = Report(seed)
    data = work / "data"
    env = {**os.environ, "RUNBOOK_HOME": str(data), "HOME": str(work),
           "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    env.pop("SSH_AUTH_SOCK", None)
    env.pop("RUNBOOK_JOURNAL", None)
    if journal:
        env["RUNBOOK_JOURNAL"] = journal
        env.setdefault("RUNBOOK_BACKUP_PASSPHRASE", "campaign team passphrase")
        os.environ.setdefault("RUNBOOK_BACKUP_PASSPHRASE", env["RUNBOOK_BACKUP_PASSPHRASE"])
    while report.kills < kills:
        lab = await Lab.start(work / f"lab{report.runs}", "ftd-tunnel-down")
        try:
            before = snapshot(lab.dir)
            report.runs += 1
            args = ["run", PROC, "-i", str(lab.inventory_path), "-p", "fmc=fmc1", "-p",
                    "fmc_secondary=fmc2", "--yes"]
            code, out = await runbook(args, env, rng.randint(1, 120))
            run_id = re.search(r"run (\S+):", out).group(1)
            while code is None or code == 4:
                if code is None:
                    report.kills += 1
                report.resumes += 1
                kill = rng.randint(1, 80) if report.kills < kills else None
                code, out = await runbook(["resume", run_id, "--in-doubt", "rerun", "--yes"],
                                          env, kill)
            if code != 0:
                report.problems.append(f"run {run_id} ended with exit {code}: {out[-500:]}")
                continue
            check_run(lab, run_id, data, report)
            # Now undo it, also under fire: the devices must end byte-identical to before.
            code = None
            while code is None:
                kill = rng.randint(1, 40) if report.kills < kills else None
                code, out = await runbook(["rollback", run_id], env, kill)
                report.kills += code is None
            if code != 0:
                report.problems.append(f"rollback of {run_id} exit {code}: {out[-500:]}")
            elif snapshot(lab.dir) != before:
                report.problems.append(f"rollback of {run_id} did not restore every file")
            dest = work / f"{run_id}.json"
            await kill_export(["export", run_id, "--format", "json", "-o", str(dest)], env,
                              rng.uniform(0.05, 0.6))
            report.kills += 1
            if dest.exists():  # a killed export leaves the whole file or none (atomic write)
                try:
                    json.loads(dest.read_text())
                except ValueError:
                    report.problems.append(f"a killed export left a partial {dest.name}")
            code, _ = await runbook(["export", run_id, "--format", "json", "-o", str(dest)],
                                    env, None)
            record = json.loads((work / f"{run_id}.json").read_text())
            if code != 0 or verify_chain(record["events"]) is not None:
                report.problems.append(f"export of {run_id} is not intact")
        finally:
            await lab.stop()
    j = open_journal(journal, data)
    try:
        if j.integrity() != "ok":
            report.problems.append(f"journal integrity: {j.integrity()}")
        store = store_for(j)
        for run in j.list_runs():
            if verify_chain(j.events(run.id)) is not None:
                report.problems.append(f"hash chain broken in run {run.id}")
            for b in j.backups(run.id):
                if b.sha256:
                    try:
                        store.get(b.sha256)
                    except Exception as exc:  # noqa: BLE001 - reported, not raised
                        report.problems.append(f"backup {b.path}: {exc}")
            attempts = j.attempts(run.id)
            report.steps += len(attempts)
            done: set[tuple[str, str | None]] = set()
            for a in attempts:
                key = (a.step_id, a.target)
                if key in done and a.status not in ("skipped",):
                    report.problems.append(f"{run.id}: {key} ran again after it succeeded")
                if a.status in ("succeeded", "rolled_back"):
                    done.add(key)
    finally:
        j.close()
    return report


def check_run(lab: object, run_id: str, data: Path, report: Report) -> None:
    """After the renewal: every FTD certificate chains to the FMC's current CA."""
    import subprocess
    ca = lab.root("fmc1") / "etc/sf/ca_root/cacert.pem"  # type: ignore[attr-defined]
    fmc_uuid = lab.spec("fmc1")["uuid"]  # type: ignore[attr-defined]
    for ftd in ("ftd1", "ftd2", "ftd3"):
        cert = lab.root(ftd) / "var/sf/peers" / fmc_uuid / "sftunnel-cert.pem"  # type: ignore
        ok = subprocess.run(["openssl", "verify", "-CAfile", str(ca), str(cert)],
                            capture_output=True).returncode == 0
        if not ok:
            report.problems.append(f"{run_id}: {ftd}'s certificate does not chain to the CA")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--journal", help="a postgresql:// URL (default: SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        report = asyncio.run(campaign(args.seed, args.kills, Path(d), args.journal))
    print(report.line())
    for p in report.problems:
        print("  problem:", p)
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
