"""``shlyuz record``: a recording proxy. Every SHEP request is forwarded to the upstream, its answer returned
unchanged, and the pair journaled (a journal entry with ``verdicts.recording``) and, with ``--out``, appended to a
JSONL recording as it goes.

The I/O edge: aiohttp server + client. What it reads is capped (``limits.max_body_bytes`` both ways) and parsed only
through :mod:`shlyuz.xml.safe`; an upstream that is unreachable, too slow, too large or answers something that is
not a SyncChannel reply gets the client a SOAP fault with an ``UPSTREAM_*`` code (docs/errors.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import aiohttp
import structlog
from aiohttp import web

from shlyuz.clock import Clock
from shlyuz.errors import ErrorCode, FaultKind, ShlyuzError
from shlyuz.replay import format as fmt
from shlyuz.replay.refresh import IncomingIds, new_session_id, request_ids
from shlyuz.replay.signing import signatures_of
from shlyuz.shep.events import ErrorInfo
from shlyuz.shep.responses import Fault, read_sync_reply
from shlyuz.shep.writer import write_fault
from shlyuz.storage.base import ExchangeRecord, Storage
from shlyuz.xml.safe import DEFAULT_LIMITS, XmlLimits

log = structlog.get_logger("shlyuz.record")

SOAP_CONTENT_TYPE = "text/xml; charset=utf-8"
FORWARDED_REQUEST_HEADERS = ("Content-Type", "SOAPAction")
KEPT_RESPONSE_HEADERS = ("Content-Type",)
UNAVAILABLE = (502, 503, 504)


@dataclass(frozen=True)
class RecordConfig:
    upstream: str  # base URL; the client's path is appended (http://gw:8080 + /bip-sync/)
    timeout: float = 30.0
    max_body_bytes: int = 10 * 1024 * 1024
    limits: XmlLimits = DEFAULT_LIMITS

    def url_for(self, path: str) -> str:
        return self.upstream.rstrip("/") + path


class _Refusal(Exception):
    def __init__(self, error: ShlyuzError, upstream_status: int | None = None, raw: bytes | None = None) -> None:
        self.error, self.upstream_status, self.raw = error, upstream_status, raw


class RecordProxy:
    """One proxy's state: the upstream session, the journal, the output file, the sequence number."""

    def __init__(
        self,
        config: RecordConfig,
        *,
        storage: Storage,
        clock: Clock,
        out: TextIO | None = None,
        name_of: Callable[[fmt.SignatureFact], str | None] | None = None,
        listen: str | None = None,
    ) -> None:
        self.config = config
        self.storage = storage
        self.clock = clock
        self.out = out
        self.name_of = name_of
        self.listen = listen
        self.seq = 0
        self.lock = asyncio.Lock()
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        await self.storage.open()
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None), auto_decompress=True)
        if self.out is not None:
            header = fmt.new_header(fmt.Provenance(kind="record", upstream=self.config.upstream, listen=self.listen),
                                    self.clock.now())  # fmt: skip
            self.out.write(fmt.dump_line(header))
            self.out.flush()

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None
        await self.storage.close()

    # -- the exchange -------------------------------------------------------------------------------------------
    async def _read_request(self, request: web.Request) -> bytes:
        cap = self.config.max_body_bytes
        if request.content_length is not None and request.content_length > cap:
            raise ShlyuzError(ErrorCode.BODY_TOO_LARGE, f"Content-Length {request.content_length} exceeds the cap of {cap} bytes")
        chunks, size = [], 0
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > cap:
                raise ShlyuzError(ErrorCode.BODY_TOO_LARGE, f"the body exceeds the cap of {cap} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _forward(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        assert self.session is not None
        cfg, where = self.config, f"upstream {url}"
        try:
            async with self.session.post(
                url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=cfg.timeout)
            ) as resp:
                cap = cfg.max_body_bytes
                if resp.content_length is not None and resp.content_length > cap:
                    raise _Refusal(ShlyuzError(ErrorCode.UPSTREAM_RESPONSE_TOO_LARGE,
                                               f"{where} announced a {resp.content_length}-byte reply; the cap is {cap} bytes"),
                                   resp.status)  # fmt: skip
                chunks, size = [], 0
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    size += len(chunk)
                    if size > cap:
                        raise _Refusal(ShlyuzError(ErrorCode.UPSTREAM_RESPONSE_TOO_LARGE,
                                                   f"{where} sent more than {cap} bytes (the cap); the reply was cut off there"),
                                       resp.status)  # fmt: skip
                    chunks.append(chunk)
                kept = {k: resp.headers[k] for k in KEPT_RESPONSE_HEADERS if k in resp.headers}
                return resp.status, b"".join(chunks), kept
        except TimeoutError:
            raise _Refusal(ShlyuzError(ErrorCode.UPSTREAM_TIMEOUT, f"{where} did not answer within {cfg.timeout:g} s")) from None
        except (aiohttp.ClientConnectionError, OSError) as exc:
            if isinstance(exc, aiohttp.ServerDisconnectedError):
                detail = f"closed the connection before a complete reply ({type(exc).__name__})"
            else:
                detail = f"is unreachable: {type(exc).__name__}: {exc}"
            raise _Refusal(ShlyuzError(ErrorCode.UPSTREAM_UNAVAILABLE, f"{where} {detail}"[:1000])) from None
        except aiohttp.ClientError as exc:
            raise _Refusal(ShlyuzError(ErrorCode.UPSTREAM_BAD_RESPONSE,
                                       f"{where} answered with broken HTTP: {type(exc).__name__}: {exc}"[:1000])) from None  # fmt: skip

    def _check_reply(self, url: str, status: int, raw: bytes) -> tuple[str, str | None, str | None]:
        """(outcome, response messageId, sessionId) of a reply that may go back unchanged, or :class:`_Refusal`."""
        where = f"upstream {url}"
        if status in UNAVAILABLE:
            raise _Refusal(ShlyuzError(ErrorCode.UPSTREAM_UNAVAILABLE, f"{where} answered HTTP {status}"), status, raw)
        try:
            reply = read_sync_reply(raw, self.config.limits)
        except ShlyuzError as exc:
            raise _Refusal(ShlyuzError(
                ErrorCode.UPSTREAM_BAD_RESPONSE,
                f"{where} answered HTTP {status} with a body that is not a SyncChannel reply: {exc.code.value}: {exc.message}"[:1000],
                data=exc.code.value,
            ), status, raw) from None  # fmt: skip
        if isinstance(reply, Fault):
            code = reply.error.error_code if reply.error else (reply.faultcode or "FAULT")
            return code, None, reply.error.session_id if reply.error else None
        return reply.status.value, reply.message_id, reply.session_id

    async def handle(self, request: web.Request) -> web.Response:
        started, received_at = time.perf_counter(), self.clock.now()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(method=request.method, path=request.path, upstream=self.config.upstream)
        url = self.config.url_for(request.path_qs)
        content_type = request.headers.get("Content-Type")
        leg: dict[str, Any] = {"upstream": url}
        body = b""
        try:
            body = await self._read_request(request)
            headers = {k: request.headers[k] for k in FORWARDED_REQUEST_HEADERS if k in request.headers}
            leg["requestHeaders"] = headers
            t0 = time.perf_counter()
            status, raw, kept = await self._forward(url, body, headers)
            leg["upstreamMs"] = round((time.perf_counter() - t0) * 1000, 3)
            leg["httpStatus"] = status
            leg["responseHeaders"] = kept
            outcome, response_id, session_id = self._check_reply(url, status, raw)
            reply_status, reply_body, reply_type = status, raw, kept.get("Content-Type", SOAP_CONTENT_TYPE)
        except (ShlyuzError, _Refusal) as exc:
            error = exc.error if isinstance(exc, _Refusal) else exc
            if isinstance(exc, _Refusal) and exc.upstream_status is not None:
                leg["httpStatus"] = exc.upstream_status
            leg["error"] = {"code": error.code.value, "message": error.message}
            if isinstance(exc, _Refusal) and exc.raw is not None:
                leg["upstreamBody"] = exc.raw[:2000].decode("utf-8", errors="replace")
            session_id = new_session_id()
            kind = error.code.kind  # type: ignore[attr-defined]
            reply_body = write_fault(ErrorInfo(error.code.value, error.message, self.clock.now(), error.data,
                                               session_id=session_id), kind if isinstance(kind, FaultKind) else FaultKind.SERVER)  # fmt: skip
            reply_status, reply_type, outcome, response_id = 500, SOAP_CONTENT_TYPE, error.code.value, None
            log.info("upstream_refused", url=url, code=error.code.value, reason=error.message)
        ids = request_ids(body, self.config.limits) if body else IncomingIds()
        await self._journal(request, received_at, started, body, content_type, ids, leg, outcome, reply_status,
                            reply_body, reply_type, response_id, session_id)  # fmt: skip
        return web.Response(body=reply_body, status=reply_status, headers={"Content-Type": reply_type})

    async def _journal(self, request, received_at, started, body, content_type, ids: IncomingIds, leg, outcome,
                       status, reply_body, reply_type, response_id, session_id) -> None:  # fmt: skip
        facts = signatures_of(body, reply_body, self.config.limits, self.name_of)
        duration = round((time.perf_counter() - started) * 1000, 3)
        record = ExchangeRecord(
            received_at=received_at, endpoint=request.path, session_id=session_id or ids.session_id or new_session_id(),
            outcome=outcome, http_status=status, duration_ms=duration, sender_id=ids.sender_id,
            service_id=ids.service_id, message_id=ids.message_id, correlation_id=ids.correlation_id,
            response_message_id=response_id, remote=request.remote, content_type=content_type,
            verdicts={"recording": leg, "signature": facts.model_dump(mode="json", by_alias=True, exclude_none=True)},
            timings={"upstream": leg.get("upstreamMs", 0.0)}, request=body, response=reply_body,
        )  # fmt: skip
        async with self.lock:  # journal order = file order
            record.id = await self.storage.append_exchange(record)
            self.seq += 1
            if self.out is not None:
                line = exchange_from_record(record, self.seq, reply_type=reply_type, signatures=facts)
                self.out.write(fmt.dump_line(line))
                self.out.flush()
        log.info("recorded", outcome=outcome, http_status=status, ms=duration, serviceId=ids.service_id)

    async def passthrough_get(self, request: web.Request) -> web.Response:
        """GET (``?wsdl``, ``?xsd=``) goes to the upstream with the client's Host, so a shlyuz upstream writes the
        proxy's address into the WSDL; not journaled."""
        assert self.session is not None
        url = self.config.url_for(request.path_qs)
        try:
            async with self.session.get(url, headers={"Host": request.host},
                                        timeout=aiohttp.ClientTimeout(total=self.config.timeout)) as resp:  # fmt: skip
                raw = await resp.content.read(self.config.max_body_bytes + 1)
                if len(raw) > self.config.max_body_bytes:
                    raise ShlyuzError(ErrorCode.UPSTREAM_RESPONSE_TOO_LARGE, f"upstream {url}: the reply exceeds the cap")
                return web.Response(body=raw, status=resp.status,
                                    headers={"Content-Type": resp.headers.get("Content-Type", "text/xml")})  # fmt: skip
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return web.json_response({"error": {"code": ErrorCode.UPSTREAM_UNAVAILABLE.value,
                                                "message": f"upstream {url}: {type(exc).__name__}: {exc}"}}, status=502)  # fmt: skip
        except ShlyuzError as exc:
            return web.json_response({"error": {"code": exc.code.value, "message": exc.message}}, status=502)


