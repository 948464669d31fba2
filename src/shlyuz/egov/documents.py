"""The e-government business documents: the applicant's Application and the provider's Decision.

No public format exists for them (the real portal, E-sobes and E-licensing exchange their own); these are shlyuz's
design, in the style of the SHEP payloads: one root element per document in its own namespace, qualified children,
an enveloped XMLDSig (:mod:`shlyuz.dsig.enveloped`) as the root's last child. Schemas: ``schemas/egov/
application.xsd`` and ``decision.xsd``; contract: docs/systems/esobes.md.

Sans-IO: :func:`build_application` / :func:`build_decision` turn a model into an unsigned lxml element (sign it with
``Signer.data``); :func:`parse_application` / :func:`parse_decision` turn bytes (through :mod:`shlyuz.xml.safe`) or an
element into the model, raising ``ShlyuzError(DOCUMENT_INVALID)`` naming the offending element. Verifying the
signature and the signer's certificate is :func:`verify_document` (from :mod:`shlyuz.egov.signing`, re-exported).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Annotated, Any, Literal

from lxml import etree
from pydantic import (
    BaseModel,
    ConfigDict,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from shlyuz.egov.signing import SignedBy, verify_document
from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.xml import safe

__all__ = [
    "APP_NS", "DEC_NS", "DOCUMENT_LIMITS", "Applicant", "Application", "AttachedDocument", "DecidedBy", "Decision",
    "NameValue",
    "PermitData", "Reason", "Representative", "SignedBy", "SubFlow", "build_application", "build_decision",
    "parse_application", "parse_decision", "to_bytes", "verify_document",
]  # fmt: skip

APP_NS = "urn:shlyuz:egov:application:1.0"
DEC_NS = "urn:shlyuz:egov:decision:1.0"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
MAX_DOCUMENT_BYTES = 2 * 1024 * 1024  # an application with its checklist fits in far less
DOCUMENT_LIMITS = safe.XmlLimits(max_bytes=MAX_DOCUMENT_BYTES, max_depth=16, max_elements=10_000)

Iin = Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", min_length=2, max_length=64)]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")]
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
Short = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class SubFlow(str, enum.Enum):
    """E-licensing's four sub-flows (annex 4, paragraph 5)."""

    ISSUE = "issue"
    REISSUE = "reissue"
    EXTEND = "extend"
    INTRA_CORPORATE_TRANSFER = "intra-corporate-transfer"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class NameValue(_Model):
    name: Name
    value: Annotated[str, StringConstraints(max_length=4000)]


class AttachedDocument(_Model):
    """One entry of the checklist (item 9 of the Standard): a document code and its name."""

    code: Code
    name: Text


class Applicant(_Model):
    """A person (``iin``) or an employer (``bin`` with ``signer_iin``, the employee who signs for it)."""

    iin: Iin | None = None
    bin: Iin | None = None
    signer_iin: Iin | None = None
    name: Short | None = None

    @model_validator(mode="after")
    def _one_id(self) -> Applicant:
        if (self.iin is None) == (self.bin is None):
            raise ValueError("the applicant has exactly one of iin (a person) or bin (an employer)")
        if self.bin is not None and self.signer_iin is None:
            raise ValueError("an employer applicant (bin) names the employee who signs: signerIin")
        if self.iin is not None and self.signer_iin is not None:
            raise ValueError("signerIin is for an employer applicant (bin); a person signs as themselves")
        return self

    @property
    def id(self) -> str:
        return self.iin or self.bin or ""


class Representative(_Model):
    """Someone acting for the applicant under a power of attorney."""

    iin: Iin
    poa_number: Short
    notarised: bool


class PermitData(_Model):
    """E-licensing: what the employer asks for. ``permit_number`` is the existing permit (reissue, extend)."""

    sub_flow: SubFlow
    permit_number: Short | None = None
    worker_iin: Iin | None = None
    worker_name: Short
    citizenship: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]  # ISO 3166 alpha-3
    position: Short
    valid_from: date
    valid_to: date
    home_company: Short | None = None  # the foreign company a worker is transferred from (intra-corporate)
    reason: Text | None = None  # why a permit is re-issued

    @model_validator(mode="after")
    def _consistent(self) -> PermitData:
        if self.valid_to < self.valid_from:
            raise ValueError(f"validTo {self.valid_to} is before validFrom {self.valid_from}")
        if self.sub_flow in (SubFlow.REISSUE, SubFlow.EXTEND) and not self.permit_number:
            raise ValueError(f"sub-flow {self.sub_flow.value} names the existing permit: permitNumber")
        if self.sub_flow is SubFlow.INTRA_CORPORATE_TRANSFER and not self.home_company:
            raise ValueError("an intra-corporate transfer names the company the worker comes from: homeCompany")
        return self


