"""``/__admin/`` JSON API: the journal and its statistics.

Every entry carries its session's ``scope`` (docs/sessions.md); ``?scope=`` filters by it, and a request made in a
session (``X-Shlyuz-Scope``) sees only that session's entries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from shlyuz.errors import ErrorCode
from shlyuz.gateway.http import json_error
from shlyuz.gateway.sessions import HEADER as SCOPE_HEADER
from shlyuz.storage.base import JournalQuery

MAX_LIMIT = 1000


class JournalParams(BaseModel):
    """Query parameters of ``GET /__admin/journal`` (camelCase on the wire)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    message_id: str | None = Field(None, alias="messageId")
    service_id: str | None = Field(None, alias="serviceId")
    sender: str | None = None
    session_id: str | None = Field(None, alias="sessionId")
    scope: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    outcome: str | None = None
    since: AwareDatetime | None = Field(None, alias="from")
    until: AwareDatetime | None = Field(None, alias="to")
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    before_id: int | None = Field(None, alias="beforeId", ge=1)
    bodies: bool = True

    def query(self) -> JournalQuery:
        return JournalQuery(
            message_id=self.message_id,
            service_id=self.service_id,
            sender_id=self.sender,
            session_id=self.session_id,
            scope=self.scope,
            outcome=self.outcome,
            since=self.since,
            until=self.until,
            limit=self.limit,
            before_id=self.before_id,
        )


def _param_error(exc: ValidationError) -> web.Response:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "query"
    return json_error(400, ErrorCode.INVALID_PARAMETER, f"{where}: {first['msg']}")


def _gateway(request: web.Request):
    from shlyuz.gateway.app import GATEWAY

    return request.app[GATEWAY]


async def journal_list(request: web.Request) -> web.Response:
    raw: dict[str, Any] = {}
    for key in request.query:
        values = request.query.getall(key)
        if len(values) > 1:
            return json_error(400, ErrorCode.INVALID_PARAMETER, f"{key}: given {len(values)} times; give it once")
        raw[key] = values[0]
    try:
        params = JournalParams.model_validate(raw)
    except ValidationError as exc:
        return _param_error(exc)
    # A session's own view: a request made in a session (X-Shlyuz-Scope, as `shlyuz conform` sends with every step)
    # sees that session's exchanges only; without the header, every session's, or those of `?scope=`.
    header = request.headers.get(SCOPE_HEADER)
    if header is not None:
        if params.scope is not None and params.scope != header:
            why = f"scope: {params.scope!r} is not the session of the request ({SCOPE_HEADER}: {header})"
            return json_error(400, ErrorCode.INVALID_PARAMETER, why)
        params.scope = header
    gw = _gateway(request)
    records = await gw.storage.query_exchanges(params.query())
    items = [r.to_json(bodies=params.bodies, tz=gw.clock.tz) for r in records]
    body: dict[str, Any] = {"count": len(items), "exchanges": items}
    if len(items) == params.limit and items:
        body["nextBeforeId"] = items[-1]["id"]
    return web.json_response(body, dumps=_dumps)


async def journal_stats(request: web.Request) -> web.Response:
    """Rows, oldest and newest receivedAt, evictions by the retention limits, size on disk, the limits."""
    gw = _gateway(request)
    stats = await gw.storage.stats()
    return web.json_response(stats.to_json(tz=gw.clock.tz), dumps=_dumps)


async def journal_get(request: web.Request) -> web.Response:
    raw_id = request.match_info["id"]
    if not raw_id.isdigit():
        return json_error(400, ErrorCode.INVALID_PARAMETER, f"id: {raw_id!r} is not a positive integer")
    gw = _gateway(request)
    record = await gw.storage.get_exchange(int(raw_id))
    if record is None:
        return json_error(404, ErrorCode.NOT_FOUND, f"no journal entry with id {raw_id}")
    return web.json_response(record.to_json(tz=gw.clock.tz), dumps=_dumps)


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, ensure_ascii=False, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/__admin/journal", journal_list)
    app.router.add_get("/__admin/journal/stats", journal_stats)  # before {id}, which would match "stats"
    app.router.add_get("/__admin/journal/{id}", journal_get)
