"""The pipeline's ``faults`` stage (after authentication, before the EDS check).

The stage finds the rule that fires for the request's session scope, serviceId, sender and endpoint, notes it in the
exchange's verdicts (``verdicts["fault"]``: id, kind, the latency drawn), waits the latency with ``asyncio.sleep``
(the event loop goes on serving), and then:

- ``shep-fault`` raises the fault here (the system is not called);
- ``status-error`` makes ``dispatch`` answer SCSE001 instead of calling the system;
- the OCSP / CRL kinds reach the revocation check of this exchange's signatures (``Decision.revocation``);
- the transport kinds are left for the HTTP edge (:mod:`shlyuz.faults.edge`).
"""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, Any, Self

import structlog

from shlyuz.errors import ErrorCode, FaultKind, ShlyuzError
from shlyuz.faults import store
from shlyuz.faults.model import ASYNC_KINDS, ShepFault, StatusError, Target
from shlyuz.shep.events import Status
from shlyuz.systems.base import HandlerResult

if TYPE_CHECKING:
    from shlyuz.gateway.pipeline import Exchange, SyncPipeline

log = structlog.get_logger("shlyuz.faults")


class InjectedCode(str):
    """An errorCode a ``shep-fault`` rule names that is not one of shlyuz's: it quacks like an ErrorCode."""

    kind: FaultKind

    def __new__(cls, value: str, kind: FaultKind) -> Self:
        obj = super().__new__(cls, value)
        obj.kind = kind
        return obj

    @property
    def value(self) -> str:
        return str(self)


def _error(fault: ShepFault) -> ShlyuzError:
    own = ErrorCode.__members__.get(fault.code)
    kind = FaultKind(fault.faultcode) if fault.faultcode else (own.kind if own else FaultKind.SERVER)  # type: ignore[attr-defined]
    if own is not None and fault.faultcode is None:
        return ShlyuzError(own, fault.message)
    return ShlyuzError(InjectedCode(fault.code, kind), fault.message)  # type: ignore[arg-type]


async def run(pipeline: SyncPipeline, ex: Exchange) -> None:
    """The ``faults`` stage."""
    if pipeline.records is None or ex.request is None:
        return
    from shlyuz.gateway.sessions import CURRENT_SCOPE

    info = ex.request.info
    target = Target(service_id=info.service_id, sender=info.sender.sender_id, endpoint=ex.endpoint)
    decision = await store.fire(pipeline.records, CURRENT_SCOPE.get(), target, pipeline.fault_rng)
    if decision is not None:
        ex.fault = decision
        await _apply(decision, ex.verdicts)


async def _apply(decision: Any, verdicts: dict[str, Any]) -> None:
    """What a fired rule does inside a stage, on either channel: journal it, wait its latency (without blocking the
    loop), and raise its SHEP fault; the other kinds act later (dispatch, the signature stage, the HTTP edge)."""
    verdicts["fault"] = decision.verdict()
    log.info("fault_injected", rule=decision.rule_id, kind=decision.kind, latency_ms=decision.latency_ms)
    if decision.latency_ms:
        await asyncio.sleep(decision.latency_ms / 1000)
    if isinstance(decision.fault, ShepFault):
        raise _error(decision.fault)


def injected_result(ex: Exchange) -> HandlerResult | None:
    """For ``dispatch``: the SCSE001 reply a ``status-error`` rule gives instead of the system's."""
    fault = ex.fault.fault if ex.fault is not None else None
    if isinstance(fault, StatusError):
        return HandlerResult(Status.FAILURE, message=fault.message, verdict={"injected": "status-error"})
    return None


def revocation_of(ex: Exchange) -> Any:
    return ex.fault.revocation if ex.fault is not None else None


ASYNC_ENDPOINT = "/bip-async/"


def install_async(endpoint: Any, records: Any, rng: random.Random | None = None) -> None:
    """Put a ``faults`` stage into the AsyncChannel endpoint's stages, after ``authenticate``: on ``sendMessage``
    the rules of kinds ``ASYNC_KINDS`` fire (latency, shep-fault; the transport kinds at ``asyncch.http``)."""
    names = [name for name, _ in endpoint.stages]
    if "faults" in names or records is None:
        return
    draw = rng or random.Random()

    async def faults(ex: Any) -> None:
        from shlyuz.gateway.sessions import CURRENT_SCOPE
        from shlyuz.shep.async_events import Operation

        if ex.operation is not Operation.SEND_MESSAGE or ex.sender is None:
            return
        target = Target(service_id=ex.service_id, sender=ex.sender.sender_id, endpoint=ASYNC_ENDPOINT)
        decision = await store.fire(records, CURRENT_SCOPE.get(), target, draw, ASYNC_KINDS)
        if decision is not None:
            await _apply(decision, ex.verdicts)

    endpoint.stages.insert(names.index("authenticate") + 1, ("faults", faults))
