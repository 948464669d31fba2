"""The contract between the gateway and an information system behind it.

A system is an object with ``service_ids`` and an async ``handle``; the gateway finds it in a
:class:`ServiceRegistry` by ``requestInfo/serviceId``. Adding a system is registering it: no if-chains.
Business failures are answered, not raised: return ``HandlerResult(Status.FAILURE, ...)`` (SCSE001).
Raising :class:`~shlyuz.errors.ShlyuzError` turns into a SOAP fault; any other exception into PROVIDER_ERROR.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from lxml import etree

from shlyuz.fixtures.store import FixtureSet
from shlyuz.shep.events import Status, SyncRequest
from shlyuz.storage.records import RecordStore


@dataclass(frozen=True, slots=True)
class HandlerContext:
    """What a system may use: the fixtures, the gateway's clock, its identity for the exchange, and the record store
    where stateful mocks (E-sobes, E-licensing) keep what they know (None: a system without state)."""

    fixtures: FixtureSet
    now: Callable[[], datetime]
    session_id: str
    response_message_id: str
    records: RecordStore | None = None


@dataclass(frozen=True, slots=True)
class HandlerResult:
    status: Status
    payload: etree._Element | None = None
    message: str | None = None  # defaults to the status's standard message
    correlation_id: str | None = None
    verdict: dict[str, object] | None = None  # journaled, e.g. {"found": 1} or {"reason": "..."}


class SystemHandler(Protocol):
    name: str
    service_ids: tuple[str, ...]

    async def handle(self, request: SyncRequest, ctx: HandlerContext) -> HandlerResult: ...


class ServiceRegistry:
    """serviceId → system. Built once per application; never module-level."""

    def __init__(self) -> None:
        self._by_service: dict[str, SystemHandler] = {}

    def register(self, system: SystemHandler) -> None:
        for sid in system.service_ids:
            if sid in self._by_service:
                raise ValueError(f"serviceId {sid!r} is already served by {self._by_service[sid].name}")
            self._by_service[sid] = system

    def replace(self, service_id: str, system: SystemHandler) -> SystemHandler | None:
        """Serve ``service_id`` by ``system`` instead (an external implementation replacing a built-in mock for that
        one serviceId); return the system that served it, if any."""
        previous = self._by_service.get(service_id)
        self._by_service[service_id] = system
        return previous

    def get(self, service_id: str) -> SystemHandler | None:
        return self._by_service.get(service_id)

    def __iter__(self) -> Iterator[tuple[str, SystemHandler]]:
        return iter(sorted(self._by_service.items()))

    def __contains__(self, service_id: str) -> bool:
        return service_id in self._by_service
