"""The Application and Decision documents: built, XSD-valid, parsed back, signed and verified with the gateway's
verifier (and xmlsec1), and every malformed or hostile document refused with a precise code."""

from __future__ import annotations

import copy
from datetime import date

import pytest
from conftest import GATEWAY_NOW
from edshelp import VERIFICATION_TIME, xmlsec1
from egovkit import (
    APP_XSD,
    APPLICANT,
    ATTORNEY,
    DEC_XSD,
    PROVIDER_BIN,
    PROVIDER_HEAD,
    application,
    validate,
    verifier,
)  # fmt: skip
from lxml import etree

from shlyuz.dsig.signer import signer_for
from shlyuz.egov.documents import (
    APP_NS,
    Applicant,
    DecidedBy,
    Decision,
    NameValue,
    PermitData,
    Reason,
    Representative,
    SubFlow,
    build_application,
    build_decision,
    parse_application,
    parse_decision,
    to_bytes,
    verify_document,
)  # fmt: skip
from shlyuz.errors import ErrorCode, ShlyuzError

EMPLOYER = "140840234886"  # ТОО «Достық Тамақ»
EMPLOYER_HEAD = "670408313444"


def permit_app(sub_flow: SubFlow = SubFlow.ISSUE, **kw):
    permit = {"sub_flow": sub_flow, "worker_name": "RAKHIMOV ALISHER", "citizenship": "UZB", "position": "Повар",
                  "valid_from": date(2026, 2, 1), "valid_to": date(2027, 1, 31)}  # fmt: skip
    permit.update(kw)
    return application(service="foreign-labour-permits", applicant=Applicant(bin=EMPLOYER, signer_iin=EMPLOYER_HEAD),
                       permit=PermitData(**permit))  # fmt: skip


def decision(**kw) -> Decision:
    data = {
        "application_number": "ESB-2026-000001", "service": "disabled-children-home-education",
        "applicant": Applicant(iin=APPLICANT), "decision": "approved", "decided_at": GATEWAY_NOW,
        "decided_by": DecidedBy(iin=PROVIDER_HEAD, name="Head", bin=PROVIDER_BIN, organisation="Управление"),
        "summary": "Assigned", "result": (NameValue(name="amount", value="42000"),),
    }  # fmt: skip
    data.update(kw)
    return Decision(**data)


@pytest.mark.parametrize(
    "app",
    [
        application(),
        application(representative=Representative(iin=ATTORNEY, poa_number="ДОВ-2025-000001", notarised=True),
                    applicant=Applicant(iin="750930400018"), reference="draft-7", channel="state-corp"),
        application(fields=(), documents=()),
        permit_app(),
        permit_app(SubFlow.REISSUE, permit_number="FLP-2026-000001", reason="Worker's passport changed"),
        permit_app(SubFlow.EXTEND, permit_number="FLP-2026-000001", worker_iin="930808300016"),
        permit_app(SubFlow.INTRA_CORPORATE_TRANSFER, home_company="Dostyk Food LLC (Tashkent)"),
    ],
    ids=["portal", "representative", "bare", "issue", "reissue", "extend", "ict"],
)
def test_application_round_trip_is_schema_valid(app) -> None:
    root = build_application(app)
    validate(APP_XSD, root)
    assert parse_application(to_bytes(root)) == app
    assert parse_application(root) == app


@pytest.mark.parametrize("dec", [decision(), decision(decision="refused", reason=Reason(code="DOCUMENTS_INCOMPLETE",
                                                                                         text="No medical conclusion"),
                                                       result=(), summary=None)], ids=["approved", "refused"])  # fmt: skip
def test_decision_round_trip_is_schema_valid(dec) -> None:
    root = build_decision(dec)
    validate(DEC_XSD, root)
    assert parse_decision(to_bytes(root)) == dec


