"""Runs a chain through the gateway: answers the engine's needs with the real checks and messages, keeps the run in
the record store, and resumes a run that waits for a person's decision (docs/chains.md).

A run is stored as ``chain-run/<id>``: its options, its start, the answers given so far (the engine replays them), and
the trace as of now. Every worker process can therefore continue any run.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import structlog
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from shlyuz.chains import checks as C
from shlyuz.chains import link, linked, rules
from shlyuz.chains.engine import ChainRun
from shlyuz.chains.trace import (
    Call,
    CheckResult,
    Decision,
    Finished,
    NeedChecks,
    NeedProcess,
    NeedStep,
    StepResult,
)
from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.fixtures.iin import is_valid_bin
from shlyuz.services.model import Service
from shlyuz.services.vocab import Check, System
from shlyuz.storage.records import DEFAULT_SCOPE
from shlyuz.worktime import WorkingCalendar

if TYPE_CHECKING:
    from shlyuz.gateway.app import Gateway

log = structlog.get_logger("shlyuz.chains")
KIND = "chain-run"
Choice = Literal["approve", "refuse", "wait"]
SENDER_BY_CHANNEL = {"state-corp": "arm-con", "portal": "egov-portal", "provider": "arm-rshep"}
SERVICE_BY_SYSTEM = {System.ESOBES: "ESOBES_APPLICATION", System.ELICENSING: "ELICENSING_PERMIT_APPLICATION",
                     System.ARM_RSHEP: "RSHEP_DOCUMENT"}  # fmt: skip
Iin = str
GROUND = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$"  # a refusal ground's code, as the signed Decision's reason/code takes it


@dataclass(frozen=True)
class Link:
    """What a linked run stands for (chains/link.py): an application already sent over the async channel."""

    source: str  # "portal"
    id: str  # the application's record id
    request_message_id: str  # the REQUEST's messageId (the inbox item's requestMessageId)
    document: bytes | None = None  # the signed application, for the run's EDS checks


class RunOptions(BaseModel):
    """What a run is asked to do (the body of ``POST /chains/{service}/runs``, the flags of ``shlyuz run``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)

    channel: Literal["portal", "state-corp", "provider"]
    procedure: str | None = Field(None, description="the provider procedure (annex 4's sub-flow) to follow")
    applicant: str = Field(pattern=r"^[0-9]{12}$", description="the applicant's IIN, or an employer's BIN")
    signer: str | None = Field(None, pattern=r"^[0-9]{12}$", description="for an employer: the employee's IIN")
    representative: str | None = Field(None, pattern=r"^[0-9]{12}$", description="IIN of a representative")
    poa: str | None = Field(None, max_length=64, description="the representative's power of attorney number")
    sign_as: str | None = Field(None, max_length=200, description="PKI identity that signs (default: the signer's SIGN key)")
    portal_password: str | None = Field(None, max_length=200, description="checked against the portal account")
    documents: list[str] | None = Field(None, max_length=100, description="document ids submitted (default: all required)")
    decide: Choice = "approve"
    decisions: dict[str, Choice] = Field(default_factory=dict, description="per decision step ref, e.g. 'procedure main step 5'")
    reason: str | None = Field(None, max_length=2000, description="the refusal's text when refusing")
    ground: str | None = Field(None, pattern=GROUND, description="the refusal ground code when refusing")
    start: AwareDatetime | None = Field(None, description="simulated start (default: the gateway clock)")
    clock: Literal["virtual", "accelerated", "real"] = Field(
        "virtual", description="virtual: durations pass instantly; accelerated: each step takes its simulated time "
        "divided by speed, in real time; real: speed 1",
    )
    speed: float = Field(1000.0, ge=1.0, le=1e9, description="the accelerated clock's factor")
    # inputs of the rules with memory or a timer (docs/chains.md#rules); absent: the steps run as written
    changes: list[Literal["residence", "family", "income"]] = Field(
        default_factory=list, max_length=3, description="annex 1: what changed since an earlier application this year",
    )  # fmt: skip
    fee_paid_after_working_days: int | None = Field(
        None, ge=0, le=250, description="annex 4 (issue): working days after the notification the fee proof comes",
    )  # fmt: skip
    picked_up: bool | None = Field(None, description="annex 4: the recipient came for the permit (else it is posted)")
    missing_documents: Literal["requested", "lost"] | None = Field(
        None, description="annex 6: documents missing (requested from other bodies) or damaged/lost",
    )  # fmt: skip
    documents_supplied_after_working_days: int | None = Field(
        None, ge=0, le=250, description="annex 6: working days the other bodies take to supply the missing data",
    )  # fmt: skip
    subflow: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]{0,39}$", description="annex 7: recognition, "
                                "certificate, duplicate or compensation")  # fmt: skip
    extra_checks: bool = Field(False, description="annex 7: extra requests or checks are needed (+1 month)")
    run_ref: str | None = Field(None, exclude=True)

    def is_employer(self) -> bool:
        return is_valid_bin(self.applicant)

    def signer_iin(self) -> str:
        if self.is_employer():
            return self.signer or ""
        return self.representative or self.applicant

    def person_iin(self) -> str:
        return self.signer or "" if self.is_employer() else self.applicant

    def facts(self, memory: list[dict[str, Any]] | None) -> rules.Facts:
        """The rules' inputs: these options and the applicant's earlier runs (``memory``, as stored)."""
        return rules.Facts(
            changes=frozenset(self.changes), fee_paid_after=self.fee_paid_after_working_days,
            picked_up=self.picked_up, missing_documents=self.missing_documents,
            documents_supplied_after=self.documents_supplied_after_working_days, subflow=self.subflow,
            extra_checks=self.extra_checks,
            earlier=None if memory is None else tuple(rules.EarlierRun.from_json(m) for m in memory),
        )  # fmt: skip


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)

    approve: bool
    reason: str | None = Field(None, max_length=2000)
    ground: str | None = Field(None, pattern=GROUND)
    decided_by: str | None = Field(None, max_length=200)


