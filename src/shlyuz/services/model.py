"""A service definition: one regulation of the seed as data (pydantic v2). See docs/services.md field by field.

A definition has the provider's internal procedures (numbered steps: actor, action, duration, result that starts
the next step) and, per channel, the regulation's own numbering: the State Corporation's step list, and the
numbered processes ("N процесс") and conditions ("N шарт") of a chain with yes/no branches. Branches the text
leaves implicit carry ``inferred: true``; the seed's defects are kept in ``notes``, never silently fixed.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from shlyuz.services.duration import Duration
from shlyuz.services.rulespec import FeeWindow, Pickup, Rule, RuleKind
from shlyuz.services.vocab import (
    Actor,
    Automation,
    ChannelId,
    Check,
    Form,
    NoteKind,
    System,
)

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", min_length=2, max_length=64)]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]*$", max_length=40)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=4000)]

TARGET_RE = re.compile(
    r"^(?:(?P<kind>process|condition) (?P<number>[1-9][0-9]?)|refusal (?P<code>[A-Z][A-Z0-9_]*)|end)$"
)


class RefError(ValueError):
    """A cross-reference error raised by a whole-definition check, with the path (below the model that raised it)
    of the field at fault; the loader appends it to pydantic's location."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


TargetStr = Annotated[str, Field(pattern=TARGET_RE.pattern, description="process N | condition N | refusal CODE | end")]


class Names(_Model):
    kk: Text = Field(description="the name as the Kazakh seed writes it")
    ru: Text = Field(description="Russian name (not in the seed: the official Russian title, see ru_inferred)")
    en: Text
    ru_inferred: bool = Field(True, description="the seed is Kazakh only; the Russian name is supplied, not quoted")


class Annex(_Model):
    number: int = Field(ge=1, le=30)
    inferred: bool = Field(False, description="the header is missing from the seed; the number follows the sequence")


class Annexes(_Model):
    order_2017: Annex = Field(description="annex of Almaty akimat resolution No. 4/499 of 4 Dec 2017")
    order_2015: Annex = Field(description="annex of Almaty akimat resolution No. 3/539 of 9 Sep 2015 it restates")


class Standard(_Model):
    title_kk: Text
    act: Text = Field(description="the act approving the Standard, e.g. MHSD Order No. 279 of 28 April 2015")
    other_acts: list[Text] = Field(default_factory=list, description="further acts the regulation cites")


class Party(_Model):
    en: Text
    kk: Text


class Result(_Model):
    en: Text
    kk: Text
    forms: list[Form] = Field(min_length=1, description="form of the result: paper and/or electronic")
    refusal_possible: bool = Field(description="whether the regulation itself provides for a (motivated) refusal")
    variants: list[Text] = Field(default_factory=list, description="result variants the regulation lists")


class SourceRef(_Model):
    seed_lines: tuple[int, int] = Field(description="first and last line of the regulation in the Kazakh seed")
    digest_section: Text = Field(description="the section of digest.md that covers it")


class NamedDuration(_Model):
    label: Text = Field(description="what this further duration times (a window, a timeout, a sub-decision)")
    duration: Duration
    sequential: bool = Field(False, description="adds to the step's own time (a hand-over after it), not a window")


class Step(_Model):
    """One numbered step of a provider procedure or of the State Corporation's step list."""

    number: int = Field(ge=1, le=99)
    merged_numbers: list[int] = Field(
        default_factory=list, description="further seed numbers that are the same step (a numbering glitch), kept"
    )
    actor: Actor
    actor_text: Text | None = Field(None, description="the actor as the regulation names it, when the enum is coarse")
    action: Text
    kk: Text | None = Field(None, description="the Kazakh wording of the step (a quote from the seed)")
    duration: Duration
    more_durations: list[NamedDuration] = Field(default_factory=list)
    result: Text | None = Field(None, description="the result that starts the next step (the regulation's item 6)")
    result_label: str | None = Field(None, description="the result's number when the seed numbers it differently")
    decision: bool = Field(False, description="this step decides to render or refuse (a human decision point)")
    rules: list[Rule] = Field(default_factory=list, description="rules with memory or a timer (services/rulespec.py)")
    inferred: bool = False
    note: Text | None = None


class Procedure(_Model):
    """The provider's internal procedure (section 2 of a regulation), or one of annex 4's four sub-flows."""

    id: Slug
    title: Text
    trigger: Text = Field(description="what starts the procedure (the regulation's item 4)")
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _numbering(self) -> Procedure:
        _check_step_numbers(self.steps, "steps")
        return self


