"""An information system served by someone else: a serviceId forwarded to an upstream SHEP SyncChannel endpoint.

An integrator plugs their own implementation of, say, GBD FL in place of the built-in mock (``systems.external`` in
the configuration, or ``shlyuz serve --upstream SERVICE_ID=URL``). :class:`ExternalSystem` is then the
:class:`~shlyuz.systems.base.SystemHandler` for that serviceId: it forwards the request (same requestInfo, the data as
received), reads the reply within a timeout and a size cap through :mod:`shlyuz.xml.safe`, verifies its signatures
with the gateway's :class:`~shlyuz.gateway.signature.SignatureVerifier`, journals the upstream leg, and answers the
client with the upstream's status, message and payload — or with a precise ``UPSTREAM_*`` fault.

Sans-IO: :func:`forward_message` (request → bytes) and :func:`read_upstream_reply` (HTTP status + bytes → reply) are
pure; only :meth:`ExternalSystem.handle` does I/O, through the process's one :class:`UpstreamHttp` session.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aiohttp
import structlog
from lxml import etree

from shlyuz.config import ConfigError, ExternalSystemSettings
from shlyuz.dsig.signer import Signer
from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.gateway.signature import SignatureVerifier
from shlyuz.shep import ns
from shlyuz.shep.events import SenderInfo, Status, SyncRequest, SyncResponse
from shlyuz.shep.reader import split_envelope
from shlyuz.shep.responses import Fault, read_sync_reply
from shlyuz.shep.writer import XML_DECL, format_datetime
from shlyuz.storage.base import ExchangeRecord
from shlyuz.systems.base import HandlerContext, HandlerResult, ServiceRegistry
from shlyuz.xml.safe import XmlLimits, parse

log = structlog.get_logger("shlyuz.external")

SOAP_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
UNAVAILABLE_STATUSES = (502, 503, 504)


class UpstreamHttp:
    """The process's one aiohttp ClientSession for upstream calls: opened on startup, closed on cleanup."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        if self._session is None:
            # no session-wide timeout: each upstream has its own, given per request
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None:  # used without the application's startup (e.g. a pipeline driven in process)
            await self.open()
        assert self._session is not None
        return self._session


# --- sans-IO -------------------------------------------------------------------------------------------------------


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def _received_data(request: SyncRequest) -> etree._Element | None:
    """``requestData/data`` exactly as the client sent it (inline XML or an escaped string)."""
    body = next((c for c in request.envelope if c.tag == ns.q(ns.SOAP11, "Body")), None)
    op = next((c for c in body if isinstance(c.tag, str)), None) if body is not None else None
    return op.find("request/requestData/data") if op is not None else None


def forward_message(
    request: SyncRequest,
    *,
    sender: SenderInfo | None = None,
    sign_envelope: Callable[[etree._Element], etree._Element] | None = None,
) -> bytes:
    """The ``SendMessage`` for the upstream: the same requestInfo (messageId, correlationId, serviceId, messageDate,
    routeId, properties, sessionId; ``sender`` replaces the sender when given) and ``data`` as received, so a data
    signature made by the client still verifies upstream. ``sign_envelope`` adds WS-Security (the gateway's)."""
    info = request.info
    who = sender or info.sender
    env = etree.Element(ns.q(ns.SOAP11, "Envelope"), nsmap={"soap": ns.SOAP11})
    _sub(env, ns.q(ns.SOAP11, "Header"))
    body = _sub(env, ns.q(ns.SOAP11, "Body"))
    op = etree.SubElement(body, ns.q(ns.SYNC_TYPES, "SendMessage"), nsmap={"ns3": ns.SYNC_TYPES})
    req = _sub(op, "request")
    ri = _sub(req, "requestInfo")
    _sub(ri, "messageId", info.message_id)
    if info.correlation_id is not None:
        _sub(ri, "correlationId", info.correlation_id)
    _sub(ri, "serviceId", info.service_id)
    _sub(ri, "messageDate", format_datetime(info.message_date))
    if info.route_id is not None:
        _sub(ri, "routeId", info.route_id)
    s = _sub(ri, "sender")
    _sub(s, "senderId", who.sender_id)
    if who.password is not None:
        _sub(s, "password", who.password)
    for prop in info.properties:
        p = _sub(ri, "properties")
        _sub(p, "key", prop.key)
        _sub(p, "value", prop.value)
    if info.session_id is not None:
        _sub(ri, "sessionId", info.session_id)
    data_parent = _sub(req, "requestData")
    original = _received_data(request)
    if original is not None:
        # a new <data> with every namespace in scope where it was (xsi:type="cs:Request" names its prefix in text)
        nsmap = {k: v for k, v in original.nsmap.items() if k is not None}
        data = etree.SubElement(data_parent, "data", nsmap=nsmap)
        for key, value in original.attrib.items():
            data.set(key, value)
        data.text = original.text
        for child in original:
            data.append(copy.deepcopy(child))
    if sign_envelope is not None:
        env = sign_envelope(env)
    return XML_DECL + etree.tostring(env, encoding="utf-8")


