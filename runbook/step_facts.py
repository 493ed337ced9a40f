"""What the engine asks of a step before it runs: its words, its weight, what it changes."""

from __future__ import annotations

from .context import LoadedRun
from .inventory import Target
from .journal import Journal
from .model import BackupStep, CopyStep, Procedure, RestoreStep, StepBase
from .template import render


def critical(procedure: Procedure, step: StepBase) -> bool:
    """Whether confirming `step` needs more than a yes: it cannot be undone, or the whole
    procedure is critical. The TUI asks to type the device's name; headless `--yes` does not
    cover it, only `--confirm STEP`."""
    return bool(step.irreversible) or procedure.risk == "critical"


def posix_shell(target: Target) -> bool:
    """Whether the target's login shell is POSIX (`runbook_shell`, posix by default)."""
    return str(target.vars.get("runbook_shell", "posix")) == "posix"


def describe(step: StepBase) -> str:
    """What a step without a command does, in one line (shown and journaled as its command)."""
    if isinstance(step, BackupStep):
        return "backup " + " ".join(step.paths)
    if isinstance(step, RestoreStep):
        return f"restore the backups of step {step.from_step}" + (
            ": " + " ".join(step.paths) if step.paths else "")
    if isinstance(step, CopyStep):
        return f"copy {{{{ {step.source.target}.name }}}}:{step.source.path} to {step.path}"
    return ""


def paths_to_save(journal: Journal, run: LoadedRun, step: StepBase, target: Target) -> list[str]:
    """Remote paths backed up before the step runs: `modifies`, plus what the kind changes."""
    values = run.template_values(target)
    paths = [render(p, values, "text").text for p in step.modifies]
    if isinstance(step, BackupStep):
        paths += [render(p, values, "text").text for p in step.paths]
    elif isinstance(step, CopyStep):
        paths.append(render(step.path, values, "text").text)
    elif isinstance(step, RestoreStep):
        paths += sorted({b.path for b in journal.backups(run.id, step.from_step)
                         if b.target == target.name and b.state != "dir"})
    return list(dict.fromkeys(paths))