class ChainItem(_Model):
    """A sub-item of a channel's chain: a numbered process or condition, or an unnumbered step (registration,
    queue) that the text lists without a number."""

    item: int = Field(ge=1, le=99, description="the sub-item of the paragraph, e.g. 5 for '5)'")
    kind: Literal["process", "condition", "unnumbered"]
    number: int | None = Field(None, ge=1, le=99, description="N of 'N процесс' / 'N шарт' (None when unnumbered)")
    en: Text
    kk: Text = Field(description="the seed's wording (quote; extraction glitches kept)")
    systems: list[System] = Field(min_length=1)
    checks: list[Check] = Field(default_factory=list, description="for a condition: what it checks")
    if_yes: TargetStr | None = Field(None, description="for a condition: where the chain goes when the check passes")
    if_no: TargetStr | None = Field(None, description="for a condition: where it goes when the check fails")
    next: TargetStr | None = Field(None, description="for a process or unnumbered item: where the chain goes on")
    refusal: Code | None = Field(None, description="for a process that forms a refusal: its refusal ground")
    wraps_procedure: Slug | None = Field(
        None, description="the provider procedure this item stands for (e.g. a '1 minute' document check)"
    )
    duration: Duration
    inferred: bool = Field(False, description="its branches (yes/no/next) are inferred, not stated in the text")
    note: Text | None = None

    @model_validator(mode="after")
    def _shape(self) -> ChainItem:
        where = f"item {self.item}) ({self.label})"
        if self.kind == "unnumbered":
            if self.number is not None:
                raise ValueError(f"{where}: an unnumbered item has no number")
        elif self.number is None:
            raise ValueError(f"{where}: a {self.kind} needs its number")
        if self.kind == "condition":
            if not self.checks:
                raise ValueError(f"{where}: a condition needs at least one check")
            if self.if_yes is None or self.if_no is None:
                raise ValueError(f"{where}: a condition needs both 'if_yes' and 'if_no'")
            if self.next is not None:
                raise ValueError(f"{where}: a condition branches with if_yes/if_no, not 'next'")
        else:
            if self.checks or self.if_yes is not None or self.if_no is not None:
                raise ValueError(f"{where}: only a condition has checks and if_yes/if_no")
            if self.next is None:
                raise ValueError(f"{where}: a {self.kind} item needs 'next' (a target or 'end')")
        return self

    @property
    def label(self) -> str:
        return "unnumbered" if self.number is None else f"{self.kind} {self.number}"

    def targets(self) -> list[str]:
        return [t for t in (self.if_yes, self.if_no, self.next) if t is not None]


class Channel(_Model):
    id: ChannelId
    paragraph: Text = Field(description="where the regulation describes this channel, e.g. 'items 9-10'")
    procedures: list[Slug] = Field(default_factory=list, description="provider procedures this channel runs")
    steps: list[Step] = Field(default_factory=list, description="the channel's own numbered step list")
    chain: list[ChainItem] = Field(default_factory=list, description="numbered processes and conditions")
    start: TargetStr | None = Field(None, description="the chain's first item when not the first in the list")
    note: Text | None = Field(None, description="who may use the channel, or what is special about it")

    @model_validator(mode="after")
    def _numbering(self) -> Channel:
        if self.steps:
            _check_step_numbers(self.steps, "steps")
        items = [c.item for c in self.chain]
        if items != list(range(1, len(items) + 1)):
            raise RefError("chain", f"chain sub-items must run 1..{len(items)} in order, got {items}")
        for kind in ("process", "condition"):
            numbers = [c.number for c in self.chain if c.kind == kind]
            dup = sorted(n for n, k in Counter(numbers).items() if k > 1)
            if dup:
                j = [k for k, c in enumerate(self.chain) if c.kind == kind and c.number == dup[0]][-1]
                raise RefError(f"chain[{j}].number", f"{kind} number(s) {dup} used twice")
            if numbers and sorted(numbers) != list(range(1, len(numbers) + 1)):
                raise RefError("chain", f"{kind} numbers {numbers} do not run 1..{len(numbers)}")
        return self

    def find(self, target: str) -> ChainItem | None:
        m = TARGET_RE.match(target)
        if not m or not m["kind"]:
            return None
        return next((c for c in self.chain if c.kind == m["kind"] and c.number == int(m["number"])), None)


