"""The console's journal: a live stream of exchanges (server-sent events) and one entry explained.

``GET /ui/api/journal/stream`` sends the last ``backlog`` matching entries, then every new one as it is journaled.
It polls the database journal for ids above the last one sent (any worker process may have handled the exchange, so
in-process events would miss some), writes a heartbeat comment every ``HEARTBEAT_S`` seconds, stops when the client
goes away or after ``MAX_STREAM_S`` (the browser's EventSource reconnects with ``Last-Event-ID`` and resumes), and at
most ``MAX_STREAMS`` streams are open per process. ``EventSource`` cannot send headers, so the session is the
``scope`` query parameter here; a request that does carry ``X-Shlyuz-Scope`` is held to that scope, as the admin
journal API does.

``GET /ui/api/journal/{id}`` is one entry with its request and response pretty-printed and its signature verdict in
words (:mod:`shlyuz.console.explain`).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from shlyuz.console.explain import explain_signature, pretty_xml
from shlyuz.errors import ErrorCode
from shlyuz.gateway.jsonapi import ApiError, ApiRoute, read_query
from shlyuz.gateway.sessions import HEADER as SCOPE_HEADER
from shlyuz.storage.base import ExchangeRecord, JournalQuery

POLL_S = 0.25  # how often a stream looks for new entries
HEARTBEAT_S = 15.0
MAX_STREAM_S = 3600.0  # then the stream ends; EventSource reconnects and resumes from Last-Event-ID
MAX_STREAMS = 32  # per process
PAGE = 100  # rows per poll query
MAX_PAGES = 10  # a poll catches up at most PAGE * MAX_PAGES entries; beyond that a "gap" event says so
SCOPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
STREAMS = web.AppKey("console_streams", dict)  # {"open": n} — per process, on the app


class StreamParams(BaseModel):
    """Filters of the live journal (camelCase on the wire, as ``/__admin/journal``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    scope: str | None = Field(None, pattern=SCOPE_PATTERN, description="the session (X-Shlyuz-Scope) of the entries")
    session_id: str | None = Field(None, alias="sessionId", max_length=200, description="the SHEP sessionId")
    sender: str | None = Field(None, max_length=200)
    service_id: str | None = Field(None, alias="serviceId", max_length=200)
    outcome: str | None = Field(None, max_length=100, description="SCSS001, SCSE001 or an error code")
    status: str | None = Field(None, pattern=r"^(ok|error)$", description="ok: HTTP 200 (or an async message DELIVERED); error: anything else")
    backlog: int = Field(50, ge=0, le=500, description="how many recent entries to send first")
    after: int | None = Field(None, ge=0, description="send entries with a larger id (overrides backlog)")


class SignaturePart(BaseModel):
    model_config = ConfigDict(extra="allow")

    part: str
    title: str
    state: str


class SignatureFailure(BaseModel):
    code: str
    check: str
    meaning: str | None = None
    reason: str


class SignatureExplained(BaseModel):
    state: str = Field(description="valid | absent | failed | not checked")
    summary: str
    parts: list[SignaturePart]
    failed: SignatureFailure | None = None


class ExchangeDetail(BaseModel):
    """A journal entry as the console shows it."""

    model_config = ConfigDict(extra="allow")

    id: int
    received_at: str
    scope: str
    endpoint: str
    outcome: str
    http_status: int
    request: str | None = None
    response: str | None = None
    request_pretty: str | None = Field(None, alias="requestPretty")
    response_pretty: str | None = Field(None, alias="responsePretty")
    signature: SignatureExplained


def _gateway(request: web.Request):
    from shlyuz.gateway.app import GATEWAY

    return request.app[GATEWAY]


def summary(record: ExchangeRecord, tz) -> dict[str, Any]:
    """What a stream event carries (no bodies: the page asks for them when an entry is opened)."""
    out = record.to_json(bodies=False, tz=tz)
    out["scope"] = getattr(record, "scope", "default")
    out["signature"] = explain_signature(record.verdicts)["state"]
    out["ok"] = is_ok(record)
    return out


def _params(request: web.Request) -> StreamParams:
    for key in request.query:
        if len(request.query.getall(key)) > 1:
            raise ApiError(ErrorCode.INVALID_PARAMETER, f"{key}: given {len(request.query.getall(key))} times; give it once")
    params = read_query(request, StreamParams)
    assert isinstance(params, StreamParams)
    header = request.headers.get(SCOPE_HEADER)
    if header is not None:
        if params.scope is not None and params.scope != header:
            raise ApiError(ErrorCode.INVALID_PARAMETER, f"scope: {params.scope!r} is not the session of the request "
                                                        f"({SCOPE_HEADER}: {header})")  # fmt: skip
        params.scope = header
    last = request.headers.get("Last-Event-ID")
    if last is not None:
        if not last.isdigit():
            raise ApiError(ErrorCode.INVALID_PARAMETER, f"Last-Event-ID: {last[:40]!r} is not an entry id")
        params.after = int(last)
    return params


def _query(params: StreamParams, *, limit: int, before_id: int | None = None) -> JournalQuery:
    return JournalQuery(
        service_id=params.service_id, sender_id=params.sender, session_id=params.session_id, scope=params.scope,
        outcome=params.outcome, limit=limit, before_id=before_id,
    )  # fmt: skip


def is_ok(record: ExchangeRecord) -> bool:
    """HTTP 200 on a SHEP endpoint; an async delivery (HTTP status 0 in the journal) that was DELIVERED."""
    return record.http_status == 200 or (record.http_status == 0 and record.outcome == "DELIVERED")


def _keep(params: StreamParams, record: ExchangeRecord) -> bool:
    if params.status is not None:
        return is_ok(record) is (params.status == "ok")
    return True


async def newer(storage, params: StreamParams, last_id: int) -> tuple[list[ExchangeRecord], bool]:
    """Matching entries with an id above ``last_id``, oldest first, and whether some were skipped (too many)."""
    probe = await storage.query_exchanges(_query(params, limit=1))  # the cheap question first: anything new?
    if not probe or (probe[0].id or 0) <= last_id:
        return [], False
    found: list[ExchangeRecord] = []
    before: int | None = None
    for _ in range(MAX_PAGES):
        rows = await storage.query_exchanges(_query(params, limit=PAGE, before_id=before))
        fresh = [r for r in rows if r.id is not None and r.id > last_id]
        found += fresh
        if len(rows) < PAGE or len(fresh) < len(rows):
            return sorted(found, key=lambda r: r.id or 0), False
        before = rows[-1].id
    return sorted(found, key=lambda r: r.id or 0), True


def _event(name: str, data: Any, event_id: int | None = None) -> bytes:
    lines = [f"event: {name}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode("utf-8")


async def stream(request: web.Request) -> web.StreamResponse:
    params = _params(request)
    gw = _gateway(request)
    counter = request.app[STREAMS]
    if counter["open"] >= MAX_STREAMS:
        raise ApiError(ErrorCode.CONFLICT, f"{MAX_STREAMS} journal streams are open in this process; close one",
                       status=503)  # fmt: skip
    counter["open"] += 1
    try:
        return await _run_stream(request, gw, params)
    finally:
        counter["open"] -= 1


async def _run_stream(request: web.Request, gw, params: StreamParams) -> web.StreamResponse:
    if params.after is not None:
        last = params.after
        first: list[ExchangeRecord] = []
    else:
        rows = await gw.storage.query_exchanges(_query(params, limit=max(params.backlog, 1)))
        last = max((r.id or 0 for r in rows), default=0)
        first = sorted(rows, key=lambda r: r.id or 0)[-params.backlog :] if params.backlog else []
    resp = web.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache", "X-Accel-Buffering": "no",
    })  # fmt: skip
    await resp.prepare(request)
    tz = gw.clock.tz
    try:
        await resp.write(b"retry: 2000\n\n")
        for record in first:
            if _keep(params, record):
                await resp.write(_event("exchange", summary(record, tz), record.id))
        await resp.write(_event("ready", {"lastId": last, "scope": params.scope}))
        started = beat = time.monotonic()
        while time.monotonic() - started < MAX_STREAM_S:
            if request.transport is None or request.transport.is_closing():
                break
            records, gap = await newer(gw.storage, params, last)
            if gap:
                await resp.write(_event("gap", {"after": last, "skippedBefore": records[0].id if records else None}))
            for record in records:
                last = max(last, record.id or 0)
                if _keep(params, record):
                    await resp.write(_event("exchange", summary(record, tz), record.id))
            if time.monotonic() - beat >= HEARTBEAT_S:
                await resp.write(b": heartbeat\n\n")
                beat = time.monotonic()
            await asyncio.sleep(POLL_S)
    except (ConnectionResetError, ConnectionError):
        pass  # the client went away
    return resp


