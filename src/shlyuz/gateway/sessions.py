"""Isolated sessions: parallel test runs never share state (docs/sessions.md).

A request names its session with the ``X-Shlyuz-Scope`` header (1-64 letters, digits, ``-``, ``_``). Everything the
request does is then kept in that scope: the systems' records (applications, accounts, inbox items, chain runs), and
the session's own time if it has one. ``/__admin/sessions/{scope}`` shows a session, sets its clock (frozen at a
time, or moved by an offset), and resets it (all its records and its clock deleted). Without the header a request
works in the ``default`` scope on the gateway's clock.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from datetime import datetime, timedelta

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shlyuz.clock import SESSION_TIME, SessionTime
from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.gateway.jsonapi import ApiError, ApiRoute
from shlyuz.storage.records import DEFAULT_SCOPE

HEADER = "X-Shlyuz-Scope"
_SCOPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
KIND, KEY = "session", "clock"
# the scope of the request being handled (per asyncio task)
CURRENT_SCOPE: ContextVar[str] = ContextVar("shlyuz_scope", default=DEFAULT_SCOPE)


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


ROUTES = [
    ApiRoute("GET", "/__admin/sessions/{scope}", get_session, "A session and its time", "sessions", response=SessionOut,
             errors=(ErrorCode.INVALID_PARAMETER,)),
    ApiRoute("PUT", "/__admin/sessions/{scope}/clock", set_clock, "Set a session's time", "sessions", body=ClockIn,
             response=SessionOut),
    ApiRoute("POST", "/__admin/sessions/{scope}/reset", reset_session, "Delete everything a session holds", "sessions",
             response=ResetOut, errors=(ErrorCode.INVALID_PARAMETER,)),
]  # fmt: skip
