"""Isolated sessions: parallel test runs never share state (docs/sessions.md).

A request names its session with the ``X-Shlyuz-Scope`` header (1-64 letters, digits, ``-``, ``_``). Everything the
request does is then kept in that scope (:data:`shlyuz.storage.scope.CURRENT_SCOPE`): the systems' records
(applications, accounts, inbox items, chain runs), the async messages it sends, its journal entries (tagged with the
scope), and the session's own time if it has one. ``/__admin/sessions/{scope}`` shows a session, sets its clock
(frozen at a time, or moved by an offset), and resets it (all its records and its clock deleted). Without the header a request
works in the ``default`` scope on the gateway's clock.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
from datetime import datetime, timedelta

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shlyuz.clock import SESSION_TIME, SessionTime
from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.gateway.jsonapi import ApiError, ApiRoute
from shlyuz.storage.scope import CURRENT_SCOPE, DEFAULT_SCOPE

HEADER = "X-Shlyuz-Scope"
_SCOPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
KIND, KEY = "session", "clock"
__all__ = ["CURRENT_SCOPE", "HEADER", "ROUTES", "session_middleware", "valid_scope"]  # CURRENT_SCOPE: storage.scope's


def valid_scope(value: str) -> bool:
    return bool(_SCOPE.match(value))


def _gateway(request: web.Request):
    from shlyuz.gateway.app import GATEWAY

    return request.app[GATEWAY]


@web.middleware
async def session_middleware(request: web.Request, handler):
    scope = request.headers.get(HEADER)
    if scope is None or scope == DEFAULT_SCOPE:
        return await handler(request)
    gw = _gateway(request)
    if not valid_scope(scope):
        error = ShlyuzError(ErrorCode.INVALID_PARAMETER, f"{HEADER} must be 1-64 letters, digits, '-' or '_' (starting with a letter or digit)")
        if request.path.startswith("/bip-"):
            outcome = gw.sync.fault_outcome(error, endpoint=request.path, remote=request.remote,
                                            content_type=request.headers.get("Content-Type"))  # fmt: skip
            await gw.storage.append_exchange(outcome.record)
            return web.Response(body=outcome.body, status=outcome.http_status, headers={"Content-Type": "text/xml; charset=utf-8"})
        return web.json_response({"error": {"code": error.code.value, "message": error.message}}, status=400)
    record = await gw.records.get(KIND, KEY, scope=scope)
    time = None
    if record is not None:
        at = record.data.get("at")
        time = SessionTime(at=datetime.fromisoformat(at) if at else None, offset=timedelta(seconds=record.data.get("offsetSeconds", 0)))
    scope_token = CURRENT_SCOPE.set(scope)
    time_token = SESSION_TIME.set(time)
    try:
        return await handler(request)
    finally:
        SESSION_TIME.reset(time_token)
        CURRENT_SCOPE.reset(scope_token)


class ClockIn(BaseModel):
    """Freeze the session's time at ``at``, or shift it from the gateway's by ``offsetSeconds``, or move it on by
    ``advanceSeconds`` (from where it is now); ``{}`` gives the session the gateway's time back."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    at: AwareDatetime | None = None
    offset_seconds: float | None = Field(None, alias="offsetSeconds", ge=-1e10, le=1e10)
    advance_seconds: float | None = Field(None, alias="advanceSeconds", ge=0, le=1e10)


class SessionOut(BaseModel):
    scope: str
    now: str = Field(description="the session's time now")
    frozen_at: str | None = Field(None, alias="frozenAt")
    offset_seconds: float = Field(0.0, alias="offsetSeconds")


