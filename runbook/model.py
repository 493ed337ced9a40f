"""Procedure, parameter and step types: the in-memory form of a procedure YAML file."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from .rollout import parse_size

ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"
PARAM_PATTERN = r"^[a-z_][a-z0-9_]*$"

ParamType = Literal["string", "int", "bool", "ip", "choice", "secret", "target", "targets"]
Risk = Literal["low", "medium", "high", "critical"]


class Strict(BaseModel):
    """Base for file models: unknown keys are errors, values are never coerced silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"bad regular expression {value!r}: {exc}") from None
    return value


class Source(Strict):
    """The vendor document a procedure encodes, and the part of it."""

    document: str = Field(description="Title or file name of the source document.")
    section: str = Field("", description="Section, step numbers or heading within the document.")
    url: str = Field("", description="Where the document can be read, when public.")


OneOrMore = Annotated[list[str], BeforeValidator(lambda v: [v] if isinstance(v, str) else v,
                                                 json_schema_input_type=str | list[str])]


class Accepts(Strict):
    """Which devices a `target`/`targets` parameter takes: any of `role`, any of `vendor`.

    A device's roles are its inventory `runbook_role`; its vendor is its `runbook_vendor`
    variable or the name of a group it is in. Unset fields accept anything.
    """

    role: OneOrMore = Field(default_factory=list, description="Inventory roles accepted.")
    vendor: OneOrMore = Field(default_factory=list, description="Vendors accepted.")


class Param(Strict):
    """A typed procedure parameter."""

    type: ParamType = Field(description="Value type; `secret` values are never stored.")
    description: str = ""
    default: Any = None
    required: bool = Field(True, description="Whether a value must be given (or defaulted).")
    choices: list[str] | None = Field(None, description="Allowed values for `choice`.")
    pattern: str | None = Field(None, description="Regular expression a string value must match.")
    accepts: Accepts | None = Field(None, description="Devices a target parameter takes, e.g. "
                                                      "`{role: ftd}`; others are refused.")

    _check_pattern = field_validator("pattern")(lambda v: v if v is None else _check_regex(v))

    @model_validator(mode="after")
    def _consistent(self) -> Param:
        if self.type == "choice" and not self.choices:
            raise ValueError("a `choice` parameter needs a non-empty `choices` list")
        if self.type != "choice" and self.choices is not None:
            raise ValueError("`choices` is only allowed on `choice` parameters")
        if self.accepts is not None and self.type not in ("target", "targets"):
            raise ValueError("`accepts` is only allowed on `target` and `targets` parameters")
        if self.type == "secret" and self.default is not None:
            raise ValueError("a `secret` parameter cannot have a default (it would be stored)")
        if (self.type == "choice" and self.default is not None
                and self.default not in (self.choices or [])):
            raise ValueError(f"default {self.default!r} is not one of the choices")
        return self


