"""Pluggable systems, end to end over HTTP: a serviceId routed to an external SHEP SyncChannel implementation.

The upstream is a second shlyuz gateway (its own journal, the same test PKI) served on 127.0.0.1; a middleware on it
lets a test make it misbehave (tamper, hang, answer garbage, oversize). The front gateway forwards GBD FL's serviceId
there; the client talks to the front only. Every reply the client gets is validated against the SHEP v10 XSDs.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from conftest import GATEWAY_NOW, PAYLOAD_XSDS
from lxml import etree
from xsdcheck import validate_sync_body

from shlyuz.client import SendMessage, payload
from shlyuz.clock import FixedClock
from shlyuz.config import ExternalSystemSettings, load_settings
from shlyuz.dsig.enveloped import verify_enveloped
from shlyuz.dsig.signer import signer_for
from shlyuz.errors import ErrorCode
from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.gateway.app import Gateway, build_gateway, create_app
from shlyuz.shep import ns
from shlyuz.shep.events import DataKind, Status, SyncResponse
from shlyuz.shep.reader import payload_root
from shlyuz.shep.responses import Fault, read_sync_reply
from shlyuz.storage.base import JournalQuery
from shlyuz.systems.base import ServiceRegistry
from shlyuz.systems.enis import EnisSystem
from shlyuz.systems.external import ExternalSystem
from shlyuz.systems.gbdfl import GbdflSystem

GBDFL = "GBDFL_UniversalServiceSync"
APPLICANT = DEMO_IINS["applicant"]
DS_SIGNATURE = f"{{{ns.DS}}}Signature"

Behaviour = Callable[[web.Request, Any], Awaitable[web.StreamResponse]]


def gbdfl(**fields: str) -> etree._Element:
    return payload(
        ns.GBDFL_MESSAGE,
        "Request",
        {"messageId": "1", "senderCode": "shlyuz-demo", **fields},
    )


class Upstream:
    """A shlyuz gateway serving as somebody's own GBD FL; ``behaviour`` (when set) answers instead of it or around it."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.app = create_app(gateway)
        self.app.middlewares.append(self._intercept)
        self.behaviour: Behaviour | None = None
        self.posts = 0
        self.server = TestServer(self.app, host="127.0.0.1")

    @web.middleware
    async def _intercept(self, request: web.Request, handler):
        if request.method == "POST":
            self.posts += 1
        if self.behaviour is not None:
            return await self.behaviour(request, handler)
        return await handler(request)

    def url(self, path: str = "/bip-sync/") -> str:
        return f"http://127.0.0.1:{self.server.port}{path}"

    async def journal(self) -> list[dict[str, Any]]:
        records = await self.gateway.storage.query_exchanges(JournalQuery())
        return [r.to_json() for r in records]

    async def received(self) -> list[bytes]:
        """The request bodies this upstream got, as its own journal holds them, oldest first."""
        return [e["request"].encode() for e in reversed(await self.journal())]