class SettleIn(BaseModel):
    """How long to wait at most for the session's async deliveries to be done."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    timeout_seconds: float = Field(10.0, alias="timeoutSeconds", gt=0, le=60)


class SettleOut(BaseModel):
    scope: str
    settled: bool = Field(description="nothing of the session is due for delivery or being delivered")
    in_flight: int = Field(alias="inFlight", description="messages still due or being delivered (0 when settled)")
    delivered: int = Field(description="deliveries this call made itself (the delivery loop makes the others)")


class ResetOut(BaseModel):
    scope: str
    deleted_records: int = Field(alias="deletedRecords")


def _scope(request: web.Request) -> str:
    scope = request.match_info["scope"]
    if not valid_scope(scope) or scope == DEFAULT_SCOPE:
        raise ApiError(ErrorCode.INVALID_PARAMETER, f"not a session scope: {scope!r} (1-64 letters, digits, '-' or '_'; not 'default')")
    return scope


async def _view(gw, scope: str) -> SessionOut:
    record = await gw.records.get(KIND, KEY, scope=scope)
    data = record.data if record is not None else {}
    at = data.get("at")
    t = SessionTime(at=datetime.fromisoformat(at) if at else None, offset=timedelta(seconds=data.get("offsetSeconds", 0)))
    return SessionOut(scope=scope, now=t.apply(gw.clock.base_now()).isoformat(), frozenAt=at,
                      offsetSeconds=data.get("offsetSeconds", 0.0))  # fmt: skip


async def get_session(request: web.Request) -> SessionOut:
    return await _view(_gateway(request), _scope(request))


async def set_clock(request: web.Request, body: ClockIn) -> SessionOut:
    gw, scope = _gateway(request), _scope(request)
    given = [n for n in ("at", "offset_seconds", "advance_seconds") if getattr(body, n) is not None]
    if len(given) > 1:
        raise ApiError(ErrorCode.INVALID_PARAMETER, f"give one of at, offsetSeconds, advanceSeconds (got {', '.join(given)})")
    current = await gw.records.get(KIND, KEY, scope=scope)
    data = dict(current.data) if current is not None else {}
    if body.at is not None:
        data = {"at": body.at.isoformat()}
    elif body.offset_seconds is not None:
        data = {"offsetSeconds": body.offset_seconds}
    elif body.advance_seconds is not None:
        if data.get("at"):
            data = {"at": (datetime.fromisoformat(data["at"]) + timedelta(seconds=body.advance_seconds)).isoformat()}
        else:
            data = {"offsetSeconds": data.get("offsetSeconds", 0.0) + body.advance_seconds}
    else:
        data = {}
    await gw.records.put(KIND, KEY, data, scope=scope)
    return await _view(gw, scope)


async def reset_session(request: web.Request) -> ResetOut:
    gw, scope = _gateway(request), _scope(request)
    return ResetOut(scope=scope, deletedRecords=await gw.records.clear_scope(scope))


async def settle(request: web.Request, body: SettleIn) -> SettleOut:
    """Wait until the session's async channel has nothing due or under way: every message its requests sent has been
    delivered to the participants inside shlyuz (and what they sent back, in turn), or is waiting for a later retry
    or for an outside participant to pull it. Runs due deliveries itself too (leases keep them from being delivered
    twice), so a scenario can look at the outcome in its next step without timing. A delivery that keeps failing is
    not waited for beyond its next retry time; ``settled`` false after the timeout means work was still under way."""
    gw, scope = _gateway(request), _scope(request)
    service = gw.async_channel
    if service is None:
        return SettleOut(scope=scope, settled=True, inFlight=0, delivered=0)
    deadline = asyncio.get_running_loop().time() + body.timeout_seconds
    delivered = 0
    pause = 0.005
    while True:
        # as the delivery loop would: outside the request's session and its clock (the pass may deliver other
        # sessions' messages too, each in its own scope)
        delivered += await asyncio.create_task(service.run_due(), context=contextvars.Context())
        left = await service.store.in_flight(scope, gw.clock.base_now())
        if left == 0 or asyncio.get_running_loop().time() >= deadline:
            return SettleOut(scope=scope, settled=left == 0, inFlight=left, delivered=delivered)
        await asyncio.sleep(pause)  # another process's delivery loop holds the lease: look again shortly
        pause = min(pause * 2, 0.1)


ROUTES = [
    ApiRoute("GET", "/__admin/sessions/{scope}", get_session, "A session and its time", "sessions", response=SessionOut,
             errors=(ErrorCode.INVALID_PARAMETER,)),
    ApiRoute("PUT", "/__admin/sessions/{scope}/clock", set_clock, "Set a session's time", "sessions", body=ClockIn,
             response=SessionOut),
    ApiRoute("POST", "/__admin/sessions/{scope}/settle", settle, "Wait for the session's async deliveries", "sessions",
             body=SettleIn, response=SettleOut, errors=(ErrorCode.INVALID_PARAMETER,)),
    ApiRoute("POST", "/__admin/sessions/{scope}/reset", reset_session, "Delete everything a session holds", "sessions",
             response=ResetOut, errors=(ErrorCode.INVALID_PARAMETER,)),
]  # fmt: skip
