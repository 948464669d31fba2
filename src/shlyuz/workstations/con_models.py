"""Request and response bodies of the State Corporation workstation's JSON API (pydantic v2)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import Field, model_validator

from shlyuz.portal.models import ApplicationOut, Body, Iin, Out, Password

Slug = Annotated[str, Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", min_length=2, max_length=64)]
Short = Annotated[str, Field(min_length=1, max_length=200)]


class OperatorLogin(Body):
    login: Iin = Field(description="the operator's IIN")
    password: Password


class Operator(Out):
    iin: str
    name: str
    bin: str
    branch: str
    signing_identity: str


class OperatorLoginOut(Out):
    token: str
    token_type: str = "Bearer"
    expires_at: datetime
    operator: Operator


class PoaIn(Body):
    """The power of attorney the representative shows. A notarised one is checked in ENIS by its number; for any
    other the operator enters its data (the seed: "its data are not filled in" from ENIS)."""

    number: Short
    notarised: bool
    issued_on: date | None = Field(None, description="non-notarised: the date it was issued")
    valid_to: date | None = Field(None, description="non-notarised: the last day it is valid")
    issuer: Short | None = Field(None, description="non-notarised: who certified it (employer, hospital, ...)")

    @model_validator(mode="after")
    def _entered(self) -> PoaIn:
        if not self.notarised and (self.issued_on is None or self.valid_to is None):
            raise ValueError("a power of attorney that is not notarised needs issuedOn and validTo entered")
        if self.issued_on and self.valid_to and self.valid_to < self.issued_on:
            raise ValueError(f"validTo {self.valid_to} is before issuedOn {self.issued_on}")
        return self


class RepresentativeIn(Body):
    iin: Iin
    poa: PoaIn


class ApplicantIn(Body):
    iin: Iin


class FieldIn(Body):
    name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")]
    value: Annotated[str, Field(max_length=4000)]


class DocumentIn(Body):
    code: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")]
    name: Annotated[str, Field(min_length=1, max_length=4000)]


class ConApplicationIn(Body):
    service: Slug
    applicant: ApplicantIn
    representative: RepresentativeIn | None = None
    fields: list[FieldIn] = Field(default_factory=list, max_length=100)
    documents: list[DocumentIn] = Field(default_factory=list, max_length=100)
    reference: Short | None = Field(None, description="the operator's case number; a new one when absent")


class ConApplicationOut(ApplicationOut):
    operator: str
    reference: str
    checks: dict[str, Any]


class ConApplicationList(Out):
    applications: list[ConApplicationOut]