async def test_signed_application_verifies_with_the_gateway_verifier_and_xmlsec1(settings, session_pki, tmp_path) -> None:
    root = signer_for(session_pki, f"person/{APPLICANT}/sign").data(build_application(application()))
    validate(APP_XSD, root)  # the ds:Signature is allowed by the schema
    data = to_bytes(root)
    signed = await verify_document(etree.fromstring(data), verifier(settings, session_pki))
    assert (signed.iin, signed.bin, signed.roles) == (APPLICANT, None, ("individual",))
    assert signed.verdict["verified"] is True and signed.verdict["purpose"] == "sign"
    assert parse_application(data) == application()
    (tmp_path / "app.xml").write_bytes(data)
    cert = session_pki.identity(f"person/{APPLICANT}/sign").cert_path
    ok = xmlsec1("--verify", *VERIFICATION_TIME, "--pubkey-cert-pem", cert, tmp_path / "app.xml")
    assert ok.returncode == 0, ok.stderr


async def test_signed_decision_names_the_providers_head(settings, session_pki) -> None:
    root = signer_for(session_pki, f"org/{PROVIDER_BIN}/{PROVIDER_HEAD}/sign").data(build_decision(decision()))
    signed = await verify_document(root, verifier(settings, session_pki))
    assert (signed.iin, signed.bin) == (PROVIDER_HEAD, PROVIDER_BIN)
    assert "ceo" in signed.roles


@pytest.mark.parametrize(
    ("name", "code"),
    [("bad/expired", ErrorCode.CERT_EXPIRED), ("bad/revoked", ErrorCode.CERT_REVOKED),
     ("bad/untrusted", ErrorCode.CERT_UNTRUSTED), ("bad/auth-used-for-signing", ErrorCode.CERT_KEY_USAGE)],
)  # fmt: skip
async def test_bad_signers_are_refused_with_their_code(settings, session_pki, name, code) -> None:
    root = signer_for(session_pki, name).data(build_application(application()))
    with pytest.raises(ShlyuzError) as err:
        await verify_document(root, verifier(settings, session_pki))
    assert err.value.code is code


async def test_tampered_and_unsigned_documents(settings, session_pki) -> None:
    v = verifier(settings, session_pki)
    root = signer_for(session_pki, f"person/{APPLICANT}/sign").data(build_application(application()))
    forged = copy.deepcopy(root)
    forged.find(f"{{{APP_NS}}}applicant/{{{APP_NS}}}iin").text = ATTORNEY
    with pytest.raises(ShlyuzError) as err:
        await verify_document(forged, v)
    assert err.value.code is ErrorCode.SIGNATURE_INVALID and "changed after it was signed" in err.value.message
    with pytest.raises(ShlyuzError) as err:
        await verify_document(build_application(application()), v)
    assert err.value.code is ErrorCode.SIGNATURE_MISSING