@dataclass(frozen=True, slots=True)
class UpstreamReply:
    """A SyncChannel reply read from the upstream: the response, and its envelope for signature verification."""

    response: SyncResponse
    envelope: etree._Element
    headers: tuple[etree._Element, ...]


def _bad(where: str, message: str, data: str | None = None) -> ShlyuzError:
    return ShlyuzError(ErrorCode.UPSTREAM_BAD_RESPONSE, f"{where} {message}", data=data)


def read_upstream_reply(http_status: int, body: bytes, limits: XmlLimits, where: str) -> UpstreamReply:
    """HTTP status + body → :class:`UpstreamReply`, or the ``UPSTREAM_*`` error that says what was wrong.

    ``where`` names the upstream in messages ("upstream GBDFL_UniversalServiceSync at http://…")."""
    if http_status in UNAVAILABLE_STATUSES:
        raise ShlyuzError(ErrorCode.UPSTREAM_UNAVAILABLE, f"{where} answered HTTP {http_status}")
    if http_status not in (200, 500):
        raise _bad(
            where,
            f"answered HTTP {http_status}; a SyncChannel endpoint answers 200 or 500 (a fault)",
        )
    try:
        root = parse(body, limits)
        headers, element = split_envelope(root)
        reply = read_sync_reply(body, limits)
    except ShlyuzError as exc:
        raise _bad(where, f"answered HTTP {http_status} with a body that is not a SyncChannel reply: "
                          f"{exc.code.value}: {exc.message}", data=exc.code.value) from None  # fmt: skip
    if isinstance(reply, Fault):
        err = reply.error
        quoted = f"{err.error_code}: {err.error_message}" if err is not None else reply.faultstring
        if http_status != 500:
            raise _bad(
                where,
                f"answered a SOAP fault with HTTP {http_status}; SOAP 1.1 requires 500 ({quoted})",
            )
        raise ShlyuzError(
            ErrorCode.UPSTREAM_FAULT,
            f"{where} answered a fault: {reply.faultcode} {quoted}"[:1000],
            data=(err.error_code if err is not None else reply.faultcode) or None,
        )
    if http_status != 200:
        raise _bad(
            where,
            f"answered a SendMessageResponse with HTTP {http_status}; a response is HTTP 200",
        )
    code = element.findtext("response/responseInfo/status/code")
    if code not in {s.value for s in Status}:
        raise _bad(
            where,
            f"answered status code {code!r}; SyncChannel knows SCSS001 and SCSE001",
        )
    return UpstreamReply(reply, root, headers)


# --- the system ------------------------------------------------------------------------------------------------------

Journal = Callable[[ExchangeRecord], Awaitable[int]]