class Front:
    """The gateway the client talks to; ``post`` validates every SOAP reply against the SHEP v10 XSDs."""

    def __init__(self, gateway: Gateway, client: TestClient) -> None:
        self.gateway, self.client = gateway, client

    async def post(self, msg: SendMessage | bytes, path: str = "/bip-sync/") -> tuple[int, bytes, SyncResponse | Fault]:
        body = msg if isinstance(msg, bytes) else msg.to_bytes()
        resp = await self.client.post(path, data=body, headers={"Content-Type": "text/xml; charset=utf-8"})
        raw = await resp.read()
        validate_sync_body(raw, extra_xsds=list(PAYLOAD_XSDS))
        return resp.status, raw, read_sync_reply(raw)

    async def ok(self, msg: SendMessage | bytes) -> SyncResponse:
        status, raw, parsed = await self.post(msg)
        assert status == 200, raw
        assert isinstance(parsed, SyncResponse)
        return parsed

    async def fault(self, msg: SendMessage | bytes, code: str) -> Fault:
        status, raw, parsed = await self.post(msg)
        assert status == 500, raw
        assert isinstance(parsed, Fault) and parsed.error is not None, raw
        assert parsed.error.error_code == code, parsed
        assert b"Traceback" not in raw
        return parsed

    async def journal(self, **query: str) -> list[dict[str, Any]]:
        resp = await self.client.get("/__admin/journal", params=query)
        assert resp.status == 200
        return (await resp.json())["exchanges"]

    async def exchange(self, session_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The client's exchange and the upstream leg, both journaled under the client's sessionId."""
        entries = await self.journal(sessionId=session_id)
        client = [e for e in entries if e["endpoint"] == "/bip-sync/"]
        leg = [e for e in entries if e["endpoint"].startswith("http://")]
        assert len(client) == 1 and len(leg) == 1, entries
        return client[0], leg[0]


@pytest.fixture
async def env(tmp_path, settings, session_pki):
    """``await env.upstream(**settings)`` and ``await env.front(**external settings)``; all closed after the test."""
    started: list[Any] = []

    class Env:
        async def upstream(self, registry: ServiceRegistry | None = None, **overrides: Any) -> Upstream:
            upstream_settings = load_settings(data_dir=tmp_path / f"upstream{len(started)}", **overrides)
            gw = build_gateway(
                upstream_settings,
                clock=FixedClock(GATEWAY_NOW),
                pki=session_pki,
                registry=registry,
            )
            up = Upstream(gw)
            await up.server.start_server()
            started.append(up.server)
            return up

        async def front(self, url: str, service_id: str = GBDFL, **external: Any) -> Front:
            settings.systems.external[service_id] = ExternalSystemSettings(url=url, **external)
            gw = build_gateway(settings, clock=FixedClock(GATEWAY_NOW), pki=session_pki)
            client = TestClient(TestServer(create_app(gw), host="127.0.0.1"))
            await client.start_server()
            started.append(client)
            return Front(gw, client)

        async def direct(self) -> Front:
            """A front gateway with the built-in GBD FL (no external system): the reference behaviour."""
            gw = build_gateway(
                load_settings(data_dir=tmp_path / "direct"),
                clock=FixedClock(GATEWAY_NOW),
                pki=session_pki,
            )
            client = TestClient(TestServer(create_app(gw), host="127.0.0.1"))
            await client.start_server()
            started.append(client)
            return Front(gw, client)

    yield Env()
    for item in reversed(started):
        await item.close()


def data_signature(resp: SyncResponse):
    root = payload_root(resp.payload)
    assert root is not None and any(c.tag == DS_SIGNATURE for c in root)
    return verify_enveloped(root)


# --- the happy path ------------------------------------------------------------------------------------------------


async def test_forwarded_to_upstream_signed_reply_reaches_client_and_journal_has_both_legs(env, session_pki):
    upstream = await env.upstream()
    front = await env.front(upstream.url(), require_signature=True)
    assert isinstance(front.gateway.registry.get(GBDFL), ExternalSystem)
    assert isinstance(front.gateway.registry.get("GBDFLUniversal_token"), GbdflSystem)  # only the configured one
    msg = SendMessage(
        GBDFL,
        gbdfl(iin=APPLICANT),
        correlation_id="corr-7",
        properties=[("channel", "test")],
    )
    resp = await front.ok(msg)
    assert resp.status is Status.SUCCESS and resp.correlation_id == "corr-7"
    assert APPLICANT in etree.tostring(resp.payload, encoding="unicode")
    # the upstream's own data signature reaches the client intact: the client can verify GBD FL's certificate
    assert data_signature(resp).certificate == session_pki.identity("system/GBDFL").cert

    # what the upstream got: the same requestInfo, the same data
    [forwarded] = await upstream.received()
    fwd = etree.fromstring(forwarded)
    info = fwd.find(f".//{{{ns.SYNC_TYPES}}}SendMessage/request/requestInfo")
    assert info.findtext("messageId") == msg.message_id and info.findtext("correlationId") == "corr-7"
    assert info.findtext("serviceId") == GBDFL and info.findtext("sender/senderId") == "shlyuz-demo"
    assert (info.findtext("properties/key"), info.findtext("properties/value")) == (
        "channel",
        "test",
    )
    assert fwd.find(".//requestData/data/iin").text == APPLICANT

    client, leg = await front.exchange(resp.session_id)
    verdict = client["verdicts"]["system"]["upstream"]
    assert verdict["url"] == upstream.url() and verdict["httpStatus"] == 200 and verdict["status"] == "SCSS001"
    data = verdict["signature"]["data"]
    assert signed_by(data, session_pki, "system/GBDFL"), data
    assert verdict["signature"]["wsse"] == "absent"
    assert client["outcome"] == "SCSS001" and leg["outcome"] == "SCSS001"
    assert leg["endpoint"] == upstream.url() and leg["http_status"] == 200
    assert leg["request"].encode() == forwarded  # the bytes sent upstream
    assert leg["response_message_id"] == verdict["messageId"]
    assert "<ds:Signature" in leg["response"] or "Signature" in leg["response"]
    # and the upstream journaled the exchange on its side, under the original messageId
    [theirs] = await upstream.journal()
    assert theirs["message_id"] == msg.message_id and theirs["outcome"] == "SCSS001"


def signed_by(verdict: dict[str, Any], pki, name: str) -> bool:
    """The journal's certificate verdict names the PKI identity ``name`` (by its serial number)."""
    serial = pki.identity(name).cert.serial_number
    return verdict["verified"] is True and verdict["serial"] in (
        serial,
        f"{serial:X}",
        f"{serial:x}",
        str(serial),
    )


async def test_escaped_payload_is_forwarded_escaped_and_answered_in_kind(env):
    upstream = await env.upstream()
    front = await env.front(upstream.url(), require_signature=True)
    resp = await front.ok(SendMessage(GBDFL, gbdfl(iin=APPLICANT), escaped=True))
    assert resp.status is Status.SUCCESS and resp.data_kind is DataKind.STRING
    [forwarded] = await upstream.received()
    assert b'xsi:type="xs:string"' in forwarded and b"&lt;" in forwarded
    assert data_signature(resp).certificate is not None


async def test_client_data_signature_is_forwarded_intact_and_verified_upstream(env, session_pki):
    upstream = await env.upstream()
    front = await env.front(upstream.url())
    signer = signer_for(session_pki, f"person/{APPLICANT}/sign")
    resp = await front.ok(SendMessage(GBDFL, gbdfl(iin=APPLICANT), data_signer=signer))
    assert resp.status is Status.SUCCESS
    [theirs] = await upstream.journal()
    assert theirs["verdicts"]["signature"]["data"]["verified"] is True  # verified by the upstream shlyuz
    assert theirs["verdicts"]["signature"]["data"]["iin"] == APPLICANT


async def test_sign_requests_adds_the_gateway_ws_security_signature(env, session_pki):
    upstream = await env.upstream()
    # the upstream's WS-Security endpoint refuses an unsigned request: the gateway's signature is what lets it in
    front = await env.front(upstream.url("/bip-sync-wss-gost/"), sign_requests=True, require_signature=True)
    resp = await front.ok(SendMessage(GBDFL, gbdfl(iin=APPLICANT)))
    assert resp.status is Status.SUCCESS
    [theirs] = await upstream.journal()
    assert signed_by(theirs["verdicts"]["signature"]["wsse"], session_pki, "gateway")
    # the upstream signed its reply with WS-Security (its wss endpoint does): verified by the front too
    client, _ = await front.exchange(resp.session_id)
    assert client["verdicts"]["system"]["upstream"]["signature"]["wsse"]["verified"] is True


async def test_upstream_business_failure_passes_through_with_its_message(env):
    upstream = await env.upstream()
    front = await env.front(upstream.url(), require_signature=True)
    resp = await front.ok(SendMessage(GBDFL, gbdfl(iin="900101300008")))  # bad checksum
    assert resp.status is Status.FAILURE and "checksum" in resp.status_message.lower()
    client, leg = await front.exchange(resp.session_id)
    assert client["outcome"] == "SCSE001" and leg["outcome"] == "SCSE001"
    assert client["verdicts"]["system"]["message"] == resp.status_message


# --- the upstream's signature --------------------------------------------------------------------------------------


async def test_tampered_upstream_payload_is_refused(env):
    upstream = await env.upstream()
    birth = env_person_birth(upstream)

    async def tamper(request, handler):
        resp = await handler(request)
        return web.Response(body=resp.body.replace(birth.encode(), b"1999-09-09"), status=resp.status,
                            content_type="text/xml", charset="utf-8")  # fmt: skip

    upstream.behaviour = tamper
    for require in (
        True,
        False,
    ):  # a signature that is there is always checked, required or not
        front = await env.front(upstream.url(), require_signature=require)
        f = await front.fault(SendMessage(GBDFL, gbdfl(iin=APPLICANT)), "UPSTREAM_SIGNATURE_INVALID")
        assert f.error.error_data == "SIGNATURE_INVALID"
        assert upstream.url() in f.error.error_message and "digest" in f.error.error_message.lower()
        client, leg = await front.exchange(f.error.session_id)
        assert client["outcome"] == leg["outcome"] == "UPSTREAM_SIGNATURE_INVALID"
        assert client["verdicts"]["failed_stage"] == "dispatch"
        assert leg["verdicts"]["upstream"]["error"]["data"] == "SIGNATURE_INVALID"
        assert "1999-09-09" in leg["response"]  # what the upstream really answered is in the journal


def env_person_birth(upstream: Upstream) -> str:
    return upstream.gateway.fixtures.persons[APPLICANT].birth_date.isoformat()


async def test_unsigned_upstream_reply_refused_when_signature_required(env):
    upstream = await env.upstream(systems_sign_data=False)
    front = await env.front(upstream.url(), require_signature=True)
    f = await front.fault(SendMessage(GBDFL, gbdfl(iin=APPLICANT)), "UPSTREAM_SIGNATURE_MISSING")
    assert "no enveloped signature" in f.error.error_message and upstream.url() in f.error.error_message


async def test_unsigned_upstream_reply_accepted_when_not_required_and_journaled_as_absent(
    env,
):
    upstream = await env.upstream(systems_sign_data=False)
    front = await env.front(upstream.url(), require_signature=False)
    resp = await front.ok(SendMessage(GBDFL, gbdfl(iin=APPLICANT)))
    assert resp.status is Status.SUCCESS
    client, _ = await front.exchange(resp.session_id)
    assert client["verdicts"]["system"]["upstream"]["signature"] == {
        "wsse": "absent",
        "data": "absent",
    }


class UntrustedGbdfl(GbdflSystem):
    signing_identity = "bad/untrusted"  # a SIGN certificate of a CA the front does not trust


async def test_upstream_signed_outside_the_trust_is_refused(env):
    registry = ServiceRegistry()
    registry.register(UntrustedGbdfl())
    registry.register(EnisSystem())
    upstream = await env.upstream(registry=registry)
    front = await env.front(upstream.url())
    f = await front.fault(SendMessage(GBDFL, gbdfl(iin=APPLICANT)), "UPSTREAM_SIGNATURE_INVALID")
    assert f.error.error_data == "CERT_UNTRUSTED" and "does not chain to a trusted CA" in f.error.error_message


async def test_upstream_signed_by_the_integrators_ca_is_accepted_once_trusted(env, settings, tmp_path):
    """The integrator's own CA (with its own OCSP responder), trusted with pki.trust_ca / --trust-ca."""
    from certs import make_ca, make_root
    from test_gateway_revocation import (  # the integrator CA of the revocation tests
        Responder,
        leaf_with_ocsp,
    )

    from shlyuz.dsig.signer import Signer

    root = make_root("INTEGRATOR TEST ROOT")
    ca = make_ca(root, "INTEGRATOR TEST CA")
    responder = Responder(ca)
    await responder.server.start_server()
    try:
        leaf = leaf_with_ocsp(ca, responder.url)
        signer = Signer(key=leaf.key, cert=leaf.cert, name="integrator")
        upstream = await env.upstream(systems_sign_data=False)

        async def sign_with_own_key(request, handler):  # the integrator's system signs its data with its own key
            resp = await handler(request)
            envelope = etree.fromstring(resp.body)
            signer.data(envelope.find(".//responseData/data"))
            return web.Response(body=etree.tostring(envelope, xml_declaration=True, encoding="utf-8"),
                                status=resp.status, content_type="text/xml", charset="utf-8")  # fmt: skip

        upstream.behaviour = sign_with_own_key
        front = await env.front(upstream.url(), require_signature=True)
        f = await front.fault(SendMessage(GBDFL, gbdfl(iin=APPLICANT)), "UPSTREAM_SIGNATURE_INVALID")
        assert f.error.error_data == "CERT_UNTRUSTED"
        await front.client.close()

        trust = tmp_path / "integrator-ca.pem"
        trust.write_bytes(root.cert_pem() + ca.cert_pem())
        settings.pki.trust_ca = [trust]
        front = await env.front(upstream.url(), require_signature=True)
        resp = await front.ok(SendMessage(GBDFL, gbdfl(iin=APPLICANT)))
        assert resp.status is Status.SUCCESS and data_signature(resp).certificate == leaf.cert
        client, _ = await front.exchange(resp.session_id)
        data = client["verdicts"]["system"]["upstream"]["signature"]["data"]
        assert data["verified"] is True and data["revocation"] == "ocsp" and "INTEGRATOR TEST CA" in data["issuer"]
        assert responder.hits == 1
    finally:
        await responder.server.close()


# --- the upstream failing ------------------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when this returns: nothing listens there


async def test_upstream_down(env):
    url = f"http://127.0.0.1:{closed_port()}/bip-sync/"
    front = await env.front(url)
    f = await front.fault(SendMessage(GBDFL, gbdfl(iin=APPLICANT)), "UPSTREAM_UNAVAILABLE")
    assert url in f.error.error_message and "unreachable" in f.error.error_message
    client, leg = await front.exchange(f.error.session_id)
    assert leg["http_status"] == 0 and leg["response"] is None and leg["request"]
    assert client["verdicts"]["error"]["code"] == "UPSTREAM_UNAVAILABLE"


async def test_upstream_slow_times_out(env):
    upstream = await env.upstream()
    entered, never = asyncio.Event(), asyncio.Event()

    async def hang(request, handler):
        entered.set()
        await never.wait()  # never set: the upstream does not answer
        return await handler(request)

    upstream.behaviour = hang
    front = await env.front(upstream.url(), timeout=0.2)
    f = await front.fault(SendMessage(GBDFL, gbdfl(iin=APPLICANT)), "UPSTREAM_TIMEOUT")
    assert entered.is_set()
    assert "did not answer within 0.2 s" in f.error.error_message


async def test_upstream_dropping_the_connection(env):
    upstream = await env.upstream()

    async def drop(request, handler):
        assert request.transport is not None
        request.transport.close()  # gone without a word
        return web.Response(text="never sent")

    upstream.behaviour = drop
    front = await env.front(upstream.url())
    f = await front.fault(SendMessage(GBDFL, gbdfl(iin=APPLICANT)), "UPSTREAM_UNAVAILABLE")
    assert "closed the connection before a complete reply" in f.error.error_message


@pytest.mark.parametrize(
    ("answer", "code", "data", "says"),
    [
        (
            lambda: web.Response(text="this is not XML", content_type="text/xml"),
            "UPSTREAM_BAD_RESPONSE",
            "MALFORMED_XML",
            "not a SyncChannel reply",
        ),
        (
            lambda: web.Response(text="<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", content_type="text/xml"),
            "UPSTREAM_BAD_RESPONSE",
            "XML_DTD_FORBIDDEN",
            "DOCTYPE",
        ),
        (
            lambda: web.Response(text="<html>not found</html>", status=404, content_type="text/html"),
            "UPSTREAM_BAD_RESPONSE",
            None,
            "answered HTTP 404",
        ),
        (
            lambda: web.Response(text="maintenance", status=503),
            "UPSTREAM_UNAVAILABLE",
            None,
            "answered HTTP 503",
        ),
        (
            lambda: web.Response(text="<a/>", content_type="text/xml"),
            "UPSTREAM_BAD_RESPONSE",
            "NOT_SOAP_ENVELOPE",
            "not a SyncChannel reply",
        ),
        (
            lambda: web.Response(status=302, headers={"Location": "http://127.0.0.1:9/elsewhere"}),
            "UPSTREAM_BAD_RESPONSE",
            None,
            "answered HTTP 302",
        ),
    ],
    ids=["garbage", "doctype", "http-404", "http-503", "not-soap", "redirect"],
)
async def test_upstream_garbage(env, answer, code, data, says):
    upstream = await env.upstream()

    async def garbage(request, handler):
        return answer()

    upstream.behaviour = garbage
    front = await env.front(upstream.url())
    f = await front.fault(SendMessage(GBDFL, gbdfl(iin=APPLICANT)), code)
    assert f.error.error_data == data and says in f.error.error_message and upstream.url() in f.error.error_message


async def test_upstream_unknown_status_code_and_fault_with_http_200_are_bad_responses(
    env,
):
    upstream = await env.upstream()

    async def wrong_code(request, handler):
        resp = await handler(request)
        return web.Response(
            body=resp.body.replace(b"SCSS001", b"SCSS999"),
            status=200,
            content_type="text/xml",
        )

    upstream.behaviour = wrong_code
    front = await env.front(upstream.url())
    f = await front.fault(SendMessage(GBDFL, gbdfl(iin=APPLICANT)), "UPSTREAM_BAD_RESPONSE")
    assert "status code 'SCSS999'" in f.error.error_message

    async def fault_as_200(request, handler):
        resp = await handler(request)
        return web.Response(body=resp.body, status=200, content_type="text/xml")

    upstream.behaviour = fault_as_200
    front = await env.front(upstream.url(), sender_id="shlyuz-demo", password="wrong")  # refused upstream
    f = await front.fault(SendMessage(GBDFL, gbdfl(iin=APPLICANT)), "UPSTREAM_BAD_RESPONSE")
    assert "SOAP fault with HTTP 200" in f.error.error_message and "AUTH_FAILED" in f.error.error_message


async def test_upstream_fault_is_passed_on_naming_the_upstream(env):
    upstream = await env.upstream()
    # the upstream does not know the senderId the gateway presents: it answers its own fault
    front = await env.front(upstream.url(), sender_id="NOBODY_UPSTREAM", password="x")
    f = await front.fault(SendMessage(GBDFL, gbdfl(iin=APPLICANT)), "UPSTREAM_FAULT")
    assert f.error.error_data == "SENDER_UNKNOWN"
    assert f.error.error_message.startswith(
        f"upstream {GBDFL} at {upstream.url()} answered a fault: soap:Client SENDER_UNKNOWN"
    )
    [theirs] = await upstream.journal()
    assert theirs["sender_id"] == "NOBODY_UPSTREAM" and theirs["outcome"] == "SENDER_UNKNOWN"
    _, leg = await front.exchange(f.error.session_id)
    assert leg["http_status"] == 500 and "SENDER_UNKNOWN" in leg["response"]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_upstream_oversized_reply(env, chunked):
    upstream = await env.upstream()
    big = b"<x>" + b"a" * 8000 + b"</x>"

    async def oversized(request, handler):
        if not chunked:
            return web.Response(body=big, content_type="text/xml")
        resp = web.StreamResponse(headers={"Content-Type": "text/xml"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(0, len(big), 1000):
            await resp.write(big[i : i + 1000])
        await resp.write_eof()
        return resp

    upstream.behaviour = oversized
    front = await env.front(upstream.url(), max_response_bytes=4096)
    f = await front.fault(SendMessage(GBDFL, gbdfl(iin=APPLICANT)), "UPSTREAM_RESPONSE_TOO_LARGE")
    assert "4096" in f.error.error_message
    assert ("announced a 8007-byte reply" in f.error.error_message) is (not chunked)


# --- GBD FL's core cases: identical through the external path, except for the journal's verdict --------------------

CORE_CASES = {
    "by-iin": lambda p: SendMessage(GBDFL, gbdfl(iin=p.iin), correlation_id="corr-42", message_id="m-1"),
    "by-name": lambda p: SendMessage(GBDFL, gbdfl(surname=p.surname, name=p.name, birthDate=p.birth_date.isoformat()),
                                     message_id="m-2"),
    "by-document": lambda p: SendMessage(GBDFL, gbdfl(documentNumber=p.documents[0].number), message_id="m-3"),
    "not-found": lambda p: SendMessage(GBDFL, gbdfl(iin="000201500015"), message_id="m-4"),
    "bad-iin": lambda p: SendMessage(GBDFL, gbdfl(iin="900101300008"), message_id="m-5"),
    "escaped": lambda p: SendMessage(GBDFL, gbdfl(iin=p.iin), escaped=True, message_id="m-6"),
    "no-criteria": lambda p: SendMessage(GBDFL, gbdfl(), message_id="m-7"),
}  # fmt: skip


def comparable(resp: SyncResponse) -> tuple:
    """The reply without what differs per exchange: ids, the signature (over those ids)."""
    root = etree.fromstring(etree.tostring(payload_root(resp.payload)))
    for sig in root.findall(DS_SIGNATURE):
        root.remove(sig)
    for el in root.iter("messageId"):
        el.text = "*"
    return (resp.status, resp.status_message, resp.correlation_id, resp.data_kind,
            etree.tostring(root, method="c14n"))  # fmt: skip


@pytest.mark.parametrize("case", list(CORE_CASES))
async def test_gbdfl_core_cases_identical_through_external_path(env, case):
    direct = await env.direct()
    upstream = await env.upstream()
    front = await env.front(upstream.url(), require_signature=True)
    person = direct.gateway.fixtures.persons[APPLICANT]
    expected = await direct.ok(CORE_CASES[case](person))
    got = await front.ok(CORE_CASES[case](person))
    assert comparable(got) == comparable(expected)
    assert data_signature(got).certificate == data_signature(expected).certificate  # GBD FL's own, both ways
    direct_entry = (await direct.journal(sessionId=expected.session_id))[0]
    client, _ = await front.exchange(got.session_id)
    assert client["outcome"] == direct_entry["outcome"]
    # the journal's verdict is where they differ: the built-in system's own vs the upstream's
    assert "upstream" in client["verdicts"]["system"] and "upstream" not in direct_entry["verdicts"]["system"]
    assert client["verdicts"]["system"]["upstream"]["signature"]["data"]["verified"] is True


async def test_other_service_ids_stay_with_the_mocks(env):
    upstream = await env.upstream()
    front = await env.front(upstream.url())
    body = payload(
        ns.ENIS_POA,
        "PoaCheckRequest",
        {"messageId": "1", "senderCode": "x", "poaNumber": "none"},
    )
    await front.post(SendMessage("ENIS_POA_CHECK", body))
    assert upstream.posts == 0


# --- configuration --------------------------------------------------------------------------------------------------


def test_require_signature_without_pki_is_a_config_error(tmp_path):
    from shlyuz.config import ConfigError

    s = load_settings(data_dir=tmp_path, pki={"enabled": False},
                      systems={"external": {GBDFL: {"url": "http://127.0.0.1:9/bip-sync/", "require_signature": True}}})  # fmt: skip
    with pytest.raises(ConfigError, match="require_signature needs pki.enabled"):
        build_gateway(s)


def test_upstream_cli_flag_and_environment(tmp_path, monkeypatch):
    import argparse

    from shlyuz.commands import serve
    from shlyuz.config import ConfigError

    monkeypatch.setenv(
        "SHLYUZ_SYSTEMS__EXTERNAL",
        f'{{"{GBDFL}": {{"url": "http://a.test/x", "timeout": 3}}}}',
    )
    parser = argparse.ArgumentParser()
    serve.register(parser.add_subparsers())
    args = parser.parse_args(["serve", "--data-dir", str(tmp_path), "--upstream", f"{GBDFL}=http://127.0.0.1:9000/bip-sync/",
                              "--upstream", "ENIS_POA_CHECK=https://enis.test/sync"])  # fmt: skip
    external = serve.settings_from_args(args).systems.external
    assert external[GBDFL].url == "http://127.0.0.1:9000/bip-sync/" and external[GBDFL].timeout == 3  # env kept
    assert external["ENIS_POA_CHECK"].url == "https://enis.test/sync"
    for bad, says in (
        ("GBDFL", "expected SERVICE_ID=URL"),
        ("X=ftp://host/", "not an absolute http"),
    ):
        with pytest.raises(ConfigError, match=says):
            serve.settings_from_args(parser.parse_args(["serve", "--upstream", bad]))
    assert ErrorCode.UPSTREAM_FAULT.kind.value == "Server"


async def test_a_service_id_no_mock_serves_can_be_external(env):
    upstream = await env.upstream()
    front = await env.front(upstream.url(), service_id="MY_OWN_SERVICE")
    assert front.gateway.registry.get("MY_OWN_SERVICE") is not None
    f = await front.fault(SendMessage("MY_OWN_SERVICE", gbdfl(iin=APPLICANT)), "UPSTREAM_FAULT")
    assert f.error.error_data == "SERVICE_NOT_FOUND" and upstream.posts == 1  # routed there; the upstream has no such