class Application(_Model):
    reference: Short | None = None  # the sender's own reference (portal draft id, SC case number)
    service: Slug
    channel: Literal["portal", "state-corp"]
    applicant: Applicant
    representative: Representative | None = None
    submitted_at: datetime
    fields: tuple[NameValue, ...] = ()
    documents: tuple[AttachedDocument, ...] = ()
    permit: PermitData | None = None

    @model_validator(mode="after")
    def _aware(self) -> Application:
        if self.submitted_at.tzinfo is None:
            raise ValueError("submittedAt carries a time zone offset")
        return self

    def field(self, name: str) -> str | None:
        return next((f.value for f in self.fields if f.name == name), None)


class Reason(_Model):
    """A motivated refusal: the ground's stable code and the text the applicant reads."""

    code: Code
    text: Text


class DecidedBy(_Model):
    """The provider's authorised person who signs the decision."""

    iin: Iin
    name: Short
    bin: Iin
    organisation: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class Decision(_Model):
    application_number: Short
    service: Slug
    applicant: Applicant
    decision: Literal["approved", "refused"]
    reason: Reason | None = None
    decided_at: datetime
    decided_by: DecidedBy
    summary: Text | None = None
    result: tuple[NameValue, ...] = ()  # e.g. permitNumber, validTo

    @model_validator(mode="after")
    def _reasoned(self) -> Decision:
        if self.decision == "refused" and self.reason is None:
            raise ValueError("a refusal is motivated: reason (code and text) is required")
        if self.decided_at.tzinfo is None:
            raise ValueError("decidedAt carries a time zone offset")
        return self

    def result_value(self, name: str) -> str | None:
        return next((f.value for f in self.result if f.name == name), None)


# -- building ------------------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def _leaves(parent: etree._Element, ns: str, model: BaseModel, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(model, name)
        if value is not None:
            etree.SubElement(parent, f"{{{ns}}}{to_camel(name)}").text = _text(value)


def _pairs(parent: etree._Element, ns: str, wrapper: str, item: str, attr: str, pairs: tuple, key: str, val: str) -> None:
    if pairs:
        box = etree.SubElement(parent, f"{{{ns}}}{wrapper}")
        for pair in pairs:
            etree.SubElement(box, f"{{{ns}}}{item}", {attr: getattr(pair, key)}).text = getattr(pair, val)


_APPLICANT = ("iin", "bin", "signer_iin", "name")
_PERMIT = ("sub_flow", "permit_number", "worker_iin", "worker_name", "citizenship", "position", "valid_from",
           "valid_to", "home_company", "reason")  # fmt: skip


def build_application(app: Application) -> etree._Element:
    """The unsigned ``app:Application`` element (children in schema order)."""
    root = etree.Element(f"{{{APP_NS}}}Application", nsmap={"app": APP_NS})
    _leaves(root, APP_NS, app, ("reference", "service", "channel"))
    _leaves(etree.SubElement(root, f"{{{APP_NS}}}applicant"), APP_NS, app.applicant, _APPLICANT)
    if app.representative is not None:
        rep = etree.SubElement(root, f"{{{APP_NS}}}representative")
        _leaves(rep, APP_NS, app.representative, ("iin", "poa_number", "notarised"))
    _leaves(root, APP_NS, app, ("submitted_at",))
    _pairs(root, APP_NS, "fields", "field", "name", app.fields, "name", "value")
    _pairs(root, APP_NS, "documents", "document", "code", app.documents, "code", "name")
    if app.permit is not None:
        _leaves(etree.SubElement(root, f"{{{APP_NS}}}permit"), APP_NS, app.permit, _PERMIT)
    return root


def build_decision(dec: Decision) -> etree._Element:
    """The unsigned ``dec:Decision`` element (children in schema order)."""
    root = etree.Element(f"{{{DEC_NS}}}Decision", nsmap={"dec": DEC_NS})
    _leaves(root, DEC_NS, dec, ("application_number", "service"))
    _leaves(etree.SubElement(root, f"{{{DEC_NS}}}applicant"), DEC_NS, dec.applicant, _APPLICANT)
    _leaves(root, DEC_NS, dec, ("decision",))
    if dec.reason is not None:
        etree.SubElement(root, f"{{{DEC_NS}}}reason", {"code": dec.reason.code}).text = dec.reason.text
    _leaves(root, DEC_NS, dec, ("decided_at",))
    _leaves(etree.SubElement(root, f"{{{DEC_NS}}}decidedBy"), DEC_NS, dec.decided_by, ("iin", "name", "bin", "organisation"))
    _leaves(root, DEC_NS, dec, ("summary",))
    _pairs(root, DEC_NS, "result", "field", "name", dec.result, "name", "value")
    return root