class ExternalSystem:
    """A serviceId served by an upstream SyncChannel endpoint (see the module docstring and docs/systems/external.md)."""

    def __init__(
        self,
        service_id: str,
        config: ExternalSystemSettings,
        *,
        http: UpstreamHttp,
        limits: XmlLimits,
        verifier: SignatureVerifier | None = None,
        request_signer: Signer | None = None,
        journal: Journal | None = None,
        journal_bodies: bool = True,
    ) -> None:
        if config.require_signature and verifier is None:
            raise ConfigError(f"systems.external.{service_id}.require_signature needs pki.enabled = true")
        if config.sign_requests and request_signer is None:
            raise ConfigError(f"systems.external.{service_id}.sign_requests needs the PKI's gateway identity")
        self.service_id = service_id
        self.service_ids = (service_id,)
        self.config = config
        self.name = f"external system at {config.url}"
        self.http = http
        self.limits = dataclasses.replace(limits, max_bytes=config.max_response_bytes)
        # the upstream's reply is checked against the trust, not against the request rules of settings.services
        self.verifier = dataclasses.replace(verifier, policies={}) if verifier is not None else None
        self.request_signer = request_signer if config.sign_requests else None
        self.journal = journal
        self.journal_bodies = journal_bodies
        self.where = f"upstream {service_id} at {config.url}"

    async def handle(self, request: SyncRequest, ctx: HandlerContext) -> HandlerResult:
        cfg = self.config
        sender = SenderInfo(cfg.sender_id, cfg.password) if cfg.sender_id is not None else None
        body = forward_message(
            request,
            sender=sender,
            sign_envelope=self.request_signer.envelope if self.request_signer else None,
        )
        started_at, t0 = ctx.now(), time.perf_counter()
        leg: dict[str, Any] = {"url": cfg.url, "httpStatus": None}
        raw: bytes | None = None
        reply: UpstreamReply | None = None
        try:
            status, raw = await self._post(body)
            leg["httpStatus"] = status
            leg["ms"] = round((time.perf_counter() - t0) * 1000, 3)
            reply = read_upstream_reply(status, raw, self.limits, self.where)
            leg["status"] = reply.response.status.value
            leg["messageId"] = reply.response.message_id
            leg["signature"] = await self._verify(reply)
        except ShlyuzError as exc:
            leg.setdefault("ms", round((time.perf_counter() - t0) * 1000, 3))
            leg["error"] = {
                "code": exc.code.value,
                "message": exc.message,
                **({"data": exc.data} if exc.data else {}),
            }
            await self._journal(request, ctx, started_at, body, raw, leg, exc.code.value, reply)
            log.info("upstream_refused", url=cfg.url, code=exc.code.value, reason=exc.message)
            raise
        except Exception as exc:  # a shlyuz bug: the pipeline answers PROVIDER_ERROR; the leg is still journaled
            leg["error"] = {"code": ErrorCode.PROVIDER_ERROR.value, "message": f"unexpected {type(exc).__name__}"}
            await self._journal(request, ctx, started_at, body, raw, leg, ErrorCode.PROVIDER_ERROR.value, reply)
            raise
        await self._journal(request, ctx, started_at, body, raw, leg, reply.response.status.value, reply)
        resp = reply.response
        return HandlerResult(
            resp.status,
            payload=resp.payload,
            message=resp.status_message or None,
            correlation_id=resp.correlation_id,
            verdict={"upstream": leg},
        )

    async def _post(self, body: bytes) -> tuple[int, bytes]:
        cfg = self.config
        session = await self.http.session()
        try:
            async with session.post(
                cfg.url,
                data=body,
                headers=SOAP_HEADERS,
                timeout=aiohttp.ClientTimeout(total=cfg.timeout),
                allow_redirects=False,  # a 3xx is an answer (UPSTREAM_BAD_RESPONSE), not a place to go
            ) as resp:
                cap = cfg.max_response_bytes
                if resp.content_length is not None and resp.content_length > cap:
                    raise ShlyuzError(
                        ErrorCode.UPSTREAM_RESPONSE_TOO_LARGE,
                        f"{self.where} announced a {resp.content_length}-byte reply; the cap is {cap} bytes",
                    )
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    size += len(chunk)
                    if size > cap:
                        raise ShlyuzError(
                            ErrorCode.UPSTREAM_RESPONSE_TOO_LARGE,
                            f"{self.where} sent more than {cap} bytes (the cap); the reply was cut off there",
                        )
                    chunks.append(chunk)
                return resp.status, b"".join(chunks)
        except TimeoutError:  # asyncio.TimeoutError is TimeoutError (3.11)
            raise ShlyuzError(
                ErrorCode.UPSTREAM_TIMEOUT,
                f"{self.where} did not answer within {cfg.timeout:g} s",
            ) from None
        except (aiohttp.ClientConnectionError, OSError) as exc:
            if isinstance(exc, aiohttp.ServerDisconnectedError):
                detail = f"closed the connection before a complete reply ({type(exc).__name__})"
            else:
                detail = f"is unreachable: {type(exc).__name__}: {exc}"
            raise ShlyuzError(ErrorCode.UPSTREAM_UNAVAILABLE, f"{self.where} {detail}"[:1000]) from None
        except aiohttp.ClientError as exc:  # a reply that is not HTTP, a broken chunked encoding, ...
            raise _bad(
                self.where,
                f"answered with broken HTTP: {type(exc).__name__}: {exc}"[:900],
            ) from None

    async def _verify(self, reply: UpstreamReply) -> dict[str, Any]:
        """Verify the reply's data signature and WS-Security (whenever present); apply ``require_signature``."""
        if self.verifier is None:
            return {
                "verified": False,
                "reason": "pki disabled: the upstream's signatures are not checked",
            }
        signed = SimpleNamespace(
            headers=reply.headers,
            envelope=reply.envelope,
            payload=reply.response.payload,
            info=SimpleNamespace(service_id=self.service_id),
        )
        try:
            verdict = await self.verifier.verify_request(signed, require_wsse=False)
        except ShlyuzError as exc:
            raise ShlyuzError(
                ErrorCode.UPSTREAM_SIGNATURE_INVALID,
                f"{self.where}: the reply's signature is refused: {exc.code.value}: {exc.message}"[:1000],
                data=exc.code.value,
            ) from None
        if self.config.require_signature:
            if reply.response.payload is not None and not isinstance(verdict.get("data"), dict):
                raise ShlyuzError(
                    ErrorCode.UPSTREAM_SIGNATURE_MISSING,
                    f"{self.where}: the reply's data carries no enveloped signature (require_signature = true)",
                )
            if reply.response.payload is None and not isinstance(verdict.get("wsse"), dict):
                raise ShlyuzError(
                    ErrorCode.UPSTREAM_SIGNATURE_MISSING,
                    f"{self.where}: the reply has no data and no WS-Security signature (require_signature = true)",
                )
        return verdict

    async def _journal(
        self,
        request: SyncRequest,
        ctx: HandlerContext,
        started_at,
        body: bytes,
        raw: bytes | None,
        leg: dict[str, Any],
        outcome: str,
        reply: UpstreamReply | None,
    ) -> None:
        """The upstream leg as its own journal entry: the same sessionId as the client's exchange, the URL as endpoint."""
        if self.journal is None:
            return
        info = request.info
        record = ExchangeRecord(
            received_at=started_at,
            endpoint=self.config.url,
            session_id=ctx.session_id,
            outcome=outcome,
            http_status=leg.get("httpStatus") or 0,
            duration_ms=leg.get("ms", 0.0),
            sender_id=info.sender.sender_id,
            service_id=info.service_id,
            message_id=info.message_id,
            correlation_id=info.correlation_id,
            response_message_id=reply.response.message_id if reply is not None else None,
            content_type=SOAP_HEADERS["Content-Type"],
            verdicts={"upstream": leg},
            timings={"upstream": leg.get("ms", 0.0)},
            request=body if self.journal_bodies else None,
            response=raw if self.journal_bodies else None,
        )
        try:
            await self.journal(record)
        except Exception:  # the client's exchange is still journaled by the HTTP edge; say so in the log
            log.exception("upstream_journal_failed", url=self.config.url)


def plug_external_systems(
    registry: ServiceRegistry,
    external: dict[str, ExternalSystemSettings],
    *,
    http: UpstreamHttp,
    limits: XmlLimits,
    verifier: SignatureVerifier | None,
    request_signer: Signer | None,
    journal: Journal | None,
    journal_bodies: bool,
) -> None:
    """Replace the built-in system of every configured serviceId by an :class:`ExternalSystem` (in ``registry``)."""
    for service_id, config in external.items():
        system = ExternalSystem(
            service_id, config, http=http, limits=limits, verifier=verifier, request_signer=request_signer,
            journal=journal, journal_bodies=journal_bodies,
        )  # fmt: skip
        replaced = registry.replace(service_id, system)
        log.info("external_system", serviceId=service_id, url=config.url,
                 replaces=replaced.name if replaced is not None else None)  # fmt: skip
