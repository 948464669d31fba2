"""Submitting a signed Application from the portal, and the personal cabinet's view of it.

The portal's checks (the seed's portal chain, 2 шарт): the document is an Application for a service the portal
accepts; its signature verifies and the signer's SIGN certificate is trusted, in date and not revoked (the gateway's
verifier); the IIN in the certificate is the logged-in user's — who is the applicant, the applicant's representative
under a notarised power of attorney checked in ENIS, or, for an employer (BIN), the staff member who logged in with
that BIN (the certificate's BIN must be the employer's). Then (5 процесс) the document goes, byte for byte, as an
async REQUEST from ``egov-portal`` to E-sobes or E-licensing.

Records: kind ``portal-application``, key a new id; ``owner`` is the account, ``messageId`` the REQUEST's id (the
``correlationId`` of everything that comes back).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from shlyuz.egov.documents import parse_application
from shlyuz.egov.signing import verify_document
from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.gateway.jsonapi import ApiError
from shlyuz.portal.models import ApplicationOut, CatalogueEntry, HistoryItem, ResultOut
from shlyuz.portal.tracking import STATUS_RU, verify_decision
from shlyuz.storage.records import update
from shlyuz.storage.scope import current_scope
from shlyuz.systems.participants import MessageType, Outgoing
from shlyuz.xml import safe

if TYPE_CHECKING:
    from shlyuz.gateway.app import Gateway

log = structlog.get_logger("shlyuz.portal")
KIND = "portal-application"
PARTICIPANT_ID = "egov-portal"
_LIMITS = safe.XmlLimits(max_bytes=2 * 1024 * 1024, max_depth=16, max_elements=10_000)


def outbox_of(gateway: Gateway):
    outbox = getattr(gateway, "outbox", None)
    if outbox is None:
        raise ApiError(ErrorCode.PROVIDER_ERROR, "the SHEP async channel is not running in this gateway", status=503)
    return outbox


def _bad(exc: ShlyuzError) -> ApiError:
    return ApiError(exc.code, f"document: {exc.message}")


async def submit(gateway: Gateway, subject: dict[str, Any], xml: str, catalogue: dict[str, CatalogueEntry]) -> dict:
    from shlyuz.workstations.con_checks import check_poa

    verifier = gateway.sync.verifier
    if verifier is None:
        raise ApiError(ErrorCode.PROVIDER_ERROR, "signed applications need the test PKI (pki.enabled = true)", status=503)
    raw = xml.encode("utf-8")
    try:
        root = safe.parse(raw, _LIMITS)
        app = parse_application(root)
    except ShlyuzError as exc:
        raise _bad(exc) from None
    entry = catalogue.get(app.service)
    if entry is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"service {app.service!r} is not in the catalogue (GET /portal/services)")
    if not entry.portal or entry.service_id is None:
        raise ApiError(ErrorCode.FORBIDDEN, f"service {app.service!r} is not rendered through the portal "
                                            f"(channels: {', '.join(entry.channels)})")  # fmt: skip
    if app.channel != "portal":
        raise ApiError(ErrorCode.DOCUMENT_INVALID, f"document: channel is {app.channel!r}; the portal sends 'portal'")
    try:
        signed = await verify_document(root, verifier)
    except ShlyuzError as exc:
        raise _bad(exc) from None
    user = subject["iin"]
    if signed.iin != user:
        raise ApiError(ErrorCode.IIN_MISMATCH,
                       f"the document is signed by IIN {signed.iin}, not by the logged-in user {user}")  # fmt: skip
    who = app.applicant
    rep = app.representative
    if entry.applicant == "employer":
        if who.bin is None:
            raise ApiError(ErrorCode.FORBIDDEN, f"{app.service!r} is an employer's service: the applicant is a BIN")
        if subject.get("bin") != who.bin or who.signer_iin != user:
            raise ApiError(ErrorCode.FORBIDDEN, f"the applicant BIN {who.bin} with signer {who.signer_iin} is not the "
                                                f"logged-in account {subject['account']}")  # fmt: skip
        if signed.bin != who.bin:
            raise ApiError(ErrorCode.IIN_MISMATCH, f"the signing certificate is for BIN {signed.bin}, not for the "
                                                   f"applicant BIN {who.bin}")  # fmt: skip
    elif who.iin is None:
        raise ApiError(ErrorCode.FORBIDDEN, f"{app.service!r} is a person's service: the applicant is an IIN")
    elif rep is None and who.iin != user:
        raise ApiError(ErrorCode.FORBIDDEN, f"the applicant IIN {who.iin} is not the logged-in user {user}; "
                                            "acting for someone else needs a representative with a power of attorney")
    poa = None
    if rep is not None:
        if rep.iin != user:
            raise ApiError(ErrorCode.FORBIDDEN, f"the representative IIN {rep.iin} is not the logged-in user {user}")
        if not rep.notarised:
            raise ApiError(ErrorCode.POA_NOT_VALID, "the portal accepts a representative only under a notarised "
                                                    "power of attorney it can check in ENIS", status=422)  # fmt: skip
        poa = (await check_poa(gateway, PARTICIPANT_ID, rep.poa_number, principal=who.id, attorney=rep.iin)).as_dict()
    now = gateway.clock.now()
    app_id = str(uuid.uuid4())
    data = {
        "id": app_id, "owner": subject["account"], "service": app.service, "serviceId": entry.service_id,
        "system": entry.system, "status": "SENT", "submittedAt": now.isoformat(), "messageId": None,
        "applicant": who.model_dump(mode="json", by_alias=True, exclude_none=True),
        "representative": rep.model_dump(mode="json", by_alias=True) if rep else None,
        "checks": {"signature": signed.verdict, **({"poa": poa} if poa else {})},
        "application": xml, "history": [], "seen": [],
    }  # fmt: skip
    outgoing = Outgoing(MessageType.REQUEST, entry.service_id, raw, properties=(("applicationId", app_id),))
    sent = await send_tracked(gateway, KIND, data, PARTICIPANT_ID, outgoing)
    return await start_chain_run(gateway, sent, raw)


async def start_chain_run(gateway: Gateway, data: dict[str, Any], raw: bytes) -> dict[str, Any]:
    """The submitted application as a chain run of the service's portal channel, linked to its REQUEST: it waits at
    the provider's decision step until the inbox decides (docs/chains.md#the-inbox-link). The application stands
    whether or not the run can start (a definition without a portal channel, say): a failure is logged, not raised."""
    from shlyuz.chains.driver import Link, RunOptions
    from shlyuz.chains.link import portal_options

    driver = getattr(gateway, "chains", None)
    if driver is None or not data.get("messageId"):
        return data
    try:
        options = RunOptions.model_validate(portal_options(data))
        run = await driver.start(data["service"], options, scope=current_scope(),
                                 link=Link("portal", data["id"], data["messageId"], raw))  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - the run is a view of the application, never a reason to lose it
        log.warning("portal_chain_run_not_started", application=data["id"], error=f"{type(exc).__name__}: {exc}")
        return data
    return (await update(gateway.records, KIND, data["id"], lambda d: {**(d or data), "chainRun": run["id"]})).data


async def send_tracked(gateway: Gateway, kind: str, data: dict[str, Any], sender: str, outgoing: Outgoing) -> dict:
    """Store the application, hand the REQUEST to the async channel, remember its messageId. The record is written
    first, so an answer can always find it; if the channel refuses, the record says ``NOT_SENT`` and the caller gets
    PROVIDER_ERROR (503) with the channel's reason."""
    outbox = outbox_of(gateway)
    await gateway.records.put(kind, data["id"], data, expect=0)
    try:
        message_id = await outbox.send(sender, outgoing)
    except Exception as exc:  # noqa: BLE001 - whatever the channel raised, the record must say so
        reason = f"{exc.code.value}: {exc.message}" if isinstance(exc, ShlyuzError) else type(exc).__name__
        await update(gateway.records, kind, data["id"], lambda d: {**(d or data), "status": "NOT_SENT", "error": reason})
        raise ApiError(ErrorCode.PROVIDER_ERROR, f"the async channel did not accept the request: {reason}",
                       status=503) from None  # fmt: skip
    return (await update(gateway.records, kind, data["id"], lambda d: {**(d or data), "messageId": message_id})).data


