"""ГБД «Е-лицензирование» (E-licensing): employers' applications for permits to attract foreign labour (annex 4),
and the permit registry.

- async ``ELICENSING_PERMIT_APPLICATION`` (participant ``elicensing``): a signed Application with ``app:permit``
  (sub-flow issue, reissue, extend or intra-corporate-transfer), registered as ``ELA-<year>-<NNNNNN>`` into the
  provider inbox; an approval issues (``FLP-<year>-<NNNNNN>``), re-issues or extends the permit in the registry.
  Issue and intra-corporate transfer wait for the fee: ``awaiting-fee`` for ten working days, ``lapsed`` after
  (:func:`record_fee_payment` makes the permit ``active``).
- sync ``ELICENSING_PERMIT_REGISTRY``: :class:`PermitRegistrySystem`, by employer BIN, worker IIN or permit number.

No public contract exists: shlyuz's design in the style of the real ones; docs/systems/elicensing.md,
schemas/elicensing/elicensing-registry.xsd. Domain rules (sans-IO): :mod:`.elicensing_rules`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from lxml import etree

from shlyuz.config import ProviderSettings
from shlyuz.egov.documents import Application, NameValue, SubFlow
from shlyuz.egov.signing import SignedBy
from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.gateway.signature import SignatureVerifier
from shlyuz.shep.events import Status, SyncRequest
from shlyuz.shep.reader import payload_root
from shlyuz.shep.writer import format_datetime
from shlyuz.storage.records import DEFAULT_SCOPE, RecordStore, VersionConflict, update
from shlyuz.systems.base import HandlerContext, HandlerResult
from shlyuz.systems.dictionaries import (
    RESULT_NOT_FOUND,
    RESULT_OK,
    PayloadError,
    bad_request,
    read_fields,
    sub,
)
from shlyuz.systems.elicensing_rules import (
    FEE_FLOWS,
    FEE_WORKING_DAYS,
    add_working_days,
    check_application,
    permit_status,
)
from shlyuz.systems.gbdfl import iin_problem
from shlyuz.systems.participants import ParticipantContext
from shlyuz.systems.rshep_inbox import ReceivingSystem
from shlyuz.systems.rshep_intake import number

PARTICIPANT_ID = "elicensing"
SERVICE_IDS = ("ELICENSING_PERMIT_APPLICATION",)
REGISTRY_SERVICE_IDS = ("ELICENSING_PERMIT_REGISTRY",)
REGISTRY_NS = "urn:shlyuz:elicensing:registry:1.0"
PERMIT = "elicensing-permit"  # record kind: the registry, keyed by permit number
PERMIT_FOR = "elicensing-permit-for"  # application number → the permit number it was given


async def _check(app: Application, signed: SignedBy, ctx: ParticipantContext, scope: str) -> dict[str, Any]:
    existing = None
    if app.permit is not None and app.permit.permit_number:
        rec = await ctx.records.get(PERMIT, app.permit.permit_number, scope=scope)
        existing = rec.data if rec is not None else None
    return check_application(app, signed, ctx.fixtures, ctx.now().date(), existing)


async def _result(item: dict[str, Any], ctx: ParticipantContext, scope: str) -> tuple[str | None, tuple[NameValue, ...]]:
    """The approved result: the permit number (allocated once per application), its term and the fee deadline."""
    permit = item["application"]["permit"]
    flow = SubFlow(item["subFlow"])
    if flow in FEE_FLOWS:
        rec = await ctx.records.get(PERMIT_FOR, item["number"], scope=scope)
        if rec is None:
            year = ctx.now().year
            num = number("FLP", year, await ctx.records.next_number(f"elicensing-permit-{year}", scope=scope))
            try:
                rec = await ctx.records.put(PERMIT_FOR, item["number"], {"permit": num}, scope=scope, expect=0)
            except VersionConflict:
                rec = await ctx.records.get(PERMIT_FOR, item["number"], scope=scope)
        assert rec is not None
        permit_number = rec.data["permit"]
        fee_due = add_working_days(ctx.now().date(), FEE_WORKING_DAYS).isoformat()
        summary = (f"Permit {permit_number} to attract foreign labour is granted; it is issued once the fee is paid, "
                   f"by {fee_due}")  # fmt: skip
        extra = (NameValue(name="feeDue", value=fee_due),)
    else:
        permit_number = permit["permitNumber"]
        verb = "re-issued" if flow is SubFlow.REISSUE else "extended"
        summary, extra = f"Permit {permit_number} is {verb}", ()
    return summary, (
        NameValue(name="permitNumber", value=permit_number), NameValue(name="subFlow", value=flow.value),
        NameValue(name="validFrom", value=permit["validFrom"]), NameValue(name="validTo", value=permit["validTo"]),
        *extra,
    )  # fmt: skip


async def _after(item: dict[str, Any], ctx: ParticipantContext, scope: str) -> None:
    """Write the approved permit into the registry (idempotent by application number)."""
    if item["status"] != "approved":
        return
    permit, result = item["application"]["permit"], item["result"]
    num = result["permitNumber"]

    def change(d: dict[str, Any] | None) -> dict[str, Any]:
        if d is not None and item["number"] in d.get("applications", []):
            return d  # already applied
        common = {"workerName": permit["workerName"], "workerIin": permit.get("workerIin"),
                  "citizenship": permit["citizenship"], "position": permit["position"]}  # fmt: skip
        if d is None:  # issue / intra-corporate transfer
            org = ctx.fixtures.organisations.get(item["applicantBin"])
            return {"number": num, "bin": item["applicantBin"], "employer": org.name_ru if org else None,
                    "kind": permit["subFlow"], "homeCompany": permit.get("homeCompany"), **common,
                    "validFrom": permit["validFrom"], "validTo": permit["validTo"], "status": "awaiting-fee",
                    "feeDue": result["feeDue"], "issuedAt": item["decidedAt"], "applications": [item["number"]]}  # fmt: skip
        if permit["subFlow"] == "reissue":
            d = {**d, **common, "reissuedAt": item["decidedAt"]}
        else:
            d = {**d, "validTo": permit["validTo"], "extendedAt": item["decidedAt"]}
        return {**d, "applications": [*d.get("applications", []), item["number"]]}

    await update(ctx.records, PERMIT, num, change, scope=scope)


async def record_fee_payment(records: RecordStore, permit_number: str, paid_on: date, *,
                             scope: str = DEFAULT_SCOPE) -> dict[str, Any]:  # fmt: skip
    """The employer brought the fee receipt (annex 4, issue step 13): the permit becomes active, if in time.
    CONFLICT when the window has closed or the permit is not awaiting the fee; NOT_FOUND when there is none."""

    def change(d: dict[str, Any] | None) -> dict[str, Any]:
        if d is None:
            raise ShlyuzError(ErrorCode.NOT_FOUND, f"no permit {permit_number}")
        status = permit_status(d, paid_on)
        if status != "awaiting-fee":
            raise ShlyuzError(ErrorCode.CONFLICT, f"permit {permit_number} is {status}; the fee is not expected")
        return {**d, "status": "active", "feePaidOn": paid_on.isoformat()}

    return (await update(records, PERMIT, permit_number, change, scope=scope)).data


def participant(*, verifier: SignatureVerifier | None, provider: ProviderSettings) -> ReceivingSystem:
    """The E-licensing AsyncParticipant (``elicensing``, serving ELICENSING_PERMIT_APPLICATION)."""
    return ReceivingSystem(
        name="E-licensing", participant_id=PARTICIPANT_ID, service_ids=SERVICE_IDS, prefix="ELA", check=_check,
        verifier=verifier, provider=provider, identity="system/ELICENSING", result=_result, after=_after,
    )  # fmt: skip


# -- the sync registry lookup ---------------------------------------------------------------------------------------

REGISTRY_FIELDS = ("messageId", "messageDate", "employerBin", "workerIin", "permitNumber")
PERMIT_FIELDS = ("number", "kind", "bin", "employer", "workerIin", "workerName", "citizenship", "position",
                 "homeCompany", "validFrom", "validTo", "feeDue", "issuedAt")  # fmt: skip
_XML_NAMES = {"number": "permitNumber", "bin": "employerBin", "employer": "employerName"}


def parse_registry_query(fields: dict[str, str]) -> tuple[str, str]:
    given = [f for f in ("employerBin", "workerIin", "permitNumber") if f in fields]
    if len(given) != 1:
        raise bad_request("send exactly one of employerBin, workerIin or permitNumber", "укажите один критерий поиска", fields)
    name = given[0]
    if name != "permitNumber" and (problem := iin_problem(fields[name], "BIN" if name == "employerBin" else "IIN")):
        raise bad_request(f"{name}: {problem}", f"{name}: некорректное значение", fields)
    return name, fields[name]


def build_registry_response(message_id: str, message_date: str, request_id: str, result, permits: list[dict[str, Any]],
                            today: date) -> etree._Element:  # fmt: skip
    root = etree.Element(f"{{{REGISTRY_NS}}}PermitRegistryResponse", nsmap={"elr": REGISTRY_NS})
    for name, value in (("messageId", message_id), ("messageDate", message_date), ("requestId", request_id)):
        sub(root, name, value)
    res = sub(root, "messageResult")
    for name, value in (("code", result.code), ("nameRu", result.name_ru), ("nameKz", result.name_kz)):
        sub(res, name, value)
    if permits:
        box = sub(root, "permits")
        for p in permits:
            el = sub(box, "permit")
            for name in PERMIT_FIELDS:
                if p.get(name):
                    sub(el, _XML_NAMES.get(name, name), str(p[name]))
            sub(el, "status", permit_status(p, today))
    return root


@dataclass
class PermitRegistrySystem:
    """Sync ``ELICENSING_PERMIT_REGISTRY``: permits by employer BIN, worker IIN or permit number, status computed
    for the gateway clock's date. Reads ``ctx.records`` when the gateway passes them, else the store given here."""

    records: RecordStore | None = None
    name: str = "E-licensing"
    service_ids: tuple[str, ...] = REGISTRY_SERVICE_IDS
    signing_identity: str = "system/ELICENSING"

    async def handle(self, request: SyncRequest, ctx: HandlerContext) -> HandlerResult:
        records = ctx.records or self.records  # self.records: a handler used on its own, outside a gateway
        if records is None:
            raise RuntimeError("E-licensing has no record store")
        fields: dict[str, str] = {}
        permits: list[dict[str, Any]] = []
        try:
            fields = read_fields(payload_root(request.payload), REGISTRY_NS, "PermitRegistryRequest", REGISTRY_FIELDS, "elr")
            name, value = parse_registry_query(fields)
        except PayloadError as exc:
            status, result, message = Status.FAILURE, exc.message_result(), f"Invalid E-licensing request: {exc.reason}"
            verdict: dict[str, object] = {"found": 0, "reason": exc.reason}
        else:
            if name == "permitNumber":
                rec = await records.get(PERMIT, value)
                permits = [rec.data] if rec else []
            else:
                where = {"bin": value} if name == "employerBin" else {"workerIin": value}
                permits = [r.data for r in await records.find(PERMIT, where=where, limit=100)]
            verdict = {"search": name, "found": len(permits)}
            if permits:
                status, result, message = Status.SUCCESS, RESULT_OK, f"{len(permits)} permit(s) found"
            else:
                status, result, message = Status.FAILURE, RESULT_NOT_FOUND, f"No permit with {name} {value}"
        payload = build_registry_response(
            ctx.response_message_id, format_datetime(ctx.now()), fields.get("messageId") or request.info.message_id,
            result, permits, ctx.now().date(),
        )  # fmt: skip
        return HandlerResult(status, payload=payload, message=message[:250], verdict=verdict)
