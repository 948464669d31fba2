"""``shlyuz replay FILE --serve``: answer SHEP requests from a recording (the I/O edge; matching is
:mod:`.match`, refreshing :mod:`.refresh`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from shlyuz.clock import Clock
from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.replay.format import Recording
from shlyuz.replay.match import Matcher, norm_endpoint
from shlyuz.replay.refresh import new_session_id, refresh_response, request_ids
from shlyuz.shep.events import ErrorInfo
from shlyuz.shep.writer import write_fault
from shlyuz.xml.safe import DEFAULT_LIMITS, XmlLimits

log = structlog.get_logger("shlyuz.replay.serve")
SOAP_CONTENT_TYPE = "text/xml; charset=utf-8"


class ReplayServer:
    def __init__(
        self,
        recording: Recording,
        *,
        clock: Clock,
        signer: Any = None,  # the gateway identity: signs replies whose recording was signed
        limits: XmlLimits = DEFAULT_LIMITS,
        schemas_dir: Path | None = None,
    ) -> None:
        self.recording = recording
        self.clock = clock
        self.signer = signer
        self.limits = limits
        self.matcher = Matcher(recording.exchanges, limits)
        self.schemas = None
        if schemas_dir is not None:
            from shlyuz.gateway.wsdl import SchemaDocs

            self.schemas = SchemaDocs(schemas_dir)

    def _fault(self, error: ShlyuzError) -> web.Response:
        body = write_fault(ErrorInfo(error.code.value, error.message, self.clock.now(), error.data,
                                     session_id=new_session_id()), error.code.kind)  # type: ignore[attr-defined]  # fmt: skip
        return web.Response(body=body, status=500, headers={"Content-Type": SOAP_CONTENT_TYPE})

    async def handle(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(method=request.method, path=request.path)
        cap = self.limits.max_bytes
        if request.content_length is not None and request.content_length > cap:
            return self._fault(ShlyuzError(ErrorCode.BODY_TOO_LARGE, f"Content-Length {request.content_length} exceeds the cap of {cap} bytes"))
        body = await request.content.read(cap + 1)
        if len(body) > cap:
            return self._fault(ShlyuzError(ErrorCode.BODY_TOO_LARGE, f"the body exceeds the cap of {cap} bytes"))
        match, key = self.matcher.find(request.path, body)
        if match is None:
            near = self.matcher.closest(key)
            described = "; ".join(
                f"#{c.exchange.seq} {c.exchange.service_id or '-'} {c.exchange.endpoint} "
                f"({c.differences} difference(s){', first ' + c.first if c.first else ''})"
                for c in near
            )
            fields = ", ".join(f"{k}={v}" for k, v in (key.fields or ())[:6])
            message = (f"no recorded exchange matches POST {norm_endpoint(request.path)} serviceId "
                       f"{key.service_id!r}" + (f" with payload fields {fields}" if fields else "")
                       + (f"; closest recorded: {described}" if described else "; the recording is empty"))  # fmt: skip
            log.info("replay_no_match", serviceId=key.service_id, path=request.path)
            return self._fault(ShlyuzError(ErrorCode.REPLAY_NO_MATCH, message[:2000]))
        ex = match.exchange
        recorded_ids = request_ids(ex.request.raw(), self.limits)
        try:
            reply = refresh_response(
                ex.response.raw(), recorded_request_ids=recorded_ids, incoming=request_ids(body, self.limits),
                now=self.clock.now(), signer=self.signer if ex.signatures.response_wsse is not None else None,
                limits=self.limits,
            )  # fmt: skip
        except ShlyuzError:  # a recorded body that is not XML (e.g. an upstream's garbage): as recorded
            reply = ex.response.raw()
        log.info("replayed", seq=ex.seq, how=match.how, serviceId=ex.service_id,
                 ms=round((time.perf_counter() - started) * 1000, 3))  # fmt: skip
        return web.Response(body=reply, status=ex.response.status,
                            headers={"Content-Type": ex.response.content_type or SOAP_CONTENT_TYPE,
                                     "X-Shlyuz-Replayed": f"{ex.seq} {match.how}"})  # fmt: skip

    async def wsdl(self, request: web.Request) -> web.Response:
        if self.schemas is None or not ("wsdl" in request.query or "WSDL" in request.query or "xsd" in request.query):
            return web.json_response({"error": {"code": "METHOD_NOT_ALLOWED",
                                                "message": f"POST a SOAP SendMessage to {request.path}"}}, status=405)  # fmt: skip
        base = f"{request.scheme}://{request.host}"
        endpoint = norm_endpoint(request.path)
        if "xsd" in request.query:
            doc = self.schemas.xsd(request.query["xsd"], base, endpoint)
            if doc is None:
                return web.json_response({"error": {"code": "NOT_FOUND", "message": "no such schema"}}, status=404)
            return web.Response(body=doc, content_type="text/xml", charset="utf-8")
        return web.Response(body=self.schemas.wsdl(base, endpoint), content_type="text/xml", charset="utf-8")


def create_replay_app(server: ReplayServer) -> web.Application:
    app = web.Application(client_max_size=server.limits.max_bytes + 1)
    app.router.add_post("/{tail:.*}", server.handle)
    app.router.add_get("/{tail:.*}", server.wsdl, allow_head=False)
    return app