async def view(gateway: Gateway, data: dict[str, Any]) -> ApplicationOut:
    result = None
    if data.get("result"):
        from shlyuz.egov.documents import parse_decision

        verification = await verify_decision(data["result"], gateway.sync.verifier, gateway.fixtures)
        try:
            dec = parse_decision(data["result"].encode("utf-8"))
        except ShlyuzError:
            dec = None
        if dec is not None:
            result = ResultOut(
                decision=dec.decision, application_number=dec.application_number, decided_at=dec.decided_at,
                decided_by=f"{dec.decided_by.name} ({dec.decided_by.organisation})",
                reason_code=dec.reason.code if dec.reason else None, reason=dec.reason.text if dec.reason else None,
                result={f.name: f.value for f in dec.result}, verification=verification,
            )  # fmt: skip
    return ApplicationOut(
        id=data["id"],
        service=data["service"],
        service_id=data["serviceId"],
        status=data["status"],
        status_ru=STATUS_RU.get(data["status"], data["status"]),
        submitted_at=datetime.fromisoformat(data["submittedAt"]),
        message_id=data.get("messageId"),
        application_number=data.get("applicationNumber"),
        applicant=data["applicant"],
        representative=data.get("representative"),
        history=[HistoryItem.model_validate(h) for h in data.get("history", [])],
        result=result,
        chain_run=data.get("chainRun"),
    )
