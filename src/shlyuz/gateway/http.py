"""HTTP edges of the SHEP endpoints: read the body within the cap, run the pipeline, journal, answer."""

from __future__ import annotations

import dataclasses
import time

import structlog
from aiohttp import web

from shlyuz import __version__
from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.faults import edge as fault_edge

log = structlog.get_logger("shlyuz.http")
SOAP_CONTENT_TYPE = "text/xml; charset=utf-8"
SYNC_PATH = "/bip-sync/"
WSS_PATH = "/bip-sync-wss-gost/"


def _gateway(request: web.Request):  # -> Gateway (import cycle otherwise)
    from shlyuz.gateway.app import GATEWAY

    return request.app[GATEWAY]


def json_error(status: int, code: ErrorCode, message: str) -> web.Response:
    return web.json_response({"error": {"code": code.value, "message": message}}, status=status)


LOGGED = web.RequestKey("shlyuz_logged", bool)  # the handler wrote the request's one log line itself


@web.middleware
async def context_middleware(request: web.Request, handler):
    """Fresh log context per request, and one access-log event when it ends — unless the handler logged the
    request itself (a SOAP exchange: its ``exchange`` line carries the status and the time)."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(method=request.method, path=request.path)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        if not request.get(LOGGED):
            log.info("request", status=status, ms=round((time.perf_counter() - started) * 1000, 3))


@web.middleware
async def json_error_middleware(request: web.Request, handler):
    """JSON APIs and unknown routes answer errors as ``{"error": {"code", "message"}}``, never a traceback."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return json_error(404, ErrorCode.NOT_FOUND, f"no route for {request.method} {request.path}")
    except web.HTTPMethodNotAllowed as exc:
        return json_error(
            405, ErrorCode.METHOD_NOT_ALLOWED, f"{request.method} is not allowed on {request.path}; use {', '.join(sorted(exc.allowed_methods))}"
        )
    except web.HTTPException:
        raise
    except ShlyuzError as exc:
        return json_error(400, exc.code, exc.message)
    except Exception:
        log.exception("unhandled_error")
        return json_error(500, ErrorCode.INTERNAL_ERROR, "unexpected error; the log has the details")


async def _read_body(request: web.Request, cap: int) -> bytes:
    if request.content_length is not None and request.content_length > cap:
        raise ShlyuzError(
            ErrorCode.BODY_TOO_LARGE, f"Content-Length {request.content_length} exceeds the cap of {cap} bytes"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > cap:
            raise ShlyuzError(ErrorCode.BODY_TOO_LARGE, f"the body exceeds the cap of {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def sync_post(request: web.Request) -> web.Response:
    started = time.perf_counter()
    gw = _gateway(request)
    cap = gw.settings.limits.max_body_bytes
    try:
        body = await _read_body(request, cap)
    except ShlyuzError as exc:
        body = b""
        too_large = exc
    else:
        too_large = None
    pipeline = gw.sync
    require_wsse = request.path.startswith(WSS_PATH.rstrip("/"))
    if too_large is not None:
        outcome = pipeline.fault_outcome(
            too_large, endpoint=request.path, remote=request.remote,
            content_type=request.headers.get("Content-Type"), require_wsse=require_wsse,
        )
    else:
        outcome = await pipeline.process(
            body, request.headers.get("Content-Type"), endpoint=request.path, remote=request.remote,
            require_wsse=require_wsse,
        )
    record, decision = outcome.record, outcome.fault
    if fault_edge.transport(decision):  # a malformed or truncated reply is journaled as it goes out
        wire = fault_edge.wire(decision, outcome.body)
        if wire is not outcome.body and record.response is not None:
            record = dataclasses.replace(record, response=wire)
    # The journal entry is committed before the response leaves.
    await gw.storage.append_exchange(record)
    # One log line per exchange (it replaces the access line): ms is the pipeline's time, total_ms the request's,
    # body read and journal commit included.
    log.info(
        "exchange",
        outcome=outcome.record.outcome,
        http_status=outcome.http_status,
        ms=outcome.record.duration_ms,
        total_ms=round((time.perf_counter() - started) * 1000, 3),
    )
    request[LOGGED] = True
    if fault_edge.transport(decision):
        return await fault_edge.deliver(request, decision, outcome.http_status, outcome.body, {"Content-Type": SOAP_CONTENT_TYPE})
    return web.Response(
        body=outcome.body,
        status=outcome.http_status,
        headers={"Content-Type": SOAP_CONTENT_TYPE},
    )


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


async def sync_get(request: web.Request) -> web.Response:
    gw = _gateway(request)
    query = request.query
    base = _base_url(request)
    endpoint = WSS_PATH if request.path.startswith(WSS_PATH.rstrip("/")) else SYNC_PATH
    try:
        if "wsdl" in query or "WSDL" in query:
            return web.Response(body=gw.schemas.wsdl(base, endpoint), content_type="text/xml", charset="utf-8")
        if "xsd" in query:
            doc = gw.schemas.xsd(query["xsd"], base, endpoint)
            if doc is None:
                return json_error(404, ErrorCode.NOT_FOUND, f"no schema named {query['xsd']!r}")
            return web.Response(body=doc, content_type="text/xml", charset="utf-8")
    except ValueError as exc:  # a Host header that cannot make a URL
        return json_error(400, ErrorCode.INVALID_PARAMETER, f"Host header {request.host!r}: {exc}")
    return json_error(
        405, ErrorCode.METHOD_NOT_ALLOWED, f"POST a SOAP SendMessage to {endpoint}, or GET {endpoint}?wsdl"
    )


async def healthz(request: web.Request) -> web.Response:
    gw = _gateway(request)
    try:
        db_ok = await gw.storage.ping()
    except Exception:
        db_ok = False
    body = {"status": "ok" if db_ok else "degraded", "version": __version__, "journal": "ok" if db_ok else "down"}
    return web.json_response(body, status=200 if db_ok else 503)


async def index(request: web.Request) -> web.Response:
    gw = _gateway(request)
    base = _base_url(request)
    return web.json_response(
        {
            "name": "shlyuz",
            "version": __version__,
            "endpoints": {
                "syncChannel": f"{base}{SYNC_PATH}",
                "syncChannelWsdl": f"{base}{SYNC_PATH}?wsdl",
                **({"syncChannelWsSecurity": f"{base}{WSS_PATH}", "ocsp": f"{base}/pki/ocsp",
                    "crl": f"{base}/pki/crl/issuing.crl"} if gw.pki is not None else {}),
                "journal": f"{base}/__admin/journal",
                "health": f"{base}/healthz",
            },
            "services": {sid: system.name for sid, system in gw.registry},
        }
    )


def add_routes(app: web.Application, *, wss: bool = True) -> None:
    paths = ["/bip-sync/", "/bip-sync"] + (["/bip-sync-wss-gost/", "/bip-sync-wss-gost"] if wss else [])
    for path in paths:
        app.router.add_post(path, sync_post)
        app.router.add_get(path, sync_get, allow_head=False)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/", index)
