"""Applications sent over the async channel and what came back for them — shared by the portal's cabinet and the
State Corporation workstation (both send a REQUEST and receive NOTIFICATION / UPDATE / RESPONSE correlated to it).

:func:`apply_message` is pure: the stored application (a JSON dict) and one delivered message → the new dict. It is
idempotent by messageId (delivery is at least once). A RESPONSE carries the provider's signed Decision; it is parsed
here (not trusted: :func:`verify_decision` checks the signature and that the signer is the provider's authorised
person — the head of the organisation in the certificate — when the result is shown).
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from shlyuz.egov.documents import parse_decision
from shlyuz.egov.notification import parse_notification
from shlyuz.egov.signing import verify_document
from shlyuz.errors import ShlyuzError
from shlyuz.fixtures.store import FixtureSet
from shlyuz.gateway.signature import SignatureVerifier
from shlyuz.portal.models import Verification
from shlyuz.systems.participants import AsyncMessage, MessageType
from shlyuz.xml import safe

STATUS_RU = {
    "SENT": "Отправлено",
    "REGISTERED": "Зарегистрировано",
    "IN_PROGRESS": "В обработке",
    "APPROVED": "Исполнено",
    "REFUSED": "Отказано",
    "REJECTED": "Не принято",
    "RESULT_INVALID": "Ошибка в результате",
    "NOT_SENT": "Не отправлено",
}
_FINAL = {"APPROVED", "REFUSED", "REJECTED", "RESULT_INVALID"}
_STATUS_WORDS = {
    "REGISTERED": "REGISTERED", "ACCEPTED": "REGISTERED", "RECEIVED": "REGISTERED",
    "IN_PROGRESS": "IN_PROGRESS", "TAKEN": "IN_PROGRESS", "PROCESSING": "IN_PROGRESS", "IN_WORK": "IN_PROGRESS",
}  # fmt: skip
_LIMITS = safe.XmlLimits(max_bytes=2 * 1024 * 1024, max_depth=16, max_elements=10_000)


def _leaf_texts(payload: bytes | None) -> dict[str, str]:
    """Local name → text of the payload's leaf elements (first occurrence); {} when it is not XML."""
    if not payload:
        return {}
    try:
        root = safe.parse(payload, _LIMITS)
    except ShlyuzError:
        return {}
    out: dict[str, str] = {}
    for el in root.iter():
        if isinstance(el.tag, str) and not any(isinstance(c.tag, str) for c in el):
            out.setdefault(etree.QName(el).localname, "".join(el.itertext()).strip())
    return out


def _notification(payload: bytes | None):
    if not payload:
        return None
    try:
        return parse_notification(payload)
    except ShlyuzError:
        return None


def _status_of(word: str | None, default: str) -> str:
    return _STATUS_WORDS.get((word or "").strip().upper().replace("-", "_"), default)


def apply_message(data: dict[str, Any], message: AsyncMessage) -> dict[str, Any]:
    """What ``message`` (correlated to the application's REQUEST) changes in the stored application."""
    seen = list(data.get("seen", []))
    if message.message_id in seen:
        return data
    data = dict(data)
    data["seen"] = [*seen, message.message_id]
    props = dict(message.properties)
    entry: dict[str, Any] = {
        "messageId": message.message_id,
        "messageType": message.message_type.value,
        "at": message.created_at.isoformat(),
    }
    if message.message_type is MessageType.RESPONSE:
        xml = message.payload or b""
        try:
            decision = parse_decision(xml)
        except ShlyuzError as exc:
            entry |= {"status": "RESULT_INVALID", "text": f"{exc.code.value}: {exc.message}"[:500]}
            data["status"] = "RESULT_INVALID"
        else:
            status = "APPROVED" if decision.decision == "approved" else "REFUSED"
            entry |= {"status": status, "number": decision.application_number,
                      "text": decision.reason.text if decision.reason else decision.summary}  # fmt: skip
            data["status"] = status
            data["applicationNumber"] = decision.application_number
            data["result"] = xml.decode("utf-8", "replace")
    elif (note := _notification(message.payload)) is not None:  # the receiving system's Notification document
        status = "REGISTERED" if note.status == "registered" else "REJECTED"
        entry |= {"status": status, "number": note.application_number,
                  "text": f"{note.reason.code}: {note.reason.text}" if note.reason else None}  # fmt: skip
        if note.application_number and not data.get("applicationNumber"):
            data["applicationNumber"] = note.application_number
        if data.get("status") not in _FINAL:
            data["status"] = status
    else:  # any other NOTIFICATION / UPDATE: a status word and the number, as properties or in the payload
        leaves = _leaf_texts(message.payload)
        number = props.get("applicationNumber") or leaves.get("applicationNumber") or leaves.get("number")
        word = props.get("status") or leaves.get("status") or leaves.get("state")
        default = "REGISTERED" if message.message_type is MessageType.NOTIFICATION else "IN_PROGRESS"
        status = _status_of(word, default)
        text = props.get("message") or leaves.get("message") or leaves.get("text") or word
        entry |= {"status": status, "number": number, "text": text}
        if number and not data.get("applicationNumber"):
            data["applicationNumber"] = number
        if data.get("status") not in _FINAL:  # a late notification does not undo a decision
            data["status"] = status
    data["history"] = [*data.get("history", []), {k: v for k, v in entry.items() if v is not None}]
    return data


async def verify_decision(xml: str, verifier: SignatureVerifier | None, fixtures: FixtureSet) -> Verification:
    """Verify the Decision's signature and certificate, and that the signer is the head of the organisation the
    certificate names (the provider's authorised person) and the ``decidedBy`` of the document."""
    if verifier is None:
        return Verification(verified=False, code="PROVIDER_ERROR", message="EDS verification is off (pki.enabled)")
    try:
        root = safe.parse(xml.encode("utf-8"), _LIMITS)
        signed = await verify_document(root, verifier)
        decision = parse_decision(root)
    except ShlyuzError as exc:
        return Verification(verified=False, code=exc.code.value, message=exc.message)
    org = fixtures.organisations.get(signed.bin or "")
    head = org is not None and org.head_iin == signed.iin
    subject = signed.verdict.get("subject")
    problems = []
    if not head:
        where = f"of {org.name_ru}" if org else "of no known organisation"
        problems.append(f"the signer (IIN {signed.iin}, BIN {signed.bin}) is not the head {where}")
    if decision.decided_by.iin != signed.iin:
        problems.append(f"decidedBy names IIN {decision.decided_by.iin}, the certificate IIN {signed.iin}")
    return Verification(
        verified=not problems,
        code="IIN_MISMATCH" if problems else None,
        message="; ".join(problems) if problems else f"signed by the provider's authorised person: {subject}",
        signer_iin=signed.iin,
        signer_bin=signed.bin,
        signer=subject,
        authorized_person=head,
    )
