"""The transport faults at the HTTP edge, after the exchange is journaled: hold then close (timeout), abort the
connection (reset), or send something else than the reply (malformed, truncated)."""

from __future__ import annotations

import asyncio
import socket
import struct

from aiohttp import web

from shlyuz.faults.model import (
    TRANSPORT_KINDS,
    Decision,
    MalformedFault,
    TimeoutFault,
    TruncatedFault,
    wire_body,
)


def transport(decision: Decision | None) -> bool:
    return decision is not None and decision.kind in TRANSPORT_KINDS


def wire(decision: Decision, body: bytes) -> bytes:
    """What goes on the wire (and in the journal) for a malformed or truncated reply; ``body`` otherwise."""
    if isinstance(decision.fault, (MalformedFault, TruncatedFault)):
        return wire_body(decision.fault, body)
    return body


def _abort(request: web.Request, *, rst: bool) -> None:
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if rst and sock is not None:
        try:  # linger 0: close() sends RST instead of FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()


async def _hold(request: web.Request, seconds: float, step: float = 0.5) -> None:
    """Wait ``seconds``, or less if the client goes away first (its connection closed: nothing left to hold)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while (left := until - loop.time()) > 0:
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(min(step, left))


async def deliver(request: web.Request, decision: Decision, status: int, body: bytes, headers: dict[str, str]) -> web.StreamResponse:
    """Send (or not) the reply of an exchange a transport fault fired on."""
    fault = decision.fault
    if isinstance(fault, TimeoutFault):
        await _hold(request, fault.seconds)
        _abort(request, rst=False)
        return _Dropped()
    if decision.kind == "reset":
        _abort(request, rst=True)
        return _Dropped()
    if isinstance(fault, (MalformedFault, TruncatedFault)):
        return web.Response(body=wire(decision, body), status=status, headers=headers)
    return web.Response(body=body, status=status, headers=headers)


class _Dropped(web.Response):
    """The reply to a connection already closed: aiohttp's attempt to write it finds the transport gone."""

    def __init__(self) -> None:
        super().__init__(status=200)


async def recorded(records, verdict: dict | None) -> Decision | None:
    """The transport fault an exchange's ``verdicts["fault"]`` names, from the session's rules (the AsyncChannel's
    edge, whose outcome carries only the verdicts); None when there is none or the rule is gone."""
    if not verdict or verdict.get("kind") not in TRANSPORT_KINDS or records is None:
        return None
    from shlyuz.faults import store
    from shlyuz.gateway.sessions import CURRENT_SCOPE

    rule = await store.find(records, CURRENT_SCOPE.get(), str(verdict.get("id")))
    return Decision(rule.id, rule.fault) if rule is not None and rule.fault.kind in TRANSPORT_KINDS else None
