"""Conformance scenarios as data (YAML files, validated here; JSON Schema in ``schemas/conform/``).

A scenario is a list of steps run in order. A step does one thing — sends a SHEP request, calls a JSON API, runs a
chain, or reads the journal — and then checks what came back (``expect``) and keeps values for later steps
(``capture``). ``${name}`` in any string is replaced by a variable: the scenario's ``vars``, values captured by earlier
steps, and the built-ins ``${run}`` (a unique id of this run of the scenario), ``${scope}`` (its isolated session).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from shlyuz.faults.model import FaultRuleIn

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]
VarName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class XPathCheck(_Model):
    """An XPath over the response body (namespace-aware: declare prefixes in ``ns``; ``local-name()`` works too)."""

    path: str = Field(min_length=1, max_length=2000)
    equals: str | None = None
    contains: str | None = None
    count: int | None = Field(None, ge=0)
    exists: bool | None = None
    ns: dict[str, str] = Field(default_factory=dict)


class JsonCheck(_Model):
    """A dotted path into a JSON body: ``error.code``, ``trace.steps[0].ref``, ``runs[-1].status``."""

    path: str = Field(min_length=1, max_length=500)
    equals: Any = None
    contains: str | None = None
    exists: bool | None = None
    length: int | None = Field(None, ge=0)


class Expect(_Model):
    http: int | None = Field(None, ge=100, le=599, description="the HTTP status")
    status: str | None = Field(None, description="SHEP responseInfo/status/code, e.g. SCSS001 or SCSE001")
    fault: str | None = Field(None, description="a SOAP fault's errorCode, e.g. SENDER_NOT_FOUND")
    fault_contains: str | None = Field(None, alias="faultContains", description="text the fault message contains")
    xpath: list[XPathCheck] = Field(default_factory=list)
    json_: list[JsonCheck] = Field(default_factory=list, alias="json")
    header: dict[str, str] = Field(default_factory=dict, description="response headers that must equal these")
    malformed: bool | None = Field(None, description="true: the body is not well-formed XML; false: it is")
    transport: Literal["reset", "timeout"] | None = Field(
        None, description="no reply at all: reset (the connection closed or reset unanswered) or timeout (the "
                          "step's timeout passed first); nothing else can be expected then",
    )  # fmt: skip

    @model_validator(mode="after")
    def _one_outcome(self) -> Expect:
        if self.status and self.fault:
            raise ValueError("expect either a SHEP status or a fault, not both")
        if self.transport and (self.http or self.status or self.fault or self.fault_contains or self.xpath or self.json_
                               or self.header or self.malformed is not None):  # fmt: skip
            raise ValueError("expect transport excludes every other expectation: no reply comes")
        return self


class Capture(_Model):
    xpath: str | None = None
    json_: str | None = Field(None, alias="json")
    header: str | None = None
    ns: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> Capture:
        if sum(x is not None for x in (self.xpath, self.json_, self.header)) != 1:
            raise ValueError("a capture takes exactly one of xpath, json, header")
        return self


class Signing(_Model):
    """Sign a SHEP request as a fixture identity (docs/pki.md), and optionally spoil it afterwards."""

    wsse: str | None = Field(None, description="identity for the WS-Security signature over soap:Body")
    data: str | None = Field(None, description="identity for the enveloped signature inside data")
    tamper: Literal["body", "signature", "strip"] | None = Field(
        None, description="after signing: change the body, corrupt the signature value, or remove the signature"
    )


class ShepRequest(_Model):
    """A SHEP SyncChannel request: built from parts, or ``raw`` (a whole envelope, for protocol negatives)."""

    endpoint: str = "/bip-sync/"
    service: str | None = Field(None, description="requestInfo/serviceId")
    sender: str = "shlyuz-demo"
    password: str | None = Field(None, description="default: the sender's password from the fixtures")
    payload: str | None = Field(None, description="the data element's content, as XML text")
    escaped: bool = False
    message_id: str | None = Field(None, alias="messageId")
    correlation_id: str | None = Field(None, alias="correlationId")
    sign: Signing | None = None
    raw: str | None = Field(None, description="send exactly this body (built requests ignore the fields above)")
    content_type: str = Field("text/xml; charset=utf-8", alias="contentType")
    prefix_bom: bool = Field(False, alias="bom", description="prefix the body with a UTF-8 byte order mark")

    @model_validator(mode="after")
    def _built_or_raw(self) -> ShepRequest:
        if self.raw is None and self.service is None:
            raise ValueError("a SHEP step needs a service (or a raw body)")
        return self


class SignXml(_Model):
    """Sign an XML document as a fixture identity — an enveloped XMLDSig over its root, as NCALayer's ``sign`` makes
    for a portal login or an application — and put it into the JSON body at ``field``."""

    identity: str = Field(min_length=1, max_length=200, description="a test-PKI name (shlyuz pki list), e.g. person/900101300017/sign")
    xml: str = Field(min_length=1, max_length=1_000_000, description="the document, e.g. a captured ${challenge}")
    field: str = Field("document", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", description="the JSON body's field for the signed text")
    tamper: Literal["body", "signature", "strip"] | None = Field(
        None, description="after signing: change the document's last text, corrupt the signature value, or remove it"
    )


class HttpRequest(_Model):
    method: Literal["GET", "POST", "PUT", "DELETE", "PATCH"] = "GET"
    path: str = Field(pattern=r"^/", max_length=2000)
    json_: JsonValue = Field(None, alias="json", description="a JSON body (YAML dates, binary or sets are refused)")
    body: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    sign_xml: SignXml | None = Field(None, alias="signXml", description="sign a document into the JSON body")

    @model_validator(mode="after")
    def _signed_into_json(self) -> HttpRequest:
        if self.sign_xml is not None and (self.body is not None or not isinstance(self.json_, dict | None)):
            raise ValueError("signXml puts the signed document into a JSON object body: give json as an object (or none), not body")
        return self


class ChainRequest(_Model):
    """Run a service's chain (``POST /chains/{service}/runs``); the run's JSON is the step's response."""

    service: str
    options: dict[str, JsonValue] = Field(default_factory=dict, description="RunOptions: channel, applicant, decide, ...")


