"""Request and response bodies of the portal's JSON API (pydantic v2: validated, and described in /openapi.json).
``Iin`` and ``Bin`` check the checksum (shlyuz.fixtures.iin) so a mistyped number is refused before any lookup."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from shlyuz.fixtures.iin import parse_bin, parse_iin


def _iin(value: str) -> str:
    try:
        parse_iin(value)
    except ValueError as exc:
        raise ValueError(f"IIN {value[:20]!r} is invalid: {exc}") from None
    return value


def _bin(value: str) -> str:
    try:
        parse_bin(value)
    except ValueError as exc:
        raise ValueError(f"BIN {value[:20]!r} is invalid: {exc}") from None
    return value


Iin = Annotated[str, Field(min_length=12, max_length=12, examples=["900101300017"]), AfterValidator(_iin)]
Bin = Annotated[str, Field(min_length=12, max_length=12, examples=["160941360814"]), AfterValidator(_bin)]
Password = Annotated[str, Field(min_length=1, max_length=128)]
SignedXml = Annotated[str, Field(min_length=1, max_length=1_000_000, description="a signed XML document (UTF-8 text)")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


# -- accounts and login ---------------------------------------------------------------------------------------------


class Register(Body):
    """A person registers with IIN + password; an employer's staff member with IIN + BIN + password."""

    iin: Iin
    bin: Bin | None = Field(None, description="the employer's BIN: an account of its head or employee")
    password: Password


class Account(Out):
    account: str = Field(description="the account id: the IIN, or BIN/IIN for an employer's staff member")
    iin: str
    bin: str | None = None
    name: str
    organisation: str | None = None
    registered_at: datetime
    methods: list[Literal["password", "eds"]]


class PasswordLogin(Body):
    iin: Iin
    bin: Bin | None = None
    password: Password


class ChallengeOut(Out):
    nonce: str
    expires_at: datetime
    document: str = Field(description="the XML to sign (enveloped XMLDSig, AUTH certificate) and send back")


class EdsLogin(Body):
    signed_xml: SignedXml


class LoginOut(Out):
    token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_at: datetime
    account: Account


# -- catalogue ------------------------------------------------------------------------------------------------------


class CatalogueEntry(Out):
    id: str = Field(description="the service definition id, used as the Application's service")
    name_kk: str
    name_ru: str
    name_en: str
    channels: list[str]
    portal: bool = Field(description="whether the portal accepts applications for it")
    system: str | None = Field(None, description="the information system the portal sends applications to")
    service_id: str | None = Field(None, description="the SHEP serviceId of that system's async REQUEST")
    applicant: Literal["person", "employer"] = "person"


class Catalogue(Out):
    services: list[CatalogueEntry]
    source: str = Field(description="where the catalogue comes from: the service definitions, or the built-in list")


# -- applications and the cabinet -----------------------------------------------------------------------------------


class Submit(Body):
    document: SignedXml = Field(description="the Application (urn:shlyuz:egov:application:1.0) signed with SIGN")


class HistoryItem(Out):
    message_id: str
    message_type: str
    at: datetime
    status: str | None = None
    number: str | None = None
    text: str | None = None


class Verification(Out):
    verified: bool
    code: str | None = Field(None, description="the error code when not verified")
    message: str
    signer_iin: str | None = None
    signer_bin: str | None = None
    signer: str | None = Field(None, description="the certificate's subject")
    authorized_person: bool = Field(False, description="the signer is the head of the provider organisation")


class ResultOut(Out):
    decision: str
    application_number: str
    decided_at: datetime
    decided_by: str
    reason_code: str | None = None
    reason: str | None = None
    result: dict[str, str] = {}
    verification: Verification


class ApplicationOut(Out):
    id: str
    service: str
    service_id: str
    status: str
    status_ru: str
    submitted_at: datetime
    message_id: str | None = None
    application_number: str | None = None
    applicant: dict[str, Any]
    representative: dict[str, Any] | None = None
    history: list[HistoryItem] = []
    result: ResultOut | None = None
    chain_run: str | None = Field(None, description="the chain run of the service's portal channel standing for it")


class ApplicationList(Out):
    applications: list[ApplicationOut]


class DevSign(Body):
    identity: Annotated[str, Field(pattern=r"^(person|org)/[0-9/]+/(sign|auth)$", examples=["person/900101300017/sign"])]
    document: SignedXml = Field(description="the unsigned XML document")


class DevSigned(Out):
    signed_xml: str