async def entry(request: web.Request) -> ExchangeDetail:
    raw_id = request.match_info["id"]
    if not raw_id.isdigit() or len(raw_id) > 18:
        raise ApiError(ErrorCode.INVALID_PARAMETER, f"id: {raw_id[:40]!r} is not a positive integer")
    gw = _gateway(request)
    record = await gw.storage.get_exchange(int(raw_id))
    header = request.headers.get(SCOPE_HEADER)
    if record is None or (header is not None and getattr(record, "scope", "default") != header):
        raise ApiError(ErrorCode.NOT_FOUND, f"no journal entry with id {raw_id}" + (f" in session {header}" if header else ""))
    out = record.to_json(bodies=True, tz=gw.clock.tz)
    out["scope"] = getattr(record, "scope", "default")
    out["requestPretty"] = pretty_xml(record.request)
    out["responsePretty"] = pretty_xml(record.response)
    out["signature"] = explain_signature(record.verdicts)
    return ExchangeDetail.model_validate(out)


ROUTES = [
    ApiRoute("GET", "/ui/api/journal/stream", stream, "Live journal (text/event-stream): recent entries, then new ones",
             "console", query=StreamParams, errors=(ErrorCode.INVALID_PARAMETER,)),
    ApiRoute("GET", "/ui/api/journal/{id}", entry, "A journal entry with pretty-printed XML and its signature verdict",
             "console", response=ExchangeDetail, errors=(ErrorCode.INVALID_PARAMETER, ErrorCode.NOT_FOUND)),
]  # fmt: skip