A = f'<app:Application xmlns:app="{APP_NS}">'
GOOD_TAIL = ("<app:service>x-y</app:service><app:channel>portal</app:channel><app:applicant><app:iin>"
             f"{APPLICANT}</app:iin></app:applicant><app:submittedAt>2026-01-15T10:00:00+05:00</app:submittedAt>")  # fmt: skip


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        (b"", ErrorCode.EMPTY_BODY, "empty"),
        (b"<app:Application", ErrorCode.MALFORMED_XML, "not well-formed"),
        (b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', ErrorCode.XML_DTD_FORBIDDEN, "DOCTYPE"),
        (b"<a>" * 40 + b"</a>" * 40, ErrorCode.XML_TOO_DEEP, "nested"),
        (b"<x" + b" " * (3 << 20) + b"/>", ErrorCode.BODY_TOO_LARGE, "cap"),
        (b"<Application/>", ErrorCode.DOCUMENT_INVALID, "expected {urn:shlyuz:egov:application:1.0}Application"),
        ((A + GOOD_TAIL + "<app:colour>red</app:colour></app:Application>").encode(), ErrorCode.DOCUMENT_INVALID,
         "<Application>/<colour> is not an element of Application"),
        ((A + GOOD_TAIL + "<app:service>z</app:service></app:Application>").encode(), ErrorCode.DOCUMENT_INVALID,
         "<Application>/<service> is repeated"),
        ((A + GOOD_TAIL + "<other xmlns='urn:x'/></app:Application>").encode(), ErrorCode.DOCUMENT_INVALID,
         "outside the namespace"),
        ((A + GOOD_TAIL.replace(APPLICANT, "12345") + "</app:Application>").encode(), ErrorCode.DOCUMENT_INVALID,
         "<Application>/applicant/iin: String should match pattern"),
        ((A + GOOD_TAIL.replace("+05:00", "") + "</app:Application>").encode(), ErrorCode.DOCUMENT_INVALID,
         "submittedAt carries a time zone offset"),
        ((A + GOOD_TAIL.replace("<app:channel>portal", "<app:channel>fax") + "</app:Application>").encode(),
         ErrorCode.DOCUMENT_INVALID, "<Application>/channel: Input should be 'portal' or 'state-corp'"),
        ((A + GOOD_TAIL.replace("<app:iin>", "<app:iin><b/>") + "</app:Application>").encode(),
         ErrorCode.DOCUMENT_INVALID, "<Application>/<applicant>/<iin> holds child elements"),
        ((A + GOOD_TAIL + "<app:fields><app:field>v</app:field></app:fields></app:Application>").encode(),
         ErrorCode.DOCUMENT_INVALID, "<Application>/<fields>/<field> has no 'name' attribute"),
        ((A + GOOD_TAIL + "<app:documents><app:doc code='A'>x</app:doc></app:documents></app:Application>").encode(),
         ErrorCode.DOCUMENT_INVALID, "<Application>/<documents>/<doc> is not allowed"),
        ((A + GOOD_TAIL.replace("<app:service>x-y</app:service>", "") + "</app:Application>").encode(),
         ErrorCode.DOCUMENT_INVALID, "<Application>/service: Field required"),
        ((A + GOOD_TAIL + "<app:permit><app:subFlow>extend</app:subFlow><app:workerName>W</app:workerName>"
          "<app:citizenship>UZB</app:citizenship><app:position>P</app:position><app:validFrom>2026-01-01</app:validFrom>"
          "<app:validTo>2026-12-31</app:validTo></app:permit></app:Application>").encode(),
         ErrorCode.DOCUMENT_INVALID, "sub-flow extend names the existing permit: permitNumber"),
    ],
    ids=["empty", "malformed", "dtd", "deep", "huge", "wrong-root", "unknown", "repeated", "foreign-ns", "bad-iin",
         "naive-time", "bad-channel", "nested-leaf", "field-no-name", "bad-item", "missing", "extend-no-number"],
)  # fmt: skip
def test_hostile_applications_get_precise_codes(body: bytes, code: ErrorCode, fragment: str) -> None:
    with pytest.raises(ShlyuzError) as err:
        parse_application(body)
    assert err.value.code is code, err.value
    assert fragment in err.value.message, err.value.message


def test_refused_decision_without_reason_is_invalid() -> None:
    root = build_decision(decision())
    root.find("{urn:shlyuz:egov:decision:1.0}decision").text = "refused"
    with pytest.raises(ShlyuzError) as err:
        parse_decision(to_bytes(root))
    assert err.value.code is ErrorCode.DOCUMENT_INVALID and "a refusal is motivated" in err.value.message
    with pytest.raises(ShlyuzError) as err:
        parse_decision(to_bytes(build_application(application())))
    assert "expected {urn:shlyuz:egov:decision:1.0}Decision" in err.value.message


def test_two_signatures_are_refused(session_pki) -> None:
    root = signer_for(session_pki, f"person/{APPLICANT}/sign").data(build_application(application()))
    root.append(copy.deepcopy(root[-1]))
    with pytest.raises(ShlyuzError) as err:
        parse_application(to_bytes(root))
    assert "2 ds:Signature elements" in err.value.message
