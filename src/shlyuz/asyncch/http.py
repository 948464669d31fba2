"""HTTP edge of ``/bip-async/``: read the body within the cap, run the endpoint, journal, answer; serve the WSDL."""

from __future__ import annotations

import dataclasses
import time

import structlog
from aiohttp import web

from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.faults import edge as fault_edge
from shlyuz.gateway.http import LOGGED, SOAP_CONTENT_TYPE, _read_body, json_error

log = structlog.get_logger("shlyuz.http")
ASYNC_PATH = "/bip-async/"


def _gateway(request: web.Request):  # -> Gateway (import cycle otherwise)
    from shlyuz.gateway.app import GATEWAY

    return request.app[GATEWAY]


async def async_post(request: web.Request) -> web.Response:
    started = time.perf_counter()
    gw = _gateway(request)
    service = gw.async_channel
    content_type = request.headers.get("Content-Type")
    try:
        body = await _read_body(request, gw.settings.limits.max_body_bytes)
    except ShlyuzError as exc:
        outcome = service.endpoint.refused(exc, body=b"", content_type=content_type, remote=request.remote)
    else:
        outcome = await service.endpoint.process(body, content_type, remote=request.remote)
    record = outcome.record
    decision = await fault_edge.recorded(gw.records, record.verdicts.get("fault"))  # fault injection (docs/faults.md)
    if decision is not None and record.response is not None:
        record = dataclasses.replace(record, response=fault_edge.wire(decision, outcome.body))
    await gw.storage.append_exchange(record)  # journaled before the reply leaves
    log.info(
        "exchange", outcome=outcome.record.outcome, http_status=outcome.http_status, ms=outcome.record.duration_ms,
        total_ms=round((time.perf_counter() - started) * 1000, 3),
    )  # fmt: skip
    request[LOGGED] = True
    if decision is not None:
        return await fault_edge.deliver(request, decision, outcome.http_status, outcome.body, {"Content-Type": SOAP_CONTENT_TYPE})
    return web.Response(body=outcome.body, status=outcome.http_status, headers={"Content-Type": SOAP_CONTENT_TYPE})


async def async_get(request: web.Request) -> web.Response:
    gw = _gateway(request)
    schemas = gw.async_channel.schemas
    base = f"{request.scheme}://{request.host}"
    try:
        if "wsdl" in request.query or "WSDL" in request.query:
            return web.Response(body=schemas.wsdl(base, ASYNC_PATH), content_type="text/xml", charset="utf-8")
        if "xsd" in request.query:
            doc = schemas.xsd(request.query["xsd"], base, ASYNC_PATH)
            if doc is None:
                return json_error(404, ErrorCode.NOT_FOUND, f"no schema named {request.query['xsd']!r}")
            return web.Response(body=doc, content_type="text/xml", charset="utf-8")
    except ValueError as exc:
        return json_error(400, ErrorCode.INVALID_PARAMETER, f"Host header {request.host!r}: {exc}")
    return json_error(
        405, ErrorCode.METHOD_NOT_ALLOWED,
        f"POST a SOAP sendMessage, getMessages, getMessageStatus or sendDeliveryNotification to {ASYNC_PATH}, "
        f"or GET {ASYNC_PATH}?wsdl",
    )  # fmt: skip


def add_routes(app: web.Application) -> None:
    for path in (ASYNC_PATH, ASYNC_PATH.rstrip("/")):
        app.router.add_post(path, async_post)
        app.router.add_get(path, async_get, allow_head=False)
