"""Test helpers for the async channel (helper module, not a test module): a gateway factory with async participants,
a client whose every reply is validated against the official AsyncChannel XSDs, an echo participant standing in for
E-sobes, and a local IAsyncChannelClient endpoint that fails on cue."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web
from aiohttp.test_utils import TestServer
from conftest import GATEWAY_NOW
from xsdcheck import validate_async_body

from shlyuz.asyncch.client import AsyncChannelClient
from shlyuz.clock import FixedClock
from shlyuz.config import load_settings
from shlyuz.errors import FaultKind
from shlyuz.gateway.app import build_gateway, create_app
from shlyuz.shep import ns
from shlyuz.shep.async_events import (
    AsyncCall,
    ChangeStatusNotifyResponse,
    MessageState,
    Operation,
    SendMessageResponse,
)
from shlyuz.shep.async_reader import read_client_request
from shlyuz.shep.async_writer import (
    write_async_fault,
    write_change_status_response,
    write_send_message_response,
)
from shlyuz.shep.events import ErrorInfo
from shlyuz.systems.participants import (
    AsyncMessage,
    MessageType,
    Outgoing,
    ParticipantContext,
)

ECHO_SERVICE = "TEST_ECHO"
SENDERS = [
    {"senderId": "ext-client", "password": "client-pw", "description": "outside consumer with a push endpoint"},
    {"senderId": "ext-provider", "password": "provider-pw", "description": "outside provider that pulls"},
    {"senderId": "ext-push", "password": "push-pw", "description": "outside provider with a push endpoint"},
]


class CheckedClient(AsyncChannelClient):
    """Every reply (answer or fault) is validated against the official AsyncChannel XSDs."""

    async def _call(self, body: bytes):
        try:
            return await super()._call(body)
        finally:
            validate_async_body(self.last.reply)


class Echo:
    """Stands in for E-sobes: answers each REQUEST with a correlated RESPONSE through the outbox; fails on cue."""

    name = "Echo (test stand-in for E-sobes)"
    participant_id = "esobes"
    service_ids = (ECHO_SERVICE,)

    def __init__(self, fail_times: int = 0) -> None:
        self.fail_times = fail_times
        self.calls = 0
        self.seen: list[AsyncMessage] = []
        self.answered = asyncio.Event()

    async def on_message(self, message: AsyncMessage, ctx: ParticipantContext) -> None:
        self.calls += 1
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("the database is down")
        if any(m.message_id == message.message_id for m in self.seen):
            return  # at-least-once delivery: idempotent by messageId
        self.seen.append(message)
        if message.message_type is MessageType.REQUEST:
            answer = b"<echo>" + (message.payload or b"") + b"</echo>"
            await ctx.outbox.send(
                self.participant_id,
                Outgoing(MessageType.RESPONSE, message.service_id, answer, correlation_id=message.message_id),
                scope=message.scope,
            )
        self.answered.set()


@dataclass
class Endpoint:
    """A participant's IAsyncChannelClient endpoint: ``script`` says, call by call, "ok" or "fail" (then ``default``)."""

    script: list[str] = field(default_factory=list)
    default: str = "ok"
    calls: list[AsyncCall] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    server: TestServer | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        validate_async_body(body, client=True)  # what SHEP sends is valid against IAsyncChannelClient.xsd
        call = read_client_request(body, request.headers.get("Content-Type"))
        self.bodies.append(body)
        self.calls.append(call)
        self.changed.set()
        behaviour = self.script.pop(0) if self.script else self.default
        now: datetime = GATEWAY_NOW
        if behaviour == "fail":
            fault = write_async_fault(ErrorInfo("BUSY", "try later", now), FaultKind.SERVER, call.operation)
            return web.Response(status=500, body=fault, content_type="text/xml")
        if call.operation is Operation.SEND_MESSAGE:
            info = call.request.info
            reply = write_send_message_response(
                SendMessageResponse(info.message_id or "", info.correlation_id or "", now), namespace=ns.ASYNC_CLIENT
            )
        else:
            reply = write_change_status_response(ChangeStatusNotifyResponse(now, "{00000000-0000-4000-8000-000000000000}"))
        return web.Response(status=200, body=reply, content_type="text/xml")

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/shep-client/", self.handle)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return str(self.server.make_url("/shep-client/"))

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    def pushes(self) -> list[AsyncCall]:
        return [c for c in self.calls if c.operation is Operation.SEND_MESSAGE]

    def notifications(self) -> list[MessageState]:
        return [c.request.notification.state for c in self.calls if c.operation is Operation.CHANGE_STATUS_NOTIFICATION]


def app_factory(settings, session_pki, app_client):
    """For a ``make_app`` fixture: ``await make_app(inside_participants, loop=..., **async_channel)`` → (gateway,
    aiohttp test client); outside participants go in ``participants=[{...}]`` (async_channel.participants)."""

    async def make(inside=(), loop=False, **cfg):
        s = load_settings(
            data_dir=settings.data_dir, senders=SENDERS,
            async_channel={"delivery_loop": loop, "backoff_base": 1, "backoff_max": 8, **cfg},
        )  # fmt: skip
        gw = build_gateway(s, clock=FixedClock(GATEWAY_NOW), pki=session_pki, participants=inside)
        client = await app_client(create_app(gw))
        return gw, client

    return make


def shep(client, sender="shlyuz-demo", password="demo-password") -> CheckedClient:
    return CheckedClient(str(client.make_url("/bip-async/")), sender, password, client.session,
                         clock=FixedClock(GATEWAY_NOW))  # fmt: skip