class JournalRequest(_Model):
    """Read the journal (``GET /__admin/journal``) with these filters; the result's JSON is the step's response."""

    message_id: str | None = Field(None, alias="messageId")
    service_id: str | None = Field(None, alias="serviceId")
    sender: str | None = None
    outcome: str | None = None
    limit: int = Field(20, ge=1, le=1000)


class Step(_Model):
    name: str = Field(min_length=1, max_length=200)
    shep: ShepRequest | None = None
    http: HttpRequest | None = None
    chain: ChainRequest | None = None
    journal: JournalRequest | None = None
    faults: list[FaultRuleIn] | None = Field(
        None, max_length=50,
        description="fault rules (docs/faults.md) in the scenario's session: with an action, for this step only "
                    "(installed before its request, deleted after it); alone, for the rest of the scenario",
    )  # fmt: skip
    timeout: float | None = Field(None, gt=0, le=600, description="seconds the step waits for its reply")
    expect: Expect = Field(default_factory=Expect)
    capture: dict[VarName, Capture] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        actions = [n for n in ("shep", "http", "chain", "journal") if getattr(self, n) is not None]
        if len(actions) > 1 or not actions and self.faults is None:
            raise ValueError(f"step {self.name!r}: exactly one of shep, http, chain, journal, or faults alone (got {actions or 'none'})")
        if self.expect.transport and self.capture:
            raise ValueError(f"step {self.name!r}: nothing can be captured when no reply is expected (expect transport)")
        return self

    @property
    def action(self) -> str:
        return next((n for n in ("shep", "http", "chain", "journal") if getattr(self, n) is not None), "faults")


class Scenario(_Model):
    name: Name
    description: str | None = Field(None, max_length=4000)
    tags: list[Name] = Field(default_factory=list)
    vars: dict[VarName, str] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1, max_length=200)


class Suite(_Model):
    """A file holds one scenario or a list of them under ``scenarios``."""

    scenarios: list[Scenario] = Field(min_length=1)
