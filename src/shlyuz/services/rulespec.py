"""Rules with memory or with a timer, attached to a step of a service definition (data, not code).

A few regulations say, inside a step, that the step goes differently in some case: annex 1's repeat application
within a calendar year (a new inspection only on a change), annex 4's 10-working-day fee window and 2-day pickup
followed by posting, annex 6's 20-working-day regime when documents are missing, annex 7's sub-flows (recognition,
first certificate, duplicate, compensation, the one-month extension). A step carries such a rule under ``rules:``
with the rule's parameters from the text; ``shlyuz.chains.rules`` executes it. What the text does not say and the
rule had to decide is listed in ``inferred`` (never silently). docs/services.md#rules and docs/chains.md#rules.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shlyuz.services.duration import Duration

Text = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]*$", max_length=40)]
FlowId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
Change = Literal["residence", "family", "income"]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kk: Text = Field(description="the sentence(s) of the seed the rule comes from (a quote)")
    inferred: list[Text] = Field(default_factory=list, description="what the text leaves open and the rule decides")


class RepeatApplication(_Rule):
    """Annex 1: on a first application the commission inspects and draws up an act; on a repeat application within
    the window it inspects only when the recipient's data changed in one of ``reinspect_on``."""

    kind: Literal["repeat_application"]
    window: Literal["calendar_year"] = Field(description="'күнтізбелік бір жылдың ішінде': within one calendar year")
    reinspect_on: list[Change] = Field(min_length=1, description="changes that call for a new inspection")


class FeeWindow(_Rule):
    """Annex 4: the permit is prepared once the recipient submits proof of the fee within ``window``."""

    kind: Literal["fee_window"]
    window: Duration = Field(description="how long the recipient has to submit proof of the fee")
    on_missed: Code = Field(description="the refusal the run ends with when no proof comes in time")


class Pickup(_Rule):
    """Annex 4: when the recipient does not come for the permit within ``timeout``, the executor hands it to the
    office within ``handover`` and the office posts it (``posting_step``); when the recipient comes, no posting."""

    kind: Literal["pickup"]
    timeout: Duration
    handover: Duration
    posting_step: int = Field(ge=1, le=99, description="the step of the same list that posts the permit")


class MissingDocuments(_Rule):
    """Annex 6: when documents are missing (requested from the relevant bodies) or damaged or lost (decided on other
    bodies' data), the decision is due within ``deadline`` of accepting the documents."""

    kind: Literal["missing_documents"]
    cases: list[Literal["requested", "lost"]] = Field(min_length=1)
    deadline: Duration


class SubFlow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: FlowId
    en: Text
    durations: list[Duration] = Field(min_length=1, description="the step's time in this sub-flow, one after another")
    applicant: Literal["any", "first_time", "repeat"] = Field(
        "any", description="first_time: only for an applicant with no earlier result; repeat: only with one"
    )
    instead: FlowId | None = Field(None, description="the sub-flow taken when the applicant condition does not hold")


class SubFlows(_Rule):
    """Annex 7: one step (the special commission) decides different things with different terms; the run names
    the sub-flow, ``default`` is the one the step's own duration describes."""

    kind: Literal["subflows"]
    default: FlowId
    flows: list[SubFlow] = Field(min_length=2)
    extension: Duration | None = Field(None, description="added when extra requests or checks are needed")

    @model_validator(mode="after")
    def _refs(self) -> SubFlows:
        ids = [f.id for f in self.flows]
        if len(ids) != len(set(ids)):
            raise ValueError(f"sub-flow ids must be unique: {ids}")
        for ref in (self.default, *(f.instead for f in self.flows if f.instead)):
            if ref not in ids:
                raise ValueError(f"unknown sub-flow {ref!r}; the rule has {ids}")
        return self

    def flow(self, flow_id: str) -> SubFlow:
        return next(f for f in self.flows if f.id == flow_id)


Rule = Annotated[RepeatApplication | FeeWindow | Pickup | MissingDocuments | SubFlows, Field(discriminator="kind")]
RuleKind = Literal["repeat_application", "fee_window", "pickup", "missing_documents", "subflows"]
