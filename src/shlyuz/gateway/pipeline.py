"""The stages a SyncChannel exchange goes through, and the glue that runs them.

parse → authenticate → faults (shlyuz.faults: the session's injected faults) → verify signatures → route → authorise
→ dispatch to the system → build the response.

Each stage is an async callable over :class:`Exchange` that fills it in or raises :class:`ShlyuzError`; adding a
stage (signature verification, fault injection, ...) is inserting it into the list. The pipeline does no I/O of its
own beyond awaiting the system handler and reading the session's fault rules: the HTTP edge (``gateway.http``) reads
the body, journals the record and writes the response.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from shlyuz.storage.records import RecordStore
from shlyuz.clock import Clock
from shlyuz.errors import ErrorCode, FaultKind, ShlyuzError
from shlyuz.faults import stage as fault_stage
from shlyuz.fixtures.models import Sender
from shlyuz.fixtures.store import FixtureSet
from shlyuz.shep import auth, ns
from shlyuz.shep.events import DataKind, ErrorInfo, Status, SyncRequest, SyncResponse
from shlyuz.shep.reader import read_sync_request
from shlyuz.shep.writer import write_fault, write_sync_response
from shlyuz.dsig.signer import Signer
from shlyuz.gateway.signature import SignatureVerifier
from shlyuz.storage.base import ExchangeRecord
from shlyuz.systems.base import HandlerContext, HandlerResult, ServiceRegistry, SystemHandler
from shlyuz.xml.safe import XmlLimits

log = structlog.get_logger("shlyuz.sync")


def new_session_id() -> str:
    return "{" + str(uuid.uuid4()) + "}"


@dataclass(slots=True)
class Exchange:
    """One request's progress through the pipeline."""

    body: bytes
    content_type: str | None
    endpoint: str
    received_at: datetime
    remote: str | None = None
    require_wsse: bool = False  # the /bip-sync-wss-gost/ endpoint: a WS-Security signature is mandatory
    session_id: str = field(default_factory=new_session_id)
    request: SyncRequest | None = None
    sender: Sender | None = None
    system: SystemHandler | None = None
    result: HandlerResult | None = None
    verdicts: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    response_message_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    fault: Any = None  # the fault rule that fired on this exchange (faults.model.Decision), if any


