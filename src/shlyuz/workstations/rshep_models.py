"""Request and response bodies of the АРМ РШЭП inbox JSON API (pydantic v2; OpenAPI is generated from them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

Iin = Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class EmployeeLogin(_In):
    iin: Iin = Field(description="the provider employee's IIN")
    password: str = Field(min_length=1, max_length=128)


class Employee(_Out):
    iin: str
    name: str
    role: Literal["head", "specialist"]
    bin: str
    organisation: str


class EmployeeLoginOut(_Out):
    token: str = Field(description="send as 'Authorization: Bearer <token>'")
    expires_at: datetime
    employee: Employee


class ItemsQuery(_In):
    status: Literal["new", "taken", "approved", "refused"] | None = None
    service: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=64)] | None = None
    system: Literal["esobes", "elicensing", "arm-rshep"] | None = None
    assignee: Iin | None = None
    limit: int = Field(100, ge=1, le=500)


class ItemSummary(_Out):
    number: str
    system: str
    service: str
    channel: str
    status: str
    applicant_iin: str | None = None
    applicant_bin: str | None = None
    applicant_name: str | None = None
    sub_flow: str | None = None
    assignee: str | None = None
    registered_at: datetime
    decided_at: datetime | None = None


class ItemList(_Out):
    count: int
    items: list[ItemSummary]


class ItemView(ItemSummary):
    reference: str | None = None
    signer_iin: str | None = None
    signer_bin: str | None = None
    representative_iin: str | None = None
    fields: dict[str, str] = {}
    documents: list[dict[str, str]] = []
    permit: dict[str, Any] | None = None
    taken_at: datetime | None = None
    employee: str | None = Field(None, description="who decided by hand (absent: the automatic provider)")
    rule: str | None = Field(None, description="the automatic provider's rule that decided")
    reason_code: str | None = None
    reason: str | None = None
    summary: str | None = None
    result: dict[str, str] = {}
    delivery: str | None = Field(None, description="pending | sent: the RESPONSE with the Decision")
    response_message_id: str | None = None
    decision_xml: str | None = Field(None, description="the Decision signed by the provider's authorised person")


class DecideIn(_In):
    decision: Literal["approve", "refuse"]
    reason_code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")] | None = Field(
        None, description="the refusal ground's stable code, e.g. DOCUMENTS_INCOMPLETE"
    )
    reason: Annotated[str, StringConstraints(min_length=1, max_length=4000)] | None = Field(
        None, description="the motivated refusal's text, shown to the applicant"
    )

    @model_validator(mode="after")
    def _motivated(self) -> DecideIn:
        if self.decision == "refuse" and (not self.reason_code or not self.reason or not self.reason.strip()):
            raise ValueError("a refusal is motivated: reasonCode and reason are required")
        if self.decision == "approve" and (self.reason_code or self.reason):
            raise ValueError("an approval carries no reasonCode or reason")
        return self


class LoggedOut(_Out):
    logged_out: bool