class Refusal(_Model):
    code: Code
    en: Text
    kk: Text | None = None
    source: Text = Field(description="where the ground comes from: a process, a step, 'Standard item 10'")
    inferred: bool = False


class Document(_Model):
    id: Slug
    en: Text
    for_whom: Literal["applicant", "representative", "employer", "any"] = "applicant"
    optional: bool = False


class RequiredDocuments(_Model):
    inferred: Literal[True] = Field(True, description="always true: the seed never lists the Standard's item 9")
    note: Text
    items: list[Document] = Field(min_length=1)


class Deadline(_Model):
    """A total time: stated by the regulation, or computed as the sum of a step list (per unit, never converted)."""

    channel: ChannelId
    procedure: Slug | None = Field(None, description="the provider procedure this total is for, if any")
    of: Literal["procedure", "steps", "chain"] | None = Field(
        None, description="for a computed total: summed over the procedure, the channel's steps or its chain"
    )
    total: list[Duration] = Field(min_length=1, description="e.g. ['7 working_days', '30 minutes']")
    basis: Literal["stated", "computed"] = Field(description="stated by the regulation, or the sum of its steps")
    regime: RuleKind | None = Field(
        None, description="the deadline of a rule's regime: it applies only when that rule applied on the run, and "
        "then replaces the channel's other deadlines (annex 6's 20 working days when documents are missing)",
    )
    note: Text | None = None


class Note(_Model):
    kind: NoteKind
    where: Text
    text: Text


