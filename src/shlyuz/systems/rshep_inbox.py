"""The provider inbox and the receiving side shared by E-sobes, E-licensing and АРМ РШЭП (participant glue).

An application a system registers is ONE record of kind :data:`INBOX` keyed by its number (``ESB-2026-000001``,
``ELA-…``, ``RSH-…``): the registration, the inbox item and, later, the decision. Its ``status`` goes
``new`` → ``taken`` (an employee took it) → ``approved`` | ``refused``; ``delivery`` is ``pending`` until the RESPONSE
carrying the signed Decision is accepted by the outbox, then ``sent``. Every write is a conditional write of the
record store, so several worker processes never decide one item twice.

A REQUEST is handled in steps, each remembered in a record of kind ``<participant>-request`` keyed by the messageId
(at-least-once delivery: a repeated message resumes where the last attempt stopped): intake (verify, check,
number) → the inbox record → the NOTIFICATION → the automatic provider's rules → (if they decide) the RESPONSE.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from shlyuz.config import ProviderSettings
from shlyuz.dsig.signer import Signer
from shlyuz.egov.documents import (
    DOCUMENT_LIMITS,
    Applicant,
    Application,
    DecidedBy,
    Decision,
    NameValue,
    Reason,
    build_decision,
    parse_application,
    to_bytes,
)  # fmt: skip
from shlyuz.egov.notification import Notification, build_notification
from shlyuz.egov.notification import Rejection as Why
from shlyuz.egov.signing import SignedBy, verify_document
from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.gateway.signature import SignatureVerifier
from shlyuz.storage.records import DEFAULT_SCOPE, VersionConflict, update
from shlyuz.systems import rshep_rules
from shlyuz.systems.participants import (
    AsyncMessage,
    MessageType,
    Outgoing,
    ParticipantContext,
)
from shlyuz.systems.rshep_intake import Rejection, number
from shlyuz.systems.rshep_rules import Verdict
from shlyuz.xml import safe

log = structlog.get_logger("shlyuz.provider")

INBOX = "rshep-inbox"
OPEN = ("new", "taken")
Check = Callable[[Application, SignedBy, ParticipantContext, str], Awaitable[dict[str, Any]]]  # ..., scope
Result = Callable[[dict[str, Any], ParticipantContext, str], Awaitable[tuple[str | None, tuple[NameValue, ...]]]]
After = Callable[[dict[str, Any], ParticipantContext, str], Awaitable[None]]


async def _no_result(item: dict[str, Any], ctx: ParticipantContext, scope: str) -> tuple[str | None, tuple[NameValue, ...]]:
    return None, ()


@dataclass
class ReceivingSystem:
    """An AsyncParticipant that registers signed Applications into the provider inbox and answers Decisions."""

    name: str
    participant_id: str
    service_ids: tuple[str, ...]
    prefix: str  # application numbers: <prefix>-<year>-<NNNNNN>
    check: Check  # raises rshep_intake.Rejection; returns extra inbox fields (e.g. subFlow)
    verifier: SignatureVerifier | None
    provider: ProviderSettings
    identity: str = ""  # signs the Notifications (system/ESOBES …); unsigned when not loaded
    result: Result = _no_result  # the approved result's data (E-licensing allocates the permit number here)
    after: After | None = None  # idempotent, after the decision is stored and before the RESPONSE (the permit)

    # -- the async side -----------------------------------------------------------------------------------------
    async def on_message(self, message: AsyncMessage, ctx: ParticipantContext) -> None:
        bound = log.bind(participant=self.participant_id, messageId=message.message_id)
        if message.message_type is not MessageType.REQUEST:
            bound.info("message_ignored", messageType=message.message_type.value)
            return
        scope, kind = message.scope, f"{self.participant_id}-request"
        req = await ctx.records.get(kind, message.message_id, scope=scope)
        if req is None:
            outcome = await self._intake(message, ctx)
            try:
                req = await ctx.records.put(kind, message.message_id, outcome, scope=scope, expect=0)
            except VersionConflict:  # another worker took the same message first: continue from its outcome
                req = await ctx.records.get(kind, message.message_id, scope=scope)
                assert req is not None
        data = req.data
        if data["status"] == "registered":
            try:
                await ctx.records.put(INBOX, data["number"], data["item"], scope=scope, expect=0)
            except VersionConflict:
                pass  # already in the inbox (a repeated delivery)
        if not data.get("notified"):
            sent = await ctx.outbox.send(self.participant_id, self._notification(message, data, ctx), scope=scope)
            await update(ctx.records, kind, message.message_id, lambda d: {**(d or data), "notified": sent}, scope=scope)
            bound.info("application_" + data["status"], number=data.get("number"), code=data.get("code"))
        if data["status"] == "registered":
            if not data.get("ruled"):
                verdict = rshep_rules.decide(self.provider, data["item"], ctx.fixtures)
                if verdict.action != "manual":
                    try:
                        await self.settle(data["number"], verdict, ctx, scope=scope)
                    except ShlyuzError as exc:
                        if exc.code is not ErrorCode.CONFLICT:
                            raise  # decided meanwhile by hand: nothing to do
                await update(ctx.records, kind, message.message_id, lambda d: {**(d or data), "ruled": verdict.rule},
                             scope=scope)  # fmt: skip
            await self.deliver_pending(data["number"], ctx, scope=scope)

    async def _intake(self, message: AsyncMessage, ctx: ParticipantContext) -> dict[str, Any]:
        try:
            if message.service_id not in self.service_ids:
                raise Rejection("SERVICE_NOT_SERVED", f"{self.name} does not serve serviceId {message.service_id!r}")
            if not message.payload:
                raise Rejection(ErrorCode.DOCUMENT_INVALID.value, "the REQUEST carries no Application document")
            root = safe.parse(message.payload, DOCUMENT_LIMITS)
            app = parse_application(root)
            if self.verifier is None:
                raise Rejection("SIGNATURE_UNVERIFIABLE", "signature verification is disabled (pki.enabled = false)")
            signed = await verify_document(root, self.verifier)
            extra = await self.check(app, signed, ctx, message.scope)
        except ShlyuzError as exc:
            if exc.code is ErrorCode.REVOCATION_UNAVAILABLE:
                raise  # a passing outage, not the applicant's fault: let the channel retry
            return {"status": "rejected", "code": exc.code.value, "text": exc.message}
        except Rejection as exc:
            return {"status": "rejected", "code": exc.code, "text": exc.text}
        now = ctx.now()
        n = await ctx.records.next_number(f"{self.participant_id}-{now.year}", scope=message.scope)
        num = number(self.prefix, now.year, n)
        item = {
            "number": num, "system": self.participant_id, "service": app.service, "channel": app.channel,
            "status": "new", "delivery": None, "applicantIin": app.applicant.iin, "applicantBin": app.applicant.bin,
            "applicantName": app.applicant.name, "signerIin": signed.iin, "signerBin": signed.bin,
            "representativeIin": app.representative.iin if app.representative else None,
            "reference": app.reference, "fields": {f.name: f.value for f in app.fields},
            "documents": [d.model_dump(by_alias=True) for d in app.documents], "registeredAt": now.isoformat(),
            "serviceId": message.service_id, "requestMessageId": message.message_id, "requestSender": message.sender_id,
            "application": app.model_dump(mode="json", by_alias=True), "assignee": None, **extra,
        }  # fmt: skip
        return {"status": "registered", "number": num, "item": item}

    def _notification(self, message: AsyncMessage, data: dict[str, Any], ctx: ParticipantContext) -> Outgoing:
        item = data.get("item") or {}
        note = Notification(
            system=self.participant_id, status=data["status"], application_number=data.get("number"),
            service=item.get("service"), reference=item.get("reference"), received_at=ctx.now(),
            reason=Why(code=data["code"], text=data["text"][:4000]) if data["status"] == "rejected" else None,
        )  # fmt: skip
        root = build_notification(note)
        if (signer := ctx.signers.get(self.identity)) is not None:
            signer.data(root)
        return Outgoing(MessageType.NOTIFICATION, message.service_id, to_bytes(root), correlation_id=message.message_id)

    # -- deciding (the automatic provider, or the inbox JSON API) -------------------------------------------------
    def authorised(self, ctx: ParticipantContext) -> tuple[DecidedBy, Signer]:
        """The provider's authorised person (its head unless configured) and their SIGN key."""
        org = ctx.fixtures.organisations.get(self.provider.bin)
        iin = self.provider.authorized_iin or (org.head_iin if org else None)
        name = f"org/{self.provider.bin}/{iin}/sign"
        signer = ctx.signers.get(name)
        if org is None or iin is None or signer is None:
            raise ShlyuzError(ErrorCode.PROVIDER_ERROR, f"the provider's signing identity {name} is not loaded")
        p = ctx.fixtures.persons.get(iin)
        full = " ".join(x for x in (p.surname, p.name, p.patronymic) if x) if p else iin
        return DecidedBy(iin=iin, name=full, bin=org.bin, organisation=org.name_ru), signer

    async def settle(self, num: str, verdict: Verdict, ctx: ParticipantContext, *, scope: str = DEFAULT_SCOPE,
                     employee: str | None = None) -> dict[str, Any]:  # fmt: skip
        """Decide item ``num`` (CONFLICT when already decided; FORBIDDEN when taken by another employee) and send
        the RESPONSE. Returns the item as stored."""
        rec = await ctx.records.get(INBOX, num, scope=scope)
        if rec is None:
            raise ShlyuzError(ErrorCode.NOT_FOUND, f"no inbox item {num}")
        item = rec.data
        if item["status"] not in OPEN:
            raise ShlyuzError(ErrorCode.CONFLICT, f"item {num} is already {item['status']}")
        if employee is not None and item.get("assignee") not in (None, employee):
            raise ShlyuzError(ErrorCode.FORBIDDEN, f"item {num} is taken by {item['assignee']}")
        summary, result = await self.result(item, ctx, scope) if verdict.action == "approve" else (None, ())
        by, signer = self.authorised(ctx)
        now = ctx.now()
        dec = Decision(
            application_number=num, service=item["service"],
            applicant=Applicant(iin=item.get("applicantIin"), bin=item.get("applicantBin"),
                                signer_iin=item.get("signerIin") if item.get("applicantBin") else None,
                                name=item.get("applicantName")),
            decision="approved" if verdict.action == "approve" else "refused",
            reason=Reason(code=verdict.reason_code or "REFUSED", text=verdict.reason or "Refused")
            if verdict.action == "refuse" else None,
            decided_at=now, decided_by=by, summary=summary, result=result,
        )  # fmt: skip
        xml = to_bytes(signer.data(build_decision(dec))).decode()
        new = {**item, "status": dec.decision, "decidedAt": now.isoformat(), "decidedBy": by.iin, "employee": employee,
               "rule": verdict.rule or None, "reasonCode": dec.reason.code if dec.reason else None,
               "reason": dec.reason.text if dec.reason else None, "result": {f.name: f.value for f in result},
               "summary": summary, "decisionXml": xml, "delivery": "pending"}  # fmt: skip
        try:
            rec = await ctx.records.put(INBOX, num, new, scope=scope, expect=rec.version)
        except VersionConflict:
            raise ShlyuzError(ErrorCode.CONFLICT, f"item {num} changed meanwhile; read it again") from None
        log.info("application_decided", number=num, decision=dec.decision, rule=verdict.rule, employee=employee)
        return await self.deliver_pending(num, ctx, scope=scope) or rec.data

    async def deliver_pending(self, num: str, ctx: ParticipantContext, *, scope: str = DEFAULT_SCOPE) -> dict[str, Any] | None:
        """Send the RESPONSE of a decided item whose delivery is still pending (also after a crash)."""
        rec = await ctx.records.get(INBOX, num, scope=scope)
        if rec is None or rec.data.get("delivery") != "pending":
            return rec.data if rec else None
        item = rec.data
        if self.after is not None:
            await self.after(item, ctx, scope)
        out = Outgoing(MessageType.RESPONSE, item["serviceId"], item["decisionXml"].encode(),
                       correlation_id=item["requestMessageId"])  # fmt: skip
        sent = await ctx.outbox.send(self.participant_id, out, scope=scope)
        done = await update(ctx.records, INBOX, num, lambda d: {**(d or item), "delivery": "sent", "responseMessageId": sent},
                            scope=scope)  # fmt: skip
        return done.data


async def take(ctx: ParticipantContext, num: str, employee: str, *, scope: str = DEFAULT_SCOPE) -> dict[str, Any]:
    """Assign an open item to ``employee`` (taking one's own item again is allowed)."""

    def change(d: dict[str, Any] | None) -> dict[str, Any]:
        if d is None:
            raise ShlyuzError(ErrorCode.NOT_FOUND, f"no inbox item {num}")
        if d["status"] not in OPEN:
            raise ShlyuzError(ErrorCode.CONFLICT, f"item {num} is already {d['status']}")
        if d.get("assignee") not in (None, employee):
            raise ShlyuzError(ErrorCode.CONFLICT, f"item {num} is taken by {d['assignee']}")
        return {**d, "status": "taken", "assignee": employee, "takenAt": ctx.now().isoformat()}

    return (await update(ctx.records, INBOX, num, change, scope=scope)).data


def when(item: dict[str, Any], key: str) -> datetime | None:
    value = item.get(key)
    return datetime.fromisoformat(value) if value else None
