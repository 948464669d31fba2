"""The emulator's I/O edge: the WebSocket endpoint NCALayer clients connect to, and the HTTP control port.

- WebSocket (``wss://127.0.0.1:13579/`` by default, any path): the greeting first, then one answer per text frame.
  The query (``?identity=bad/expired&mode=cancel``) or the header ``X-Shlyuz-Identity`` / ``X-Shlyuz-Mode`` sets the
  connection's selection before the upgrade; the ``shlyuz.ncalayer`` module changes it afterwards. A plain GET
  (no upgrade) answers 200 with a line of text, so a client's ``fetch`` probe finds the port open.
- Control (``http://127.0.0.1:<control-port>``, off unless asked for): ``GET /`` the state, ``POST /identity``
  ``{"identity": …, "mode": "sign"|"cancel"}`` the default selection of every connection without an override,
  ``GET /identities?tag=…`` the names to choose from. Errors are ``{"error": {"code", "message"}}``.

Everything lives on the :class:`NcaLayer` object; nothing in the module is mutable.
"""

from __future__ import annotations

import json
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import structlog
from aiohttp import WSMsgType, web
from pydantic import BaseModel, Field, ValidationError

from shlyuz.errors import ErrorCode
from shlyuz.gateway.http import context_middleware, json_error, json_error_middleware
from shlyuz.ncalayer import protocol as p
from shlyuz.ncalayer.emulator import DEFAULT_VERSION, Connection, Emulator, NoSuchIdentity, Selection
from shlyuz.pki.store import Pki

log = structlog.get_logger("shlyuz.ncalayer")
TLS_IDENTITY = "tls/localhost"
DEFAULT_PORT = 13579
MAX_WS_MESSAGE = p.MAX_FRAME_CHARS * 4  # UTF-8 bytes; aiohttp closes with 1009 beyond this


@dataclass
class NcaLayer:
    """One emulator process: the emulator, the default selection, the open connections' count."""

    emulator: Emulator
    default: Selection
    connections: int = 0
    served: int = 0

    @classmethod
    def build(cls, pki: Pki, identity: str, *, mode: Literal["sign", "cancel"] = "sign",
              version: str = DEFAULT_VERSION) -> NcaLayer:  # fmt: skip
        emulator = Emulator(pki, version)
        emulator.check(identity)  # NoSuchIdentity before anything listens
        return cls(emulator, Selection(identity, mode))


NCALAYER = web.AppKey("ncalayer", NcaLayer)


def tls_context(pki: Pki, name: str = TLS_IDENTITY) -> ssl.SSLContext:
    """Server TLS with the test PKI's ``tls/localhost`` (SAN localhost, 127.0.0.1, ::1), sending the issuing CA too so
    that a client trusting only the test root accepts it."""
    ident = pki.identity(name)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    with tempfile.TemporaryDirectory(prefix="shlyuz-ncalayer-") as tmp:
        chain = Path(tmp) / "chain.pem"
        chain.write_bytes(ident.chain_pem())
        ctx.load_cert_chain(chain, ident.key_path)
    return ctx


# -- the WebSocket ----------------------------------------------------------------------------------------------------


def _connection_from(request: web.Request, state: NcaLayer) -> Connection:
    identity = request.query.get("identity") or request.headers.get("X-Shlyuz-Identity") or None
    mode = request.query.get("mode") or request.headers.get("X-Shlyuz-Mode") or None
    if mode is not None and mode not in ("sign", "cancel"):
        raise ValueError(f"mode must be sign or cancel, got {mode[:40]!r}")
    if identity is not None:
        state.emulator.check(identity)
    return Connection(identity, mode)  # type: ignore[arg-type]


async def websocket(request: web.Request) -> web.StreamResponse:
    state = request.app[NCALAYER]
    ws = web.WebSocketResponse(max_msg_size=MAX_WS_MESSAGE, heartbeat=None, autoping=True)
    if not ws.can_prepare(request).ok:
        return web.Response(text="shlyuz NCALayer emulator: connect with a WebSocket (see docs/ncalayer.md)\n",
                            headers={"Access-Control-Allow-Origin": "*"})  # fmt: skip
    try:
        conn = _connection_from(request, state)
    except (ValueError, NoSuchIdentity) as exc:
        return json_error(400, ErrorCode.INVALID_PARAMETER, str(exc))
    await ws.prepare(request)
    state.connections += 1
    bound = log.bind(peer=request.remote, identity=conn.identity or state.default.identity)
    bound.info("ncalayer_connected")
    try:
        await _send(ws, p.greeting(state.emulator.version))
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                answer = _answer(state, conn, msg.data, bound)
            elif msg.type == WSMsgType.BINARY:
                answer = p.common_error(f"a binary frame ({len(msg.data)} bytes) is not an NCALayer request; send "
                                        "the JSON request as a text frame")  # fmt: skip
            else:  # ERROR: aiohttp closes the socket (e.g. 1009 message too big)
                bound.info("ncalayer_ws_error", error=str(ws.exception()))
                break
            await _send(ws, answer)
            state.served += 1
    finally:
        state.connections -= 1
        bound.info("ncalayer_closed", requests=conn.requests, close_code=ws.close_code)
    return ws


