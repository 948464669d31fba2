"""Delivery: claim due messages and status notifications, attempt them, record the outcome, journal every attempt.

:meth:`DeliveryEngine.run_due` does one pass (tests call it directly, with a fixed clock moved by hand); the loop
started by :meth:`DeliveryEngine.start` calls it whenever something is due, woken at once by an acceptance in this
process and at least every ``poll_interval`` for work accepted by other worker processes. Claims are leases in the
database, so with several workers each attempt is made once.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import structlog

from shlyuz.asyncch.channel import AsyncChannel
from shlyuz.asyncch.directory import INSIDE, PUSH
from shlyuz.asyncch.wire import to_participant, to_wire
from shlyuz.clock import Clock
from shlyuz.shep.async_events import (
    ChangeStatusNotification,
    ChangeStatusNotifyRequest,
    ChangeStatusNotifyResponse,
    MessageState,
    MessageStatusInfo,
    SendMessageResponse,
)
from shlyuz.shep.async_responses import read_async_reply
from shlyuz.shep.async_states import RetryPolicy, after_failure
from shlyuz.shep.async_writer import write_change_status_notification, write_push
from shlyuz.shep.events import ErrorInfo
from shlyuz.shep.responses import Fault
from shlyuz.storage.base import ExchangeRecord, Storage
from shlyuz.storage.messages import PendingNotification, StoredMessage
from shlyuz.systems.participants import ParticipantContext

log = structlog.get_logger("shlyuz.async")
SOAP_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}


def new_session_id() -> str:
    return "{" + str(uuid.uuid4()) + "}"


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    lease: float = 60.0
    push_timeout: float = 10.0
    poll_interval: float = 1.0
    batch: int = 32


@dataclass(slots=True)
class _Attempt:
    ok: bool
    error: str | None = None
    http_status: int = 0
    request: bytes | None = None
    response: bytes | None = None


class DeliveryEngine:
    def __init__(
        self,
        *,
        channel: AsyncChannel,
        clock: Clock,
        journal: Storage,
        policy: RetryPolicy,
        settings: DeliverySettings,
        context: Callable[[], ParticipantContext],
        sign_envelope: Callable[[Any], Any] | None = None,
        journal_bodies: bool = True,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.channel = channel
        self.store = channel.store
        self.directory = channel.directory
        self.clock = clock
        self.journal = journal
        self.policy = policy
        self.settings = settings
        self.context = context
        self.sign_envelope = sign_envelope
        self.journal_bodies = journal_bodies
        self.rand = rand
        self.owner = f"{uuid.uuid4()}"  # this process's lease owner id
        self._wake = asyncio.Event()
        self.attempts_made = 0  # by this process (for waiting on, in tests and tools)
        self._attempted = asyncio.Condition()
        self._task: asyncio.Task | None = None
        self._session: aiohttp.ClientSession | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------
    async def start(self, *, loop: bool = True) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.settings.push_timeout))
        if loop:
            self._task = asyncio.create_task(self._loop(), name="shlyuz-async-delivery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def wake(self) -> None:
        self._wake.set()

    async def wait_attempts(self, n: int) -> None:
        """Return once this process has finished ``n`` attempts (outcome recorded and journaled)."""
        async with self._attempted:
            await self._attempted.wait_for(lambda: self.attempts_made >= n)

    async def _count_attempt(self) -> None:
        async with self._attempted:
            self.attempts_made += 1
            self._attempted.notify_all()

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                done = await self.run_due()
            except Exception:
                log.exception("delivery_pass_failed")
                done = 0
            if done:
                continue
            timeout = self.settings.poll_interval
            try:
                due = await self.store.next_due()
            except Exception:  # noqa: BLE001
                due = None
            if due is not None:
                timeout = min(timeout, max(0.05, (due - self.clock.now()).total_seconds()))
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    # -- one pass ----------------------------------------------------------------------------------------------
    async def run_due(self, max_rounds: int = 10) -> int:
        """Attempt everything due now (and what those attempts make due, up to ``max_rounds`` passes); return the
        number of attempts made."""
        total = 0
        for _ in range(max_rounds):
            now = self.clock.now()
            lease_until = now + timedelta(seconds=self.settings.lease)
            messages = await self.store.claim_deliveries(
                now=now, owner=self.owner, lease_until=lease_until, limit=self.settings.batch
            )
            notes = await self.store.claim_notifications(
                now=now, owner=self.owner, lease_until=lease_until, limit=self.settings.batch
            )
            if not messages and not notes:
                break
            await asyncio.gather(*(self._deliver(m) for m in messages))
            by_message: dict[str, list[PendingNotification]] = {}
            for n in notes:
                by_message.setdefault(n.message_id, []).append(n)
            await asyncio.gather(*(self._notify_in_order(group) for group in by_message.values()))
            total += len(messages) + len(notes)
        return total

    # -- messages ----------------------------------------------------------------------------------------------
    async def _deliver(self, message: StoredMessage) -> None:
        started, received_at = time.perf_counter(), self.clock.now()
        try:
            attempt, target = await self._attempt(message)
        except Exception as exc:
            log.exception("delivery_attempt_failed", messageId=message.message_id)
            attempt, target = _Attempt(False, f"internal error: {type(exc).__name__}: {exc}"[:500]), "internal"
        verdict: dict[str, Any] = {
            "attempt": message.attempts, "maxAttempts": self.policy.max_attempts, "recipient": message.recipient_id,
            "mode": message.mode, "target": target,
        }  # fmt: skip
        if attempt.ok:
            moved = await self.channel.move(message, MessageState.DELIVERED, owner=self.owner,
                                            detail=f"to {message.recipient_id} at attempt {message.attempts}")  # fmt: skip
            outcome = MessageState.DELIVERED.value
        else:
            verdict["error"] = attempt.error
            decision = after_failure(self.policy, message.attempts, self.rand)
            if decision.give_up:
                moved = await self.channel.move(
                    message, MessageState.NOT_DELIVERED, MessageState.DELIVERY_STOPPED, owner=self.owner,
                    detail=f"{message.attempts} attempts failed, the last: {attempt.error}", error=attempt.error,
                )  # fmt: skip
                outcome = MessageState.NOT_DELIVERED.value
            else:
                assert decision.retry_in is not None
                due = self.clock.now() + decision.retry_in
                moved = await self.store.retry_later(message.message_id, owner=self.owner, due_at=due,
                                                     error=attempt.error or "")  # fmt: skip
                verdict["nextAttemptAt"] = due.isoformat(timespec="milliseconds")
                outcome = "ATTEMPT_FAILED"
        if not moved:
            verdict["leaseLost"] = True  # another worker took over after our lease expired: its outcome counts
        verdict["state"] = outcome if outcome != "ATTEMPT_FAILED" else MessageState.ON_DELIVERY.value
        log.info("async_delivery", messageId=message.message_id, outcome=outcome, attempt=message.attempts)
        await self._journal("delivery", message, target, outcome, attempt, verdict, received_at, started)
        await self._count_attempt()

    async def _attempt(self, message: StoredMessage) -> tuple[_Attempt, str]:
        route = self.directory.route(message.recipient_id)
        if message.mode == INSIDE and message.recipient_id in self.directory.inside:
            return await self._inside(message), f"inside:{message.recipient_id}"
        if message.mode == PUSH and route.push_url:
            body = write_push(to_wire(message), sign_envelope=self.sign_envelope)
            return await self._post(route.push_url, body, SendMessageResponse), route.push_url
        why = f"participant {message.recipient_id!r} has no inside handler or push_url in this process"
        return _Attempt(False, why), f"unroutable:{message.recipient_id}"

    async def _inside(self, message: StoredMessage) -> _Attempt:
        participant = self.directory.inside[message.recipient_id]
        try:
            # never longer than the lease: past it another worker may deliver the message again
            async with asyncio.timeout(self.settings.lease):
                await participant.on_message(to_participant(message, self.clock.now()), self.context())
        except TimeoutError:
            return _Attempt(False, f"{participant.name} did not return within {self.settings.lease:g} s (the lease)")
        except Exception as exc:  # noqa: BLE001 - a participant's failure is a failed attempt
            log.warning("participant_failed", participant=message.recipient_id, error=repr(exc))
            return _Attempt(False, f"{participant.name} raised {type(exc).__name__}: {exc}"[:500])
        return _Attempt(True)

    async def _post(self, url: str, body: bytes, expect: type) -> _Attempt:
        if self._session is None:
            return _Attempt(False, "the delivery engine is not started", request=body)
        try:
            async with self._session.post(url, data=body, headers=SOAP_HEADERS) as resp:
                raw = await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return _Attempt(False, f"{url}: {type(exc).__name__}: {exc}"[:500], request=body)
        try:
            reply = read_async_reply(raw)
        except Exception as exc:  # noqa: BLE001 - an endpoint answering garbage is a failed attempt, not a crash
            reply = None
            why = f"HTTP {status}, unreadable reply ({type(exc).__name__}: {str(exc)[:200]})"
        else:
            why = f"HTTP {status}"
        if isinstance(reply, expect) and status == 200:
            return _Attempt(True, None, status, body, raw)
        if isinstance(reply, Fault):
            why = f"HTTP {status}, fault {reply.faultcode}: {reply.faultstring[:300]}"
        elif reply is not None and status == 200:
            why = f"HTTP {status}, unexpected reply {type(reply).__name__}"
        return _Attempt(False, why, status, body, raw)

    # -- status notifications ------------------------------------------------------------------------------------
    async def _notify_in_order(self, group: list[PendingNotification]) -> None:
        for note in sorted(group, key=lambda n: n.seq):
            try:
                await self._notify(note)
            except Exception:
                log.exception("notification_failed", notificationId=note.notification_id)

    async def _notify(self, note: PendingNotification) -> None:
        started, received_at = time.perf_counter(), self.clock.now()
        message = await self.store.get(note.message_id)
        url = self.directory.push_url(note.target_id)
        if message is None or url is None:
            await self.store.finish_notification(note.notification_id, owner=self.owner, due_at=None,
                                                 error="no endpoint for the sender")  # fmt: skip
            return
        error = None
        if note.state is MessageState.NOT_DELIVERED and message.last_error:
            error = ErrorInfo("NOT_DELIVERED", message.last_error, note.created_at)
        request = ChangeStatusNotifyRequest(
            notification=ChangeStatusNotification(
                notification_id=note.notification_id, message_id=note.message_id, notification_date=note.created_at,
                state=note.state, status=MessageStatusInfo(note.state.value, note.status_message, note.created_at),
                error=error,
            ),
            request_date=self.clock.now(),
            session_id=new_session_id(),
        )  # fmt: skip
        body = write_change_status_notification(request, sign_envelope=self.sign_envelope)
        attempt = await self._post(url, body, ChangeStatusNotifyResponse)
        verdict: dict[str, Any] = {"notificationId": note.notification_id, "messageState": note.state.value,
                                   "attempt": note.attempts, "maxAttempts": self.policy.max_attempts}  # fmt: skip
        if attempt.ok:
            due, outcome = None, "NOTIFIED"
        else:
            verdict["error"] = attempt.error
            decision = after_failure(self.policy, note.attempts, self.rand)
            due = None if decision.give_up else self.clock.now() + (decision.retry_in or timedelta())
            outcome = "NOTIFICATION_ABANDONED" if decision.give_up else "NOTIFICATION_FAILED"
            if due is not None:
                verdict["nextAttemptAt"] = due.isoformat(timespec="milliseconds")
        await self.store.finish_notification(note.notification_id, owner=self.owner, due_at=due, error=attempt.error)
        await self._journal("notify", message, url, outcome, attempt, verdict, received_at, started)

    # -- journal ---------------------------------------------------------------------------------------------------
    async def _journal(
        self, kind: str, message: StoredMessage, target: str, outcome: str, attempt: _Attempt,
        verdict: dict[str, Any], received_at, started: float,
    ) -> None:  # fmt: skip
        record = ExchangeRecord(
            received_at=received_at,
            endpoint=f"/bip-async/ {kind}",
            session_id=new_session_id(),
            outcome=outcome,
            http_status=attempt.http_status,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            sender_id=message.sender_id,
            service_id=message.service_id,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            remote=target,
            content_type="text/xml; charset=utf-8" if attempt.request else None,
            verdicts={kind: verdict},
            request=attempt.request if self.journal_bodies else None,
            response=attempt.response if self.journal_bodies else None,
            scope=message.scope,  # the delivery loop is no request: the message's session
        )
        try:
            await self.journal.append_exchange(record)
        except Exception:
            log.exception("journal_failed", messageId=message.message_id)