# -- answers to JSON and back (a run is stored as its answers) ---------------------------------------------------
def _call_json(c: Call) -> dict[str, Any]:
    return {k: v for k, v in c.__dict__.items() if v is not None}


def answer_to_json(answer: list[CheckResult] | StepResult) -> dict[str, Any]:
    if isinstance(answer, list):
        return {"checks": [{"check": r.check.value, "ok": r.ok, "detail": r.detail, "calls": [_call_json(c) for c in r.calls]} for r in answer]}
    d = answer.decision
    return {
        "calls": [_call_json(c) for c in answer.calls],
        "decision": None if d is None else {"approve": d.approve, "reason": d.reason, "ground": d.ground,
                                            "decidedBy": d.decided_by, "at": d.at.isoformat() if d.at else None},
        "resultDocument": answer.result_document,
    }  # fmt: skip


def answer_from_json(data: dict[str, Any]) -> list[CheckResult] | StepResult:
    if "checks" in data:
        return [CheckResult(Check(r["check"]), r["ok"], r.get("detail"), [Call(**c) for c in r.get("calls", [])]) for r in data["checks"]]
    d = data.get("decision")
    decision = None if d is None else Decision(d["approve"], d.get("reason"), d.get("ground"), d.get("decidedBy"),
                                               datetime.fromisoformat(d["at"]) if d.get("at") else None)  # fmt: skip
    return StepResult([Call(**c) for c in data.get("calls", [])], decision, data.get("resultDocument"))


MAX_LIVE_RUNS = 256  # runs on an accelerated or real clock one process drives at a time