Stage = Callable[[Exchange], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Outcome:
    http_status: int
    body: bytes
    record: ExchangeRecord
    fault: Any = None  # faults.model.Decision: the edge acts on transport faults


class SyncPipeline:
    def __init__(
        self,
        *,
        registry: ServiceRegistry,
        fixtures: FixtureSet,
        senders: dict[str, Sender],
        clock: Clock,
        limits: XmlLimits,
        journal_bodies: bool = True,
        verifier: SignatureVerifier | None = None,
        response_signer: Signer | None = None,
        data_signers: dict[str, Signer] | None = None,
        sign_responses: str = "wss-endpoint",
        records: RecordStore | None = None,
    ) -> None:
        self.registry = registry
        self.records = records
        self.fixtures = fixtures
        self.senders = senders
        self.clock = clock
        self.limits = limits
        self.journal_bodies = journal_bodies
        self.verifier = verifier
        self.response_signer = response_signer
        self.data_signers = data_signers or {}
        self.sign_responses = sign_responses
        self.fault_rng = random.Random()  # latency draws and rule probabilities (faults.model); seed it in tests
        self.stages: list[tuple[str, Stage]] = [
            ("parse", self.parse),
            ("authenticate", self.authenticate),
            ("faults", self.faults),
            ("signature", self.signature),
            ("route", self.route),
            ("authorize", self.authorize),
            ("dispatch", self.dispatch),
        ]

    # -- stages -----------------------------------------------------------------------------------------------
    async def parse(self, ex: Exchange) -> None:
        ex.request = read_sync_request(ex.body, ex.content_type, self.limits)
        info = ex.request.info
        structlog.contextvars.bind_contextvars(
            messageId=info.message_id, serviceId=info.service_id, senderId=info.sender.sender_id
        )
        ex.verdicts["data"] = ex.request.data_kind.value

    async def authenticate(self, ex: Exchange) -> None:
        assert ex.request is not None
        ex.sender = auth.authenticate(ex.request.info.sender, self.senders)

    async def faults(self, ex: Exchange) -> None:
        """Fault injection: the rule of the session scope that fires on this request, if any (shlyuz.faults)."""
        await fault_stage.run(self, ex)

    async def signature(self, ex: Exchange) -> None:
        """EDS: verify the WS-Security and data signatures and their certificates (gateway.signature)."""
        assert ex.request is not None
        if self.verifier is None:  # PKI disabled: nothing can be verified, and nothing is claimed
            wsse = any(h.tag == ns.q(ns.WSSE, "Security") for h in ex.request.headers)
            if ex.require_wsse:
                raise ShlyuzError(ErrorCode.SIGNATURE_MISSING, "signature verification is disabled (pki.enabled = false)")
            ex.verdicts["signature"] = {"wsse": "present, not verified (pki disabled)" if wsse else "absent"}
            return
        try:
            ex.verdicts["signature"] = await self.verifier.verify_request(
                ex.request, require_wsse=ex.require_wsse, revocation_fault=fault_stage.revocation_of(ex)
            )
        except ShlyuzError as exc:
            ex.verdicts["signature"] = {"failed": exc.code.value, "reason": exc.message}
            raise

    async def route(self, ex: Exchange) -> None:
        assert ex.request is not None
        service_id = ex.request.info.service_id
        ex.system = self.registry.get(service_id)
        if ex.system is None:
            raise ShlyuzError(ErrorCode.SERVICE_NOT_FOUND, f"no information system is registered for serviceId {service_id!r}")

    async def authorize(self, ex: Exchange) -> None:
        assert ex.request is not None and ex.sender is not None
        auth.authorize(ex.sender, ex.request.info.service_id)

    async def dispatch(self, ex: Exchange) -> None:
        assert ex.request is not None and ex.system is not None
        if (injected := fault_stage.injected_result(ex)) is not None:
            ex.result = injected
            return
        ctx = HandlerContext(
            fixtures=self.fixtures,
            now=self.clock.now,
            session_id=ex.session_id,
            response_message_id=ex.response_message_id,
            records=self.records,
        )
        try:
            ex.result = await ex.system.handle(ex.request, ctx)
        except ShlyuzError:
            raise
        except Exception as exc:
            log.exception("system_failed", system=ex.system.name)
            raise ShlyuzError(
                ErrorCode.PROVIDER_ERROR, f"{ex.system.name} failed to answer: {type(exc).__name__}"
            ) from exc
        system_verdict = dict(ex.result.verdict or {})
        if ex.result.message:
            system_verdict["message"] = ex.result.message
        if system_verdict:
            ex.verdicts["system"] = system_verdict

    # -- glue ---------------------------------------------------------------------------------------------------
    async def process(
        self,
        body: bytes,
        content_type: str | None,
        *,
        endpoint: str,
        remote: str | None = None,
        require_wsse: bool = False,
    ) -> Outcome:
        started = time.perf_counter()
        ex = self._exchange(body, content_type, endpoint, remote, require_wsse)
        error: ShlyuzError | None = None
        for name, stage in self.stages:
            t0 = time.perf_counter()
            try:
                await stage(ex)
            except ShlyuzError as exc:
                error = exc
            except Exception as exc:  # never a traceback on the wire
                log.exception("stage_failed", stage=name)
                error = ShlyuzError(ErrorCode.INTERNAL_ERROR, f"unexpected error in stage {name}: {type(exc).__name__}")
            finally:
                ex.timings[name] = round((time.perf_counter() - t0) * 1000, 3)
            if error is not None:
                ex.verdicts["failed_stage"] = name
                break
        return self._finish(ex, error, started)

    def fault_outcome(
        self,
        error: ShlyuzError,
        *,
        endpoint: str,
        remote: str | None,
        content_type: str | None,
        body: bytes = b"",
        require_wsse: bool = False,
    ) -> Outcome:
        """The outcome for a request refused before the pipeline could read it (e.g. an oversize body)."""
        started = time.perf_counter()
        ex = self._exchange(body, content_type, endpoint, remote, require_wsse)
        ex.verdicts["failed_stage"] = "read"
        return self._finish(ex, error, started)

    def _exchange(
        self, body: bytes, content_type: str | None, endpoint: str, remote: str | None, require_wsse: bool
    ) -> Exchange:
        ex = Exchange(
            body=body,
            content_type=content_type,
            endpoint=endpoint,
            received_at=self.clock.now(),
            remote=remote,
            require_wsse=require_wsse,
        )
        structlog.contextvars.bind_contextvars(sessionId=ex.session_id)
        return ex

    def _finish(self, ex: Exchange, error: ShlyuzError | None, started: float) -> Outcome:
        t0 = time.perf_counter()
        try:
            if error is None:
                status, response = 200, self._response(ex)
                outcome = ex.result.status.value if ex.result else Status.FAILURE.value
            else:
                status, response = 500, self._fault(ex, error)
                outcome = error.code.value
                ex.verdicts["error"] = {"code": error.code.value, "message": error.message}
        except Exception as exc:  # writing or signing the reply failed: still a fault, still journaled
            log.exception("build_failed")
            error = ShlyuzError(ErrorCode.INTERNAL_ERROR, f"the reply could not be written: {type(exc).__name__}")
            status, outcome = 500, error.code.value
            ex.verdicts["error"] = {"code": error.code.value, "message": error.message}
            response = write_fault(
                ErrorInfo(error.code.value, error.message, self.clock.now(), session_id=ex.session_id),
                FaultKind.SERVER,
            )
        ex.timings["build"] = round((time.perf_counter() - t0) * 1000, 3)
        duration = round((time.perf_counter() - started) * 1000, 3)
        info = ex.request.info if ex.request else None
        record = ExchangeRecord(
            received_at=ex.received_at,
            endpoint=ex.endpoint,
            session_id=ex.session_id,
            outcome=outcome,
            http_status=status,
            duration_ms=duration,
            sender_id=info.sender.sender_id if info else None,
            service_id=info.service_id if info else None,
            message_id=info.message_id if info else None,
            correlation_id=info.correlation_id if info else None,
            response_message_id=ex.response_message_id if error is None else None,
            remote=ex.remote,
            content_type=ex.content_type,
            verdicts=ex.verdicts,
            timings=ex.timings,
            request=ex.body if self.journal_bodies else None,
            response=response if self.journal_bodies else None,
        )
        return Outcome(status, response, record, ex.fault)

    def _envelope_signer(self, ex: Exchange):
        if self.response_signer is None or self.sign_responses == "never":
            return None
        if self.sign_responses == "always" or ex.require_wsse:
            return self.response_signer.envelope
        return None

    def _response(self, ex: Exchange) -> bytes:
        assert ex.request is not None and ex.result is not None and ex.system is not None
        result = ex.result
        data_signer = self.data_signers.get(getattr(ex.system, "signing_identity", None) or "")
        return write_sync_response(
            SyncResponse(
                message_id=ex.response_message_id,
                correlation_id=result.correlation_id or ex.request.info.correlation_id,
                response_date=self.clock.now(),
                status=result.status,
                # SCSS001 always carries the standard text; a refusal (SCSE001) says why
                status_message=(
                    result.status.default_message
                    if result.status is Status.SUCCESS
                    else result.message or result.status.default_message
                ),
                session_id=ex.session_id,
                payload=result.payload,
                data_kind=ex.request.data_kind if ex.request.data_kind is not DataKind.EMPTY else DataKind.XML,
            ),
            sign_data=data_signer.data if data_signer else None,
            sign_envelope=self._envelope_signer(ex),
        )

    def _fault(self, ex: Exchange, error: ShlyuzError) -> bytes:
        kind = error.code.kind  # type: ignore[attr-defined]
        info = ErrorInfo(
            error_code=error.code.value,
            error_message=error.message,
            error_data=error.data,
            error_date=self.clock.now(),
            session_id=ex.session_id,
        )
        return write_fault(
            info, kind if isinstance(kind, FaultKind) else FaultKind.SERVER, sign_envelope=self._envelope_signer(ex)
        )
