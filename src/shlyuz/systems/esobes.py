"""«Е-собес» (E-sobes): the social-protection information system that takes the applications of the portal.

The seed names it as the portal's target in annexes 2 (home education of disabled children) and 6 (social assistance
by decision of the local representative bodies); as the portal does, E-sobes takes every social-protection service
of the definitions (``fixtures/services``) except E-licensing's foreign-labour permits. No public contract exists:
the async REQUEST carries the signed Application (schemas/egov), the answers are a Notification and a signed
Decision, the sync status query is shlyuz's design in the style of the real ones (schemas/esobes). Contract:
docs/systems/esobes.md.

- async ``ESOBES_APPLICATION`` (participant ``esobes``): :func:`participant` (glue in :mod:`.rshep_inbox`);
- sync ``ESOBES_APPLICATION_STATUS``: :class:`EsobesStatusSystem`.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from shlyuz.config import ProviderSettings
from shlyuz.egov.documents import Application
from shlyuz.egov.signing import SignedBy
from shlyuz.gateway.signature import SignatureVerifier
from shlyuz.shep.events import Status, SyncRequest
from shlyuz.shep.reader import payload_root
from shlyuz.shep.writer import format_datetime
from shlyuz.storage.records import RecordStore
from shlyuz.systems.base import HandlerContext, HandlerResult
from shlyuz.systems.dictionaries import (
    RESULT_NOT_FOUND,
    RESULT_OK,
    PayloadError,
    bad_request,
    read_fields,
    sub,
)
from shlyuz.systems.gbdfl import iin_problem
from shlyuz.systems.participants import ParticipantContext
from shlyuz.systems.rshep_inbox import INBOX, ReceivingSystem
from shlyuz.systems.rshep_intake import Rejection, check_applicant_person, check_signer

PARTICIPANT_ID = "esobes"
SERVICE_IDS = ("ESOBES_APPLICATION",)
STATUS_SERVICE_IDS = ("ESOBES_APPLICATION_STATUS",)
STATUS_NS = "urn:shlyuz:esobes:status:1.0"
NOT_ESOBES = frozenset({"foreign-labour-permits"})  # E-licensing's
# annex 6 (local-social-assistance), paragraph 2: the portal serves only persons with disabilities or socially
# significant diseases; the fixtures mark the former with the tag "disabled"
PORTAL_ONLY_FOR = {"local-social-assistance": frozenset({"disabled", "socially-significant-disease"})}


def known_services(fixture_dirs: Iterable[Path]) -> frozenset[str]:
    """Service definition ids E-sobes takes: the ``services/*.yaml`` of the fixture directories (file stem = id),
    minus E-licensing's."""
    found = {p.stem for d in fixture_dirs for p in Path(d, "services").glob("*.yaml")}
    return frozenset(found - NOT_ESOBES)


@dataclass(frozen=True)
class EsobesIntake:
    """E-sobes' acceptance check (sans-IO apart from the context it is given)."""

    services: frozenset[str]

    def check_sync(self, app: Application, signed: SignedBy, ctx: ParticipantContext) -> dict[str, Any]:
        if app.service not in self.services:
            raise Rejection("SERVICE_UNKNOWN", f"E-sobes takes no applications for service {app.service!r}")
        if app.applicant.iin is None:
            raise Rejection("APPLICANT_NOT_PERSON", "E-sobes takes applications of persons (IIN), not of employers (BIN)")
        if app.permit is not None:
            raise Rejection("PERMIT_NOT_EXPECTED", "permit data belong to E-licensing applications")
        today = ctx.now().date()
        check_applicant_person(app, ctx.fixtures)
        check_signer(app, signed, ctx.fixtures, today)
        allowed = PORTAL_ONLY_FOR.get(app.service)
        if allowed and app.channel == "portal":
            person = ctx.fixtures.persons[app.applicant.iin]
            if not allowed & set(person.tags):
                raise Rejection(
                    "CHANNEL_NOT_AVAILABLE",
                    f"service {app.service} is available on the portal only to persons with disabilities or socially "
                    "significant diseases; apply to the provider",
                )
        return {}

    async def __call__(self, app: Application, signed: SignedBy, ctx: ParticipantContext, scope: str) -> dict[str, Any]:
        return self.check_sync(app, signed, ctx)


def participant(*, verifier: SignatureVerifier | None, provider: ProviderSettings, services: frozenset[str]) -> ReceivingSystem:
    """The E-sobes AsyncParticipant (``esobes``, serving ESOBES_APPLICATION). Numbers: ``ESB-<year>-<NNNNNN>``."""
    return ReceivingSystem(
        name="E-sobes", participant_id=PARTICIPANT_ID, service_ids=SERVICE_IDS, prefix="ESB",
        check=EsobesIntake(services), verifier=verifier, provider=provider, identity="system/ESOBES",
    )  # fmt: skip


# -- the sync status query ------------------------------------------------------------------------------------------

STATUS_FIELDS = ("messageId", "messageDate", "applicationNumber", "applicantIin")
MAX_LISTED = 50
PUBLIC_STATUS = {"new": "registered", "taken": "in-review", "approved": "approved", "refused": "refused"}


def parse_status_query(fields: dict[str, str]) -> tuple[str, str]:
    """("number", value) or ("applicant", IIN); PayloadError 00002 otherwise."""
    given = [f for f in ("applicationNumber", "applicantIin") if f in fields]
    if len(given) != 1:
        raise bad_request(
            "send exactly one of applicationNumber or applicantIin" + (" (both given)" if given else ""),
            "укажите номер заявления или ИИН заявителя",
            fields,
        )
    if given[0] == "applicantIin":
        if problem := iin_problem(fields["applicantIin"], "IIN"):
            raise bad_request(f"applicantIin: {problem}", "некорректный ИИН", fields)
        return "applicant", fields["applicantIin"]
    return "number", fields["applicationNumber"]


def build_status_response(message_id: str, message_date: str, request_id: str, result, items: list[dict[str, Any]]) -> etree._Element:
    """``ApplicationStatusResponse`` (unqualified children, as ENIS). A decided item carries its signed Decision as
    base64 of the signed bytes (``decisionDocument``): embedding it as XML would put a second ds:Signature inside
    the payload E-sobes signs itself."""
    root = etree.Element(f"{{{STATUS_NS}}}ApplicationStatusResponse", nsmap={"esb": STATUS_NS})
    sub(root, "messageId", message_id)
    sub(root, "messageDate", message_date)
    sub(root, "requestId", request_id)
    res = sub(root, "messageResult")
    sub(res, "code", result.code)
    sub(res, "nameRu", result.name_ru)
    sub(res, "nameKz", result.name_kz)
    if items:
        box = sub(root, "applications")
        for item in items:
            el = sub(box, "application")
            sub(el, "applicationNumber", item["number"])
            sub(el, "service", item["service"])
            sub(el, "channel", item["channel"])
            sub(el, "applicantIin", item["applicantIin"])
            sub(el, "status", PUBLIC_STATUS.get(item["status"], item["status"]))
            sub(el, "registeredAt", item["registeredAt"])
            if item.get("decidedAt"):
                sub(el, "decidedAt", item["decidedAt"])
            if item.get("reasonCode"):
                sub(el, "reasonCode", item["reasonCode"])
            if item.get("decisionXml") and item["status"] in ("approved", "refused"):
                sub(el, "decisionDocument", base64.b64encode(item["decisionXml"].encode()).decode())
    return root


@dataclass
class EsobesStatusSystem:
    """Sync ``ESOBES_APPLICATION_STATUS``: by application number or by applicant IIN → status (+ signed Decision).

    Reads the inbox records: ``ctx.records`` when the gateway passes them, else the store given here."""

    records: RecordStore | None = None
    name: str = "E-sobes"
    service_ids: tuple[str, ...] = STATUS_SERVICE_IDS
    signing_identity: str = field(default="system/ESOBES")

    async def handle(self, request: SyncRequest, ctx: HandlerContext) -> HandlerResult:
        records = ctx.records or self.records  # self.records: a handler used on its own, outside a gateway
        if records is None:
            raise RuntimeError("E-sobes has no record store")
        fields: dict[str, str] = {}
        items: list[dict[str, Any]] = []
        try:
            fields = read_fields(payload_root(request.payload), STATUS_NS, "ApplicationStatusRequest", STATUS_FIELDS, "esb")
            mode, value = parse_status_query(fields)
        except PayloadError as exc:
            status, result, message = Status.FAILURE, exc.message_result(), f"Invalid E-sobes request: {exc.reason}"
            verdict: dict[str, object] = {"found": 0, "reason": exc.reason}
        else:
            if mode == "number":
                rec = await records.get(INBOX, value)
                items = [rec.data] if rec is not None and rec.data.get("system") == PARTICIPANT_ID else []
            else:
                found = await records.find(INBOX, where={"system": PARTICIPANT_ID, "applicantIin": value}, limit=MAX_LISTED)
                items = [r.data for r in found]
            verdict = {"search": mode, "found": len(items)}
            if items:
                status, result, message = Status.SUCCESS, RESULT_OK, f"{len(items)} application(s) found"
            else:
                status, result = Status.FAILURE, RESULT_NOT_FOUND
                message = f"No E-sobes application with {'number' if mode == 'number' else 'applicant IIN'} {value}"
        payload = build_status_response(
            ctx.response_message_id, format_datetime(ctx.now()), fields.get("messageId") or request.info.message_id,
            result, items,
        )  # fmt: skip
        return HandlerResult(status, payload=payload, message=message[:250], verdict=verdict)