class Service(_Model):
    """One regulation of the seed."""

    id: Slug
    names: Names
    annexes: Annexes
    standard: Standard
    provider: Party
    channels: list[Channel] = Field(min_length=1)
    no_channel: dict[ChannelId, Text] = Field(
        default_factory=dict, description="channels the regulation explicitly excludes, with its words"
    )
    service_forms: list[Form] = Field(min_length=1)
    automation: Automation
    result: Result
    procedures: list[Procedure] = Field(min_length=1)
    structural_units: list[Text] = Field(default_factory=list)
    deadlines: list[Deadline] = Field(default_factory=list)
    refusals: list[Refusal] = Field(default_factory=list)
    required_documents: RequiredDocuments
    systems_named: list[System] = Field(default_factory=list, description="information systems the text names")
    source: SourceRef
    notes: list[Note] = Field(default_factory=list)

    @field_validator("channels")
    @classmethod
    def _unique_channels(cls, channels: list[Channel]) -> list[Channel]:
        ids = [c.id for c in channels]
        if len(ids) != len(set(ids)):
            raise ValueError(f"a channel is listed twice: {[i.value for i in ids]}")
        return channels

    @model_validator(mode="after")
    def _references(self) -> Service:
        procedures = {p.id for p in self.procedures}
        if len(procedures) != len(self.procedures):
            raise RefError("procedures", "procedure ids must be unique")
        refusals = [r.code for r in self.refusals]
        if len(refusals) != len(set(refusals)):
            raise RefError("refusals", f"refusal codes must be unique: {refusals}")
        for i, ch in enumerate(self.channels):
            at = f"channels[{i}]"
            if ch.id in self.no_channel:
                raise RefError(f"{at}.id", f"channel {ch.id.value!r} is both listed and excluded in no_channel")
            for k, pid in enumerate(ch.procedures):
                if pid not in procedures:
                    raise RefError(f"{at}.procedures[{k}]", f"channel {ch.id.value!r} runs unknown procedure {pid!r}")
            if not (ch.procedures or ch.steps or ch.chain):
                raise RefError(at, f"channel {ch.id.value!r} has no procedures, steps or chain")
            if ch.start:
                self._check_target(ch, ch.start, f"{at}.start")
            for j, c in enumerate(ch.chain):
                for name in ("if_yes", "if_no", "next"):
                    target = getattr(c, name)
                    if target is not None:
                        self._check_target(ch, target, f"{at}.chain[{j}].{name}")
                if c.refusal is not None and c.refusal not in refusals:
                    raise RefError(f"{at}.chain[{j}].refusal", f"{c.label}: unknown refusal {c.refusal!r}")
                if c.wraps_procedure is not None and c.wraps_procedure not in procedures:
                    raise RefError(f"{at}.chain[{j}].wraps_procedure", f"unknown procedure {c.wraps_procedure!r}")
        kinds: set[str] = set()
        lists = [(f"procedures[{i}].steps", p.steps) for i, p in enumerate(self.procedures)]
        lists += [(f"channels[{i}].steps", c.steps) for i, c in enumerate(self.channels)]
        for where, steps in lists:
            for j, step in enumerate(steps):
                for k, rule in enumerate(step.rules):
                    kinds.add(rule.kind)
                    if isinstance(rule, FeeWindow) and rule.on_missed not in refusals:
                        raise RefError(f"{where}[{j}].rules[{k}].on_missed", f"unknown refusal {rule.on_missed!r}")
        for i, d in enumerate(self.deadlines):
            if d.regime is not None and d.regime not in kinds:
                raise RefError(f"deadlines[{i}].regime", f"no step of this service has a {d.regime!r} rule")
            if d.procedure is not None and d.procedure not in procedures:
                raise RefError(f"deadlines[{i}].procedure", f"unknown procedure {d.procedure!r}")
            if d.basis == "computed" and (d.of is None or (d.of == "procedure") != (d.procedure is not None)):
                raise RefError(f"deadlines[{i}].of", "a computed total needs 'of' (of: procedure iff procedure)")
        return self

    def _check_target(self, ch: Channel, target: str, path: str) -> None:
        if target == "end":
            return
        kind, ref = target.split(" ", 1)
        if kind == "refusal":
            if ref not in {r.code for r in self.refusals}:
                raise RefError(path, f"branch to unknown refusal {ref!r}")
        elif ch.find(target) is None:
            raise RefError(path, f"branch to {target!r}, which the {ch.id.value!r} chain does not have")

    def channel(self, channel_id: ChannelId | str) -> Channel:
        cid = ChannelId(channel_id)
        for ch in self.channels:
            if ch.id is cid:
                return ch
        raise KeyError(f"service {self.id!r} has no {cid.value!r} channel")

    def default_refusal(self, procedure: str | None, number: int | None) -> str:
        """The refusal ground a decision step refuses with by default: the one whose ``source`` names that step,
        else one from a provider procedure, else the Standard's grounds, else the first listed; ``REFUSED`` when the
        definition lists none (the engine's default, and what the diagrams draw)."""
        if not self.refusals:
            return "REFUSED"
        if procedure is not None and number is not None:
            step_re = re.compile(rf"\b{re.escape(procedure)}\b.*\bsteps?\b[^;]*\b{number}\b")
            for r in self.refusals:
                if step_re.search(r.source):
                    return r.code
        for r in self.refusals:
            if r.source.startswith("procedure"):
                return r.code
        for r in self.refusals:
            if "Standard" in r.source or r.source.startswith("item"):
                return r.code
        return self.refusals[0].code

    def procedure(self, procedure_id: str) -> Procedure:
        for p in self.procedures:
            if p.id == procedure_id:
                return p
        raise KeyError(f"service {self.id!r} has no procedure {procedure_id!r}")


def _check_step_numbers(steps: list[Step], where: str) -> None:
    _check_step_rules(steps, where)
    numbers = [n for s in steps for n in (s.number, *s.merged_numbers)]
    dup = sorted(n for n, k in Counter(numbers).items() if k > 1)
    if dup:
        j = [k for k, s in enumerate(steps) if dup[0] in (s.number, *s.merged_numbers)][-1]
        raise RefError(f"{where}[{j}].number", f"step number(s) {dup} used twice")
    if numbers != list(range(1, len(numbers) + 1)):
        raise RefError(where, f"step numbers must run 1..{len(numbers)} in order, got {numbers}")


def _check_step_rules(steps: list[Step], where: str) -> None:
    """A rule's references stay inside its own step list: pickup posts with a later step of the list."""
    numbers = {s.number for s in steps}
    for j, step in enumerate(steps):
        kinds = [r.kind for r in step.rules]
        if len(kinds) != len(set(kinds)):
            raise RefError(f"{where}[{j}].rules", f"step {step.number}: a rule kind is attached twice: {kinds}")
        for k, rule in enumerate(step.rules):
            if isinstance(rule, Pickup) and (rule.posting_step not in numbers or rule.posting_step <= step.number):
                raise RefError(f"{where}[{j}].rules[{k}].posting_step",
                               f"step {step.number}: posting step {rule.posting_step} is not a later step of this list")  # fmt: skip