def _answer(state: NcaLayer, conn: Connection, text: str, bound) -> p.Answer:
    request: p.Request | None = None
    try:
        request = p.parse_frame(text)
        answer = state.emulator.answer(request, conn, state.default)
    except p.Refused as refused:
        bound.info("ncalayer_refused", message=str(refused.answer.get("message", ""))[:200])
        return refused.answer
    except Exception:  # noqa: BLE001 - never a dropped connection: the client gets an error answer
        bound.exception("ncalayer_internal_error", request=type(request).__name__)
        return (p.basics_error("GENERAL_ERROR", "internal error in the emulator (see its log)")
                if isinstance(request, p.BasicsSign) else p.common_error("internal error in the emulator (see its log)"))  # fmt: skip
    bound.info("ncalayer_request", request=type(request).__name__, ok=answer.get("code") == "200" or answer.get("status") is True)
    return answer


async def _send(ws: web.WebSocketResponse, answer: p.Answer) -> None:
    await ws.send_str(json.dumps(answer, ensure_ascii=False))


def websocket_app(state: NcaLayer) -> web.Application:
    app = web.Application()
    app[NCALAYER] = state
    app.router.add_get("/{tail:.*}", websocket)
    return app


# -- the control port -------------------------------------------------------------------------------------------------


class SelectIdentity(BaseModel):
    model_config = {"extra": "forbid"}

    identity: str | None = Field(None, min_length=1, max_length=200, description="a test-PKI identity or base name")
    mode: Literal["sign", "cancel"] | None = Field(None, description="cancel: answer signing requests like Cancel")


class ControlState(BaseModel):
    identity: str
    mode: Literal["sign", "cancel"]
    keys: list[str] = Field(description="the PKI names the selection covers (its /auth and /sign keys)")
    version: str = Field(description="the version the greeting reports")
    connections: int
    served: int = Field(description="answers sent since the start")


class IdentityList(BaseModel):
    identities: list[str]


def _state(state: NcaLayer) -> ControlState:
    sel = state.default
    return ControlState(identity=sel.identity, mode=sel.mode, keys=state.emulator.keys_of(sel.identity),
                        version=state.emulator.version, connections=state.connections, served=state.served)  # fmt: skip


async def control_get(request: web.Request) -> web.Response:
    return web.json_response(_state(request.app[NCALAYER]).model_dump())


async def control_identities(request: web.Request) -> web.Response:
    tag = request.query.get("tag") or None
    names = request.app[NCALAYER].emulator.pki.names(tag)
    return web.json_response(IdentityList(identities=names).model_dump())


async def control_post_identity(request: web.Request) -> web.Response:
    state = request.app[NCALAYER]
    raw = await request.read()
    if len(raw) > 64 * 1024:
        return json_error(400, ErrorCode.INVALID_JSON, f"the body is {len(raw)} bytes; at most 65536")
    try:
        body = SelectIdentity.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "body"
        code = ErrorCode.INVALID_JSON if err["type"].startswith("json") else ErrorCode.INVALID_PARAMETER
        return json_error(400, code, f"{where}: {err['msg']}")
    if body.identity is None and body.mode is None:
        return json_error(400, ErrorCode.INVALID_PARAMETER, "give identity, mode, or both")
    if body.identity is not None:
        try:
            state.emulator.check(body.identity)
        except NoSuchIdentity as exc:
            return json_error(404, ErrorCode.NOT_FOUND, str(exc))
        state.default.identity = body.identity
    if body.mode is not None:
        state.default.mode = body.mode
    log.info("ncalayer_selection", identity=state.default.identity, mode=state.default.mode)
    return web.json_response(_state(state).model_dump())


def control_app(state: NcaLayer) -> web.Application:
    app = web.Application(middlewares=[context_middleware, json_error_middleware])
    app[NCALAYER] = state
    app.router.add_get("/", control_get)
    app.router.add_get("/identities", control_identities)
    app.router.add_post("/identity", control_post_identity)
    return app


# -- running ------------------------------------------------------------------------------------------------------------


@dataclass
class Running:
    runners: list[web.AppRunner]
    port: int
    control_port: int | None

    async def close(self) -> None:
        for runner in self.runners:
            await runner.cleanup()


async def start(state: NcaLayer, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                ssl_context: ssl.SSLContext | None = None, control_port: int | None = None) -> Running:  # fmt: skip
    """Listen; ``port=0`` / ``control_port=0`` pick free ports (see ``Running``). Close with ``Running.close``."""
    runners: list[web.AppRunner] = []
    try:
        runner = web.AppRunner(websocket_app(state), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, host, port, ssl_context=ssl_context, reuse_address=True).start()
        bound_port = runner.addresses[0][1]
        bound_control = None
        if control_port is not None:
            crunner = web.AppRunner(control_app(state), access_log=None, handle_signals=False, shutdown_timeout=1.0)
            await crunner.setup()
            runners.append(crunner)
            await web.TCPSite(crunner, host, control_port, reuse_address=True).start()
            bound_control = crunner.addresses[0][1]
    except BaseException:
        for r in runners:
            await r.cleanup()
        raise
    return Running(runners, bound_port, bound_control)