class Expect(Strict):
    """What a step's result must look like to count as success."""

    exit: int | list[int] | Literal["any"] = Field(
        0, description="Accepted exit status(es), or `any`.")
    match: list[str] = Field(default_factory=list,
                             description="Regexes that must all match the output.")
    not_match: list[str] = Field(default_factory=list,
                                 description="Regexes that must not match the output.")

    @field_validator("match", "not_match", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    def exit_ok(self, status: int | None) -> bool:
        """Whether `status` is an accepted exit status."""
        if self.exit == "any":
            return True
        accepted = [self.exit] if isinstance(self.exit, int) else self.exit
        return status in accepted


class Evidence(Strict):
    """Why an output pattern can be trusted: a quoted sample of real output and its source.

    `pattern` names one of the step's `expect.match`, `expect.not_match`, `capture` or
    `verify_match` patterns, exactly as written. The pattern must match `sample`; a `not_match`
    pattern (a failure marker) must also *not* match `success`, documented output of the same
    command when all is well. Placeholders in the pattern take their values from `values`.
    """

    pattern: str = Field(description="The pattern, exactly as written in the step.")
    sample: str = Field(min_length=1, description="Output quoted from the source that the "
                                                  "pattern must match.")
    source: str = Field(min_length=1, description="Document title and section (a seed, or a "
                                                  "public vendor document named by title).")
    success: str | None = Field(None, description="For a `not_match` pattern: documented "
                                                  "output on success, which it must not match.")
    values: dict[str, str] = Field(default_factory=dict,
                                   description="Values for the pattern's placeholders.")


class StepBase(Strict):
    """Fields every step kind shares."""

    if TYPE_CHECKING:  # each kind declares its own Literal `kind`; the type checker sees a str
        kind: str

    id: str = Field(pattern=ID_PATTERN, description="Unique within the procedure.")
    title: str
    description: str = Field("", description="Markdown: what the step does and why.")
    target: str | None = Field(None, description="Name of a `target` parameter to run on.")
    foreach: str | None = Field(None, description="Name of a `targets` parameter to fan out over.")
    concurrency: int = Field(10, ge=1, le=1000, description="Fan-out limit with `foreach`.")
    serial: int | str | list[int | str] | None = Field(
        None, description="Roll a `foreach` step out in batches: 10, '10%', or a list such as "
                          "[1, 5, '25%'] (a canary first; the last size repeats).")
    max_fail: int | str = Field(0, description="With `serial`: devices that may fail (0, or "
                                               "'5%') before no further batch starts.")
    rollout: str | None = Field(
        None, pattern=r"^[a-z][a-z0-9-]*$",
        description="Consecutive `foreach` steps with the same rollout name run batch by batch "
                    "together (e.g. backup -> copy -> verify on each batch before the next).")
    timeout: float = Field(300, gt=0, description="Seconds before the step is stopped.")
    retries: int = Field(0, ge=0, le=100)
    retry_delay: float = Field(2, ge=0)
    confirm: bool | str = Field(False, description="Ask the operator before running (message).")
    when: str | None = Field(None, description="Condition on params and captures, e.g. "
                                               "`mode == 'push_cert'`.")
    modifies: list[str] = Field(default_factory=list,
                                description="Remote files the step changes; backed up first.")
    rollback: list[str] = Field(default_factory=list,
                                description="Commands that undo the step, run on its target.")
    verify: str | None = Field(None, description="Command that succeeds if the step took effect; "
                                                 "offered when the step is in doubt.")
    verify_match: list[str] = Field(
        default_factory=list, description="Regexes the verify command's output must all match "
                                          "(for devices whose commands exit 0 either way).")
    approve: Annotated[int, Field(ge=1, le=10)] | Literal["other"] | None = Field(
        None, description="Four eyes: `other` (one person who is not driving the run) or a "
                          "number of such people who must approve (`runbook approve RUN STEP`) "
                          "before the step runs.")
    irreversible: str | None = Field(
        None, description="Why this step cannot be undone. Once it has taken effect, rollback "
                          "refuses to undo it or any step before it.")
    expect: Expect = Field(default_factory=Expect)
    capture: dict[str, str] = Field(default_factory=dict,
                                    description="name -> regex with one group, read from output.")
    evidence: list[Evidence] = Field(
        default_factory=list, description="For each output pattern, a quoted sample and its "
                                          "source (required by `runbook validate --strict`).")

    @field_validator("serial")
    @classmethod
    def _check_serial(cls, v: Any) -> Any:
        for spec in v if isinstance(v, list) else [] if v is None else [v]:
            if parse_size(spec) == 0:
                raise ValueError("a batch of 0 devices would never finish")
        if isinstance(v, list) and not v:
            raise ValueError("give at least one batch size")
        return v

    @field_validator("max_fail")
    @classmethod
    def _check_max_fail(cls, v: Any) -> Any:
        return parse_size(v)

    @field_validator("rollback", "modifies", "verify_match", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("capture")
    @classmethod
    def _check_capture(cls, v: dict[str, str]) -> dict[str, str]:
        for name, pattern in v.items():
            if not re.match(PARAM_PATTERN, name):
                raise ValueError(f"capture name {name!r} must match {PARAM_PATTERN}")
            if re.compile(_check_regex(pattern)).groups < 1:
                raise ValueError(f"capture {name!r}: the regex needs one group ( ... )")
        return v

    @model_validator(mode="after")
    def _one_place(self) -> StepBase:
        if self.target and self.foreach:
            raise ValueError("use either `target` or `foreach`, not both")
        return self

    @property
    def on_device(self) -> bool:
        """Whether the step talks to a device."""
        return True


def _secrets_field() -> Any:
    return Field(default_factory=dict, description=(
        "Shell variables set from stdin before the command runs (not exported), e.g. "
        "`KEY_PASS: \"{{ key_pass }}\"`, used as \"$KEY_PASS\": the way a secret reaches a "
        "command without being on the device's process list."))


def _stdin_field() -> Any:
    return Field(None, description="Text written to the command's standard input (after the "
                                   "`secrets` lines), e.g. `\"{{ key_pass }}\"`.")


def _check_secret_names(v: dict[str, str]) -> dict[str, str]:
    for name in v:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            raise ValueError(f"secrets: {name!r} is not a shell variable name "
                             "(letters, digits, _)")
    return v


class RunStep(StepBase):
    """Run a shell command on the target over SSH exec."""

    kind: Literal["run"]
    command: str
    secrets: dict[str, str] = _secrets_field()
    stdin: str | None = _stdin_field()

    _names = field_validator("secrets")(lambda v: _check_secret_names(v))


class WaitStep(StepBase):
    """Poll a command until `expect` holds or `timeout` passes."""

    kind: Literal["wait"]
    command: str
    interval: float = Field(5, gt=0, description="Seconds between polls.")
    poll_timeout: float = Field(30, gt=0, description="Seconds one poll may take.")
    secrets: dict[str, str] = _secrets_field()
    stdin: str | None = _stdin_field()

    _names = field_validator("secrets")(lambda v: _check_secret_names(v))


class ManualStep(StepBase):
    """Show the Markdown `description` and wait for the operator to confirm it was done."""

    kind: Literal["manual"]

    @property
    def on_device(self) -> bool:
        return False


class BackupStep(StepBase):
    """Save remote files (or whole folders) so that a later step or a rollback can restore them.

    Use it for files that a later step changes on *another* device (e.g. an FMC pushing
    certificates to its FTDs). Such a snapshot has no "state after its step", so rollback
    restores it without the changed-behind-our-back check that `modifies` backups get.
    """

    kind: Literal["backup"]
    paths: list[str] = Field(min_length=1, description="Files or folders to save.")


class RestoreStep(StepBase):
    """Put back files saved by an earlier step of this run, checking their hashes."""

    kind: Literal["restore"]
    from_step: str = Field(description="Id of the step whose backups to restore.")
    paths: list[str] = Field(default_factory=list,
                             description="Only these paths (default: all of that step's).")


class Endpoint(Strict):
    """One end of a copy: a device (target param) and a path on it."""

    target: str = Field(description="Name of a `target` parameter.")
    path: str


class CopyStep(StepBase):
    """Copy a file from one device to another through this machine, hashes checked at both ends.

    The destination is the step's `target` (or each device of `foreach`) at `path`; it is backed
    up before it is replaced. The file's mode is kept unless `mode` is given.
    """

    kind: Literal["copy"]
    source: Endpoint = Field(alias="from")
    path: str = Field(description="Destination path on the step's target(s).")
    mode: str | None = Field(None, pattern=r"^0?[0-7]{3,4}$",
                             description="Octal mode for the copy (default: the source's).")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CertStep(StepBase):
    """Read a certificate from the target and check it: dates, key match, chain, comparisons.

    Facts are kept in the journal and the change record (never key material); with `facts_as:
    ca` they are also captured as `ca_subject`, `ca_issuer`, `ca_serial`, `ca_not_after`,
    `ca_days_left`, `ca_fingerprint` for later steps. `require` conditions see the facts by
    name (`subject`, `issuer`, `serial`, `days_left`, `key_matches`, `chains_to_ca`, ...)
    besides params and captures, e.g. `issuer == new_ca_subject` or `serial != old_serial`.
    """

    kind: Literal["cert"]
    path: str | None = Field(None, description="Certificate file on the device (PEM or DER).")
    command: str | None = Field(None, description="Command whose output holds the certificate.")
    key: str | None = Field(None, description="Private key file: checked to match, never kept.")
    ca: str | None = Field(None, description="CA certificate (or chain, root last) to verify "
                                             "against.")
    warn_days: int = Field(90, ge=0, description="Warn when fewer days are left.")
    fail_days: int = Field(0, ge=0, description="Fail when fewer days are left.")
    expired: Literal["fail", "warn"] = Field("fail", description="An expired certificate fails "
                                             "the step, or (for a renewal) only warns.")
    facts_as: str | None = Field(None, pattern=r"^[a-z_][a-z0-9_]*$",
                                 description="Prefix under which facts are captured.")
    require: list[str] = Field(default_factory=list,
                               description="Conditions over the facts that must hold.")

    @model_validator(mode="after")
    def _one_source(self) -> CertStep:
        if (self.path is None) == (self.command is None):
            raise ValueError("a cert step needs exactly one of `path` or `command`")
        return self


class CliStep(StepBase):
    """Drive a prompt-driven CLI (not a POSIX shell) over an interactive session."""

    kind: Literal["cli"]
    prompt: str | None = Field(None, description="Regex matching the device's prompt; by "
                               "default the login prompt of the device's platform (its "
                               "`runbook_access` profile).")
    lines: list[str] = Field(min_length=1, description="Lines to send, one command each.")
    errors: list[str] = Field(default_factory=list,
                              description="Regexes that mark a command's output as failed.")
    answers: dict[str, str] = Field(default_factory=dict,
                                    description="Question regex -> answer to send (only these "
                                                "are answered).")
    command_timeout: float = Field(60, gt=0, description="Seconds one command may take.")

    _regexes = field_validator("prompt")(lambda v: _check_regex(v) if v is not None else v)


Step = Annotated[RunStep | WaitStep | ManualStep | BackupStep | RestoreStep | CopyStep
                 | CertStep | CliStep, Field(discriminator="kind")]
STEP_KINDS = ("run", "wait", "manual", "backup", "restore", "copy", "cert", "cli")


class Procedure(Strict):
    """A documented procedure: metadata, typed params and ordered steps."""

    id: str = Field(pattern=ID_PATTERN)
    title: str
    vendor: str
    source: Source
    risk: Risk
    version: str = "1"
    description: str = ""
    params: dict[str, Param] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1)

    @field_validator("params")
    @classmethod
    def _param_names(cls, v: dict[str, Param]) -> dict[str, Param]:
        for name in v:
            if not re.match(PARAM_PATTERN, name):
                raise ValueError(f"parameter name {name!r} must match {PARAM_PATTERN}")
        return v

    def step(self, step_id: str) -> StepBase:
        """Return the step with that id; raises KeyError."""
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    @property
    def secret_params(self) -> list[str]:
        """Names of the `secret` params."""
        return [n for n, p in self.params.items() if p.type == "secret"]