def exchange_from_record(
    record: ExchangeRecord, seq: int, *, reply_type: str | None = None, signatures: fmt.Signatures | None = None,
    limits: XmlLimits = DEFAULT_LIMITS,
) -> fmt.Exchange:
    """A journal entry → one recording line. Raises ValueError for an entry journaled without bodies."""
    if record.request is None or record.response is None:
        raise ValueError(f"journal entry {record.id} has no bodies (journal_bodies = false when it was written)")
    recording = record.verdicts.get("recording") if isinstance(record.verdicts.get("recording"), dict) else {}
    if signatures is None:
        signatures = signatures_of(record.request, record.response, limits)
    request_headers = recording.get("requestHeaders") or {}
    response_headers = recording.get("responseHeaders") or {}
    return fmt.Exchange(
        seq=seq, journalId=record.id, endpoint=record.endpoint, upstream=recording.get("upstream"),
        serviceId=record.service_id, senderId=record.sender_id,
        messageIds=fmt.MessageIds(request=record.message_id, correlation=record.correlation_id,
                                  response=record.response_message_id),
        sessionId=record.session_id, outcome=record.outcome,
        request=fmt.RecordedRequest.of(record.request, record.content_type, {k: v for k, v in request_headers.items()
                                                                             if k != "Content-Type"}),
        response=fmt.RecordedResponse(status=record.http_status, **fmt.Message.of(
            record.response, reply_type or response_headers.get("Content-Type") or SOAP_CONTENT_TYPE).model_dump(by_alias=True)),
        signatures=signatures,
        timings=fmt.Timings(receivedAt=record.received_at, durationMs=record.duration_ms,
                            upstreamMs=recording.get("upstreamMs"), stages=dict(record.timings)),
    )  # fmt: skip


def create_record_app(proxy: RecordProxy, *, client_max_size: int | None = None) -> web.Application:
    app = web.Application(client_max_size=(client_max_size or proxy.config.max_body_bytes) + 1)

    async def on_startup(app: web.Application) -> None:
        await proxy.start()

    async def on_cleanup(app: web.Application) -> None:
        await proxy.stop()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app.router.add_post("/{tail:.*}", proxy.handle)
    app.router.add_get("/{tail:.*}", proxy.passthrough_get, allow_head=False)
    return app