class ChainDriver:
    """One per gateway process; holds no run in memory."""

    def __init__(self, gateway: Gateway, services: dict[str, Service], calendar: WorkingCalendar | None = None) -> None:
        self.gateway = gateway
        self.services = services
        self.calendar = calendar or WorkingCalendar(tz=gateway.clock.tz)
        self._tasks: set[asyncio.Task[Any]] = set()  # runs on an accelerated or real clock, driven in this process

    async def close(self) -> None:
        """Stop the runs this process drives in real time; they stay stored as they were (status running)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def service(self, service_id: str) -> Service:
        svc = self.services.get(service_id)
        if svc is None:
            raise ShlyuzError(ErrorCode.NOT_FOUND, f"no service {service_id!r}; `shlyuz services` lists them")
        return svc

    async def start(self, service_id: str, options: RunOptions, *, scope: str = DEFAULT_SCOPE,
                    link: Link | None = None) -> dict[str, Any]:
        """Start a run. ``link``: the run stands for an application already sent (the portal's), see chains/link.py."""
        svc = self.service(service_id)
        if options.channel not in {c.id.value for c in svc.channels}:
            have = ", ".join(c.id.value for c in svc.channels)
            raise ShlyuzError(ErrorCode.INVALID_PARAMETER, f"{service_id} has no {options.channel} channel; it has {have}")
        number = await self.gateway.records.next_number(KIND, scope=scope)
        run_id = f"RUN-{number:06d}"
        options = options.model_copy(update={"run_ref": run_id})
        started = options.start or self.gateway.clock.now()
        memory = await self.memory(service_id, options.applicant, started, scope=scope)
        try:
            run = ChainRun(svc, options.channel, calendar=self.calendar, started_at=started, procedure=options.procedure,
                           facts=options.facts(memory))  # fmt: skip
        except Exception as exc:  # ChainError: the options name what the definition has not
            raise ShlyuzError(ErrorCode.INVALID_PARAMETER, str(exc)) from None
        record = {"id": run_id, "service": service_id, "applicant": options.applicant,
                  "options": options.model_dump(mode="json", by_alias=True), "startedAt": started.isoformat(),
                  "memory": memory, "answers": [], "status": "running"}  # fmt: skip
        if link is not None:
            record.update(link={"source": link.source, "id": link.id}, requestMessageId=link.request_message_id)
        return await self._continue(run, svc, options, record, scope, document=link.document if link else None)

    async def _continue(self, run: ChainRun, svc: Service, options: RunOptions, record: dict[str, Any], scope: str,
                        document: bytes | None = None) -> dict[str, Any]:  # fmt: skip
        if options.clock == "virtual":
            return await self._drive(run, svc, options, record, scope, document)
        # accelerated / real: answer now; a task in this process walks the run in real time
        if len(self._tasks) >= MAX_LIVE_RUNS:
            raise ShlyuzError(ErrorCode.CONFLICT, f"{MAX_LIVE_RUNS} runs on an accelerated or real clock are under way "
                              "in this process; wait for one to end, or run on the virtual clock")  # fmt: skip
        record["status"] = "running"
        record["trace"] = run.trace.to_json()
        await self.gateway.records.put(KIND, record["id"], record, scope=scope)
        task = asyncio.create_task(self._background(run, svc, options, dict(record), scope, document),
                                   name=f"chain-{record['id']}")  # fmt: skip
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return record

    async def _background(self, run: ChainRun, svc: Service, options: RunOptions, record: dict[str, Any], scope: str,
                          document: bytes | None = None) -> None:  # fmt: skip
        try:
            await self._drive(run, svc, options, record, scope, document)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # stored, never lost: the run shows what stopped it
            log.exception("chain_run_failed", run=record["id"])
            record.update(status="failed", error=f"{type(exc).__name__}: {exc}")
            await self.gateway.records.put(KIND, record["id"], record, scope=scope)

    async def memory(self, service_id: str, applicant: str, before: datetime, *, scope: str) -> list[dict[str, Any]]:
        """The applicant's earlier runs of this service in this scope (started no later than ``before``, oldest
        first): what the rules with memory look at. Stored with the run, so a replay sees the same memory."""
        found = await self.gateway.records.find(KIND, scope=scope, where={"service": service_id, "applicant": applicant},
                                                limit=1000)  # fmt: skip
        out = []
        for rec in found:
            data = rec.data
            at = datetime.fromisoformat(data["startedAt"])
            if data.get("status") == "failed" or at > before:
                continue
            outcome = (data.get("trace") or {}).get("outcome")
            out.append(rules.EarlierRun(data["id"], at, outcome, data["options"].get("channel", "")).to_json())
        return sorted(out, key=lambda m: (m["startedAt"], m["id"]))

    async def get(self, run_id: str, *, scope: str = DEFAULT_SCOPE) -> dict[str, Any] | None:
        rec = await self.gateway.records.get(KIND, run_id, scope=scope)
        return rec.data if rec is not None else None

    async def decide(self, run_id: str, decision: DecisionIn, *, scope: str = DEFAULT_SCOPE) -> dict[str, Any]:
        record = await self.get(run_id, scope=scope)
        if record is None:
            raise ShlyuzError(ErrorCode.NOT_FOUND, f"no chain run {run_id}")
        if record["status"] != "waiting":
            raise ShlyuzError(ErrorCode.CONFLICT, f"chain run {run_id} is {record['status']}, not waiting for a decision")
        svc = self.service(record["service"])
        options = RunOptions.model_validate(record["options"]).model_copy(update={"run_ref": run_id})
        run = self._replay(svc, options, record)
        need = run.next_need()
        assert isinstance(need, NeedStep) and need.decision
        answer = StepResult(decision=Decision(decision.approve, decision.reason, decision.ground,
                                              decision.decided_by or "workstation", self.gateway.clock.now()))  # fmt: skip
        return await self._resume(run, svc, options, record, scope, answer)

    async def _resume(self, run: ChainRun, svc: Service, options: RunOptions, record: dict[str, Any], scope: str,
                      answer: StepResult) -> dict[str, Any]:  # fmt: skip
        record["answers"].append(answer_to_json(answer))
        run.answer(answer)
        return await self._continue(run, svc, options, record, scope)

    async def resume_linked(self, item: dict[str, Any], *, scope: str = DEFAULT_SCOPE) -> dict[str, Any] | None:
        """The inbox decided ``item``: answer the decision step of the run waiting under its REQUEST's messageId with
        that decision (chains/link.py). Returns the run as stored after, or None when no run waits for it."""
        decision = link.decision_of(item)
        mid = item.get(link.LINK_FIELD)
        if decision is None or not mid:
            return None
        found = await self.gateway.records.find(KIND, scope=scope, where={link.LINK_FIELD: mid, "status": "waiting"}, limit=1)
        if not found:
            return None
        record = found[0].data
        svc = self.service(record["service"])
        options = RunOptions.model_validate(record["options"]).model_copy(update={"run_ref": record["id"]})
        run = self._replay(svc, options, record)
        need = run.next_need()
        if not (isinstance(need, NeedStep) and need.decision):
            return None
        log.info("chain_run_resumed_by_inbox", run=record["id"], number=item.get("number"), status=item.get("status"))
        return await self._resume(run, svc, options, record, scope, link.answer_from_item(decision, item))

    async def reconcile(self, record: dict[str, Any], *, scope: str = DEFAULT_SCOPE) -> dict[str, Any]:
        """A linked run still waiting although its inbox item was decided meanwhile (an automatic provider rule
        decides while the message is delivered, without a person's request to resume the run): resume it now."""
        if record.get("status") != "waiting" or not record.get(link.LINK_FIELD):
            return record
        taken = await linked.inbox_decision(self.gateway.records, record, scope)
        if taken is None:
            return record
        return await self.resume_linked(taken[1], scope=scope) or record

    def _replay(self, svc: Service, options: RunOptions, record: dict[str, Any]) -> ChainRun:
        return ChainRun.replay(svc, options.channel, calendar=self.calendar, started_at=datetime.fromisoformat(record["startedAt"]),
                               answers=[answer_from_json(a) for a in record["answers"]], procedure=options.procedure,
                               facts=options.facts(record.get("memory", [])))  # fmt: skip

    async def _drive(self, run: ChainRun, svc: Service, options: RunOptions, record: dict[str, Any], scope: str,
                     document: bytes | None = None) -> dict[str, Any]:  # fmt: skip
        ctx = C.CheckContext(self.gateway, svc, options, SENDER_BY_CHANNEL[options.channel])
        if document is not None:
            await linked.verify_submitted(self.gateway, ctx, document)
        need = run.next_need()
        while not isinstance(need, Finished):
            if isinstance(need, NeedChecks):
                answer: list[CheckResult] | StepResult = [await C.evaluate(check, ctx) for check in need.checks]
            elif isinstance(need, NeedStep) and need.decision:
                choice = options.decisions.get(need.ref, options.decide)
                if choice == "wait" and (taken := await linked.inbox_decision(self.gateway.records, record, scope)):
                    answer = link.answer_from_item(*taken)  # the inbox decided before the run got here
                elif choice == "wait":
                    record.update(status="waiting", waitingFor=need.ref)
                    break
                else:
                    approve = choice == "approve"
                    answer = StepResult(decision=Decision(approve, None if approve else options.reason,
                                                          None if approve else options.ground, "rule"))  # fmt: skip
            elif isinstance(need, NeedProcess):
                answer = StepResult(calls=await self._process(need, ctx, options, record))
            else:
                answer = StepResult()
            before = run.now
            record["answers"].append(answer_to_json(answer))
            need = run.answer(answer)
            if options.clock == "virtual":
                await asyncio.sleep(0)  # let other requests in between steps of a long chain
            else:  # the step takes its simulated time divided by the speed, in real time; progress is visible
                record["trace"] = run.trace.to_json()
                await self.gateway.records.put(KIND, record["id"], record, scope=scope)
                speed = 1.0 if options.clock == "real" else options.speed
                await asyncio.sleep(max(0.0, (run.now - before).total_seconds()) / speed)
        if isinstance(need, Finished):
            if need.trace.result_document is None:
                need.trace.result_document = self._result_document(svc, options, run_id=record["id"], refusal=need.trace.refusal)
            record.update(status="done", waitingFor=None)
        run.trace.status = record["status"]
        record["trace"] = run.trace.to_json()
        await self.gateway.records.put(KIND, record["id"], record, scope=scope)
        log.info("chain_run", run=record["id"], service=svc.id, channel=options.channel, status=record["status"],
                 outcome=run.trace.outcome)  # fmt: skip
        return record

    async def _process(self, need: NeedProcess, ctx: C.CheckContext, options: RunOptions,
                       record: dict[str, Any]) -> list[Call]:  # fmt: skip
        """A process that sends the application over SHEP to E-sobes, E-licensing or the regional gateway
        workstation sends it for real through the async channel (once per run); other processes are people's work.
        A linked run (chains/link.py) sends nothing: the application went out already, under ``requestMessageId``."""
        targets = [s for s in need.item.systems if s in SERVICE_BY_SYSTEM]
        outbox = getattr(self.gateway, "outbox", None)
        if not targets or System.SHEP not in need.item.systems or ctx.sent:
            return []
        if record.get("link") and record.get(link.LINK_FIELD):
            ctx.sent = True
            return [link.sent_call(record, targets[0].value, SERVICE_BY_SYSTEM[targets[0]])]
        if outbox is None:
            return []
        from shlyuz.chains.documents import operator_identity, signed_application
        from shlyuz.egov.documents import to_bytes
        from shlyuz.portal import applications as portal_apps
        from shlyuz.systems.participants import MessageType, Outgoing
        from shlyuz.workstations import con_entry

        target = targets[0]
        service_id = SERVICE_BY_SYSTEM[target]
        # 5 процесс of the State Corporation channels: the request goes out signed with the SC employee's EDS;
        # on the portal, the applicant's signed application goes as it is
        sign_as = operator_identity(self.gateway) if options.channel == "state-corp" else None
        root = ctx.signed_application if sign_as is None else None
        try:
            if root is None:
                root, _ = signed_application(self.gateway, ctx.service, options, sign_as=sign_as)
        except ShlyuzError as exc:
            return [Call(target.value, "send the application", False, detail=exc.message)]
        raw = to_bytes(root)
        run_id = options.run_ref or ""
        # tracked like the workstation's and the portal's own applications, so their participant files the answers
        kind = con_entry.KIND if ctx.sender_id == con_entry.PARTICIPANT_ID else portal_apps.KIND
        data = {
            "id": f"chain-{uuid.uuid4()}", "chainRun": run_id, "service": ctx.service.id, "serviceId": service_id,
            "system": target.value, "status": "SENT", "submittedAt": self.gateway.clock.now().isoformat(),
            "messageId": None, "applicant": {"iin": options.applicant}, "representative": None, "checks": {},
            "application": raw.decode("utf-8"), "history": [], "seen": [],
        }  # fmt: skip
        outgoing = Outgoing(MessageType.REQUEST, service_id, raw, properties=(("applicationId", data["id"]),))
        try:
            sent = await portal_apps.send_tracked(self.gateway, kind, data, ctx.sender_id, outgoing)
        except ShlyuzError as exc:
            return [Call(target.value, f"send the application to {service_id}", False, service_id=service_id,
                         detail=f"{exc.code.value}: {exc.message}")]  # fmt: skip
        ctx.sent = True
        record.setdefault(link.LINK_FIELD, sent["messageId"])  # the inbox item of this REQUEST resumes the run
        return [Call(target.value, f"send the application to {service_id}", True, service_id=service_id,
                     message_id=sent["messageId"])]  # fmt: skip

    def _result_document(self, svc: Service, options: RunOptions, *, run_id: str, refusal: dict[str, str] | None) -> str | None:
        """The result or the motivated refusal, signed by the provider's authorised person."""
        from shlyuz.chains.result import signed_result

        return signed_result(self.gateway, svc, options, run_id=run_id, refusal=refusal)