def to_bytes(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# -- parsing -------------------------------------------------------------------------------------------------------


def invalid(message: str) -> ShlyuzError:
    return ShlyuzError(ErrorCode.DOCUMENT_INVALID, message)


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _leaf(el: etree._Element, where: str) -> str:
    if any(isinstance(c.tag, str) for c in el):
        raise invalid(f"{where} holds child elements; it is a text element")
    if el.attrib:
        raise invalid(f"{where} has attributes ({', '.join(sorted(el.attrib))}); none are allowed")
    return "".join(el.itertext()).strip()


# element name → kind: "leaf", "group" (leaves inside), "pairs:<item>:<attr>", "reason"
_APP_SHAPE = {
    "reference": "leaf", "service": "leaf", "channel": "leaf", "applicant": "group", "representative": "group",
    "submittedAt": "leaf", "fields": "pairs:field:name", "documents": "pairs:document:code", "permit": "group",
}  # fmt: skip
_DEC_SHAPE = {
    "applicationNumber": "leaf", "service": "leaf", "applicant": "group", "decision": "leaf", "reason": "reason",
    "decidedAt": "leaf", "decidedBy": "group", "summary": "leaf", "result": "pairs:field:name",
}  # fmt: skip
_PAIR_KEYS = {"fields": ("name", "value"), "documents": ("code", "name"), "result": ("name", "value")}


def _elements(parent: etree._Element, ns: str, where: str) -> list[etree._Element]:
    out = []
    for child in parent:
        if not isinstance(child.tag, str):
            continue  # comments and processing instructions carry no data
        if etree.QName(child).namespace != ns:
            raise invalid(f"{where} has an element {child.tag!r} outside the namespace {ns}")
        out.append(child)
    return out


def _read(root: etree._Element, ns: str, shape: dict[str, str], name: str) -> dict[str, Any]:
    if not isinstance(root.tag, str) or root.tag != f"{{{ns}}}{name}":
        raise invalid(f"the document element is {root.tag!r}; expected {{{ns}}}{name}")
    data: dict[str, Any] = {}
    signatures = [c for c in root if c.tag == f"{{{DS_NS}}}Signature"]
    if len(signatures) > 1:
        raise invalid(f"<{name}> holds {len(signatures)} ds:Signature elements; at most one is allowed")
    for el in _elements_skipping_signature(root, ns, name):
        key = _local(el)
        kind = shape.get(key)
        where = f"<{name}>/<{key}>"
        if kind is None:
            raise invalid(f"{where} is not an element of {name} (expected one of {', '.join(shape)})")
        if key in data:
            raise invalid(f"{where} is repeated; it may appear once")
        if kind == "leaf":
            data[key] = _leaf(el, where)
        elif kind == "group":
            group: dict[str, str] = {}
            for sub in _elements(el, ns, where):
                sk = _local(sub)
                if sk in group:
                    raise invalid(f"{where}/<{sk}> is repeated; it may appear once")
                group[sk] = _leaf(sub, f"{where}/<{sk}>")
            data[key] = group
        elif kind == "reason":
            text = _leaf_with(el, where, "code")
            data[key] = {"code": el.get("code"), "text": text}
        else:
            _, item, attr = kind.split(":")
            k, v = _PAIR_KEYS[key]
            rows = []
            for sub in _elements(el, ns, where):
                if _local(sub) != item:
                    raise invalid(f"{where}/<{_local(sub)}> is not allowed; {where} holds <{item}> elements")
                rows.append({k: sub.get(attr), v: _leaf_with(sub, f"{where}/<{item}>", attr)})
            data[key] = rows
    return data


def _elements_skipping_signature(root: etree._Element, ns: str, name: str) -> list[etree._Element]:
    out = []
    for child in root:
        if not isinstance(child.tag, str) or child.tag == f"{{{DS_NS}}}Signature":
            continue
        if etree.QName(child).namespace != ns:
            raise invalid(f"<{name}> has an element {child.tag!r} outside the namespace {ns}")
        out.append(child)
    return out


def _leaf_with(el: etree._Element, where: str, attr: str) -> str:
    if any(isinstance(c.tag, str) for c in el):
        raise invalid(f"{where} holds child elements; it is a text element")
    extra = sorted(set(el.attrib) - {attr})
    if extra:
        raise invalid(f"{where} has attributes {', '.join(extra)}; only {attr!r} is allowed")
    if el.get(attr) is None:
        raise invalid(f"{where} has no {attr!r} attribute")
    return "".join(el.itertext()).strip()


def _validated(model: type[BaseModel], data: dict[str, Any], name: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors()[:5]:
            loc = "/".join(str(p) for p in err["loc"])
            shown = f"<{name}>/{loc}" if loc else f"<{name}>"
            parts.append(f"{shown}: {err['msg']}")
        more = len(exc.errors()) - 5
        raise invalid("; ".join(parts) + (f"; and {more} more" if more > 0 else "")) from None


def _root(data: bytes | etree._Element) -> etree._Element:
    if isinstance(data, (bytes, bytearray, str)):
        return safe.parse(data, DOCUMENT_LIMITS)
    return data


def parse_application(data: bytes | etree._Element) -> Application:
    """An ``app:Application`` (signed or not) → :class:`Application`; DOCUMENT_INVALID (or an XML safety code)."""
    return _validated(Application, _read(_root(data), APP_NS, _APP_SHAPE, "Application"), "Application")


def parse_decision(data: bytes | etree._Element) -> Decision:
    """A ``dec:Decision`` (signed or not) → :class:`Decision`; DOCUMENT_INVALID (or an XML safety code)."""
    return _validated(Decision, _read(_root(data), DEC_NS, _DEC_SHAPE, "Decision"), "Decision")
