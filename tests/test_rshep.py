"""АРМ РШЭП: State Corporation documents registered into the provider inbox (every refusal branch), and the inbox
JSON API driven over HTTP — login, list, show, take, decide — with the signed RESPONSE sent through a fake Outbox,
hostile JSON answered with precise codes, and the automatic provider's default rules."""

from __future__ import annotations

import pytest
from aiohttp import web
from conftest import GATEWAY_NOW, REPO
from egovkit import (
    APPLICANT,
    ATTORNEY,
    DEC_XSD,
    PROVIDER_BIN,
    PROVIDER_HEAD,
    FakeOutbox,
    application,
    context,
    request,
    validate,
    verifier,
)  # fmt: skip
from lxml import etree

from shlyuz.config import ProviderRule, ProviderSettings
from shlyuz.dsig.signer import signer_for
from shlyuz.egov.documents import (
    Applicant,
    Representative,
    build_application,
    parse_decision,
    to_bytes,
    verify_document,
)
from shlyuz.egov.notification import parse_notification
from shlyuz.systems import rshep
from shlyuz.systems.participants import MessageType
from shlyuz.systems.rshep_inbox import INBOX
from shlyuz.workstations import rshep_api

SC_BIN, OPERATOR = "160941360814", "890512397971"
SPECIALIST, OTHER = "820731486029", "940731388182"  # provider employees
SIGNERS = (f"org/{PROVIDER_BIN}/{PROVIDER_HEAD}/sign", "system/ESOBES", "system/ELICENSING", "system/ARM-RSHEP")


def sc_app(**kw):
    kw = {"service": "child-allowance", "channel": "state-corp", **kw}
    return application(**kw)


def signed(pki, app, identity: str = f"org/{SC_BIN}/{OPERATOR}/sign") -> bytes:
    return to_bytes(signer_for(pki, identity).data(build_application(app)))


def systems(settings, pki, provider: ProviderSettings | None = None):
    return rshep.participants(verifier=verifier(settings, pki), provider=provider or ProviderSettings(),
                              fixture_dirs=[REPO / "fixtures"])  # fmt: skip


def note(outbox: FakeOutbox):
    return parse_notification(outbox.of(MessageType.NOTIFICATION)[-1].payload)


async def test_state_corporation_document_is_registered(settings, session_pki, tmp_path) -> None:
    outbox, arm = FakeOutbox(), systems(settings, session_pki)["arm-rshep"]
    async with context(tmp_path, session_pki, outbox, SIGNERS) as ctx:
        await arm.on_message(request(signed(session_pki, sc_app()), "RSHEP_DOCUMENT", "sc-1", sender="arm-con"), ctx)
        n = note(outbox)
        assert (n.status, n.application_number, n.system) == ("registered", "RSH-2026-000001", "arm-rshep")
        item = (await ctx.records.get(INBOX, "RSH-2026-000001")).data
        assert (item["operatorIin"], item["operatorBin"], item["requestSender"]) == (OPERATOR, SC_BIN, "arm-con")
        # a representative under a PoA certified otherwise than by a notary: its data are not checked in ENIS
        rep = Representative(iin=ATTORNEY, poa_number="ДОВ-2025-000004", notarised=False)
        app = sc_app(applicant=Applicant(iin="930808300016"), representative=rep)
        await arm.on_message(request(signed(session_pki, app), "RSHEP_DOCUMENT", "sc-2", sender="arm-con"), ctx)
        assert note(outbox).status == "registered"


NOTARISED = Representative(iin=ATTORNEY, poa_number="ДОВ-2025-000001", notarised=True)


@pytest.mark.parametrize(
    ("app", "identity", "code"),
    [
        (sc_app(), f"person/{APPLICANT}/sign", "SIGNER_NOT_OPERATOR"),
        (sc_app(), f"org/{PROVIDER_BIN}/{SPECIALIST}/sign", "SIGNER_NOT_OPERATOR"),
        (sc_app(channel="portal"), None, "CHANNEL_MISMATCH"),
        (sc_app(service="no-such-service"), None, "SERVICE_UNKNOWN"),
        (sc_app(service="foreign-labour-permits"), None, "SERVICE_UNKNOWN"),
        (sc_app(applicant=Applicant(iin="900101300025")), None, "APPLICANT_UNKNOWN"),
        (sc_app(applicant=Applicant(bin="140840234886", signer_iin=OPERATOR)), None, "APPLICANT_NOT_PERSON"),
        (sc_app(applicant=Applicant(iin="750930400018"), representative=NOTARISED), "bad/expired", "CERT_EXPIRED"),
        (sc_app(applicant=Applicant(iin="900101300017"),
                representative=NOTARISED.model_copy(update={"poa_number": "ДОВ-2023-000002"})), None, "POA_EXPIRED"),
        (sc_app(applicant=Applicant(iin="840412400010"),
                representative=NOTARISED.model_copy(update={"poa_number": "ДОВ-2025-000003"})), None, "POA_REVOKED"),
    ],
    ids=["person-signer", "provider-signer", "portal-channel", "unknown-service", "elicensing-service",
         "unknown-applicant", "employer", "expired-cert", "poa-expired", "poa-revoked"],
)  # fmt: skip
async def test_state_corporation_refusals(settings, session_pki, tmp_path, app, identity, code) -> None:
    outbox, arm = FakeOutbox(), systems(settings, session_pki)["arm-rshep"]
    async with context(tmp_path, session_pki, outbox, SIGNERS) as ctx:
        payload = signed(session_pki, app, identity) if identity else signed(session_pki, app)
        await arm.on_message(request(payload, "RSHEP_DOCUMENT", "sc-x", sender="arm-con"), ctx)
        assert (note(outbox).status, note(outbox).reason.code) == ("rejected", code), note(outbox).reason.text


async def test_valid_notarised_poa_is_accepted_and_default_rules_refuse_the_deceased(settings, session_pki, tmp_path) -> None:
    outbox, arm = FakeOutbox(), systems(settings, session_pki)["arm-rshep"]
    async with context(tmp_path, session_pki, outbox, SIGNERS) as ctx:
        app = sc_app(applicant=Applicant(iin="750930400018"), representative=NOTARISED)
        await arm.on_message(request(signed(session_pki, app), "RSHEP_DOCUMENT", "sc-1", sender="arm-con"), ctx)
        assert note(outbox).status == "registered" and outbox.of(MessageType.RESPONSE) == []
        # ДОВ-2024-000005: the principal died 2025-06-10 but the PoA itself is in force → registered, then the
        # default "deceased applicant" rule refuses it with a signed decision
        dead = sc_app(applicant=Applicant(iin="480315300010"),
                      representative=Representative(iin="520216460548", poa_number="ДОВ-2024-000005", notarised=True))
        await arm.on_message(request(signed(session_pki, dead), "RSHEP_DOCUMENT", "sc-2", sender="arm-con"), ctx)
        [resp] = outbox.of(MessageType.RESPONSE)
        dec = parse_decision(resp.payload)
        assert (resp.correlation_id, dec.decision, dec.reason.code) == ("sc-2", "refused", "APPLICANT_DECEASED")


# -- the JSON API over HTTP -----------------------------------------------------------------------------------------


@pytest.fixture
async def desk(settings, session_pki, tmp_path, app_client):
    outbox = FakeOutbox()
    systems_ = systems(settings, session_pki)
    async with context(tmp_path, session_pki, outbox, SIGNERS) as ctx:
        app = web.Application()
        rshep_api.add_routes(app, rshep_api.RshepDesk(systems=systems_, context=lambda: ctx))
        client = await app_client(app)
        yield client, ctx, outbox, systems_


async def login(client, iin: str) -> dict[str, str]:
    resp = await client.post("/rshep/login", json={"iin": iin, "password": f"rshep-{iin}"})
    assert resp.status == 200, await resp.text()
    return {"Authorization": f"Bearer {(await resp.json())['token']}"}


async def error(resp, status: int, code: str, fragment: str = "") -> None:
    body = await resp.json()
    assert resp.status == status, body
    assert body["error"]["code"] == code, body
    assert fragment in body["error"]["message"], body


async def test_inbox_over_http(desk, session_pki, settings) -> None:
    client, ctx, outbox, systems_ = desk
    for i, app in enumerate((sc_app(), sc_app(service="targeted-social-assistance"))):
        await systems_["arm-rshep"].on_message(request(signed(session_pki, app), "RSHEP_DOCUMENT", f"sc-{i}",
                                                       sender="arm-con"), ctx)  # fmt: skip
    me = await login(client, SPECIALIST)
    other = await login(client, OTHER)
    body = await (await client.get("/rshep/me", headers=me)).json()
    assert (body["iin"], body["role"], body["bin"]) == (SPECIALIST, "specialist", PROVIDER_BIN)
    listing = await (await client.get("/rshep/items", headers=me, params={"status": "new"})).json()
    assert [i["number"] for i in listing["items"]] == ["RSH-2026-000001", "RSH-2026-000002"]
    listing = await (await client.get("/rshep/items", headers=me, params={"service": "targeted-social-assistance",
                                                                          "system": "arm-rshep"})).json()  # fmt: skip
    assert listing["count"] == 1 and listing["items"][0]["applicantIin"] == APPLICANT
    item = await (await client.get("/rshep/items/RSH-2026-000001", headers=me)).json()
    assert (item["status"], item["channel"], item["fields"]["schoolYear"]) == ("new", "state-corp", "2025-2026")
    # take, and the other employee cannot take or decide it
    taken = await (await client.post("/rshep/items/RSH-2026-000001/take", headers=me)).json()
    assert (taken["status"], taken["assignee"]) == ("taken", SPECIALIST)
    await error(await client.post("/rshep/items/RSH-2026-000001/take", headers=other), 409, "CONFLICT", "taken by")
    await error(await client.post("/rshep/items/RSH-2026-000001/decide", headers=other, json={"decision": "approve"}),
                403, "FORBIDDEN", "taken by")  # fmt: skip
    # refuse without a motive → invalid; with → decided, RESPONSE sent, decision signed by the head
    await error(await client.post("/rshep/items/RSH-2026-000001/decide", headers=me, json={"decision": "refuse"}),
                400, "INVALID_PARAMETER", "motivated")  # fmt: skip
    resp = await client.post("/rshep/items/RSH-2026-000001/decide", headers=me, json={
        "decision": "refuse", "reasonCode": "DOCUMENTS_INCOMPLETE", "reason": "Нет справки о составе семьи"})
    decided = await resp.json()
    assert resp.status == 200, decided
    assert (decided["status"], decided["employee"], decided["delivery"], decided["reasonCode"]) == (
        "refused", SPECIALIST, "sent", "DOCUMENTS_INCOMPLETE")
    [response] = outbox.of(MessageType.RESPONSE)
    assert response.correlation_id == "sc-0" and response.payload.decode() == decided["decisionXml"]
    root = etree.fromstring(response.payload)
    validate(DEC_XSD, root)
    who = await verify_document(root, verifier(settings, session_pki))
    assert (who.iin, who.bin) == (PROVIDER_HEAD, PROVIDER_BIN)
    assert parse_decision(response.payload).reason.text == "Нет справки о составе семьи"
    await error(await client.post("/rshep/items/RSH-2026-000001/decide", headers=me, json={"decision": "approve"}),
                409, "CONFLICT", "already refused")  # fmt: skip
    # the other item: approved without taking it first
    resp = await client.post("/rshep/items/RSH-2026-000002/decide", headers=other, json={"decision": "approve"})
    assert (await resp.json())["status"] == "approved"
    assert parse_decision(outbox.of(MessageType.RESPONSE)[-1].payload).decision == "approved"
    done = await (await client.get("/rshep/items", headers=me, params={"status": "approved"})).json()
    assert [i["number"] for i in done["items"]] == ["RSH-2026-000002"]
    # logout ends the session
    assert (await (await client.post("/rshep/logout", headers=me)).json())["loggedOut"] is True
    await error(await client.get("/rshep/me", headers=me), 401, "UNAUTHENTICATED", "logged out")


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code", "fragment"),
    [
        ("POST", "/rshep/login", {"json": {"iin": SPECIALIST, "password": "wrong"}}, 401, "UNAUTHENTICATED", "wrong"),
        ("POST", "/rshep/login", {"json": {"iin": APPLICANT, "password": f"rshep-{APPLICANT}"}}, 401,
         "UNAUTHENTICATED", "not a provider employee"),
        ("POST", "/rshep/login", {"json": {"iin": "12", "password": "x"}}, 400, "INVALID_PARAMETER", "iin"),
        ("POST", "/rshep/login", {"data": b"{not json", "headers": {"Content-Type": "application/json"}}, 400,
         "INVALID_JSON", "not JSON"),
        ("POST", "/rshep/login", {"json": [1, 2]}, 400, "INVALID_JSON", "JSON object"),
        ("POST", "/rshep/login", {"data": b"\xff\xfe", "headers": {"Content-Type": "application/json"}}, 400,
         "INVALID_JSON", "UTF-8"),
        ("POST", "/rshep/login", {"data": b"a" * (1 << 20 + 1), "headers": {"Content-Type": "application/json"}}, 413,
         "INVALID_JSON", "exceeds"),
        ("POST", "/rshep/login", {"json": {"iin": SPECIALIST, "password": "x", "admin": True}}, 400,
         "INVALID_PARAMETER", "admin"),
        ("GET", "/rshep/items", {}, 401, "UNAUTHENTICATED", "no Authorization header"),
        ("GET", "/rshep/items", {"headers": {"Authorization": "Basic abc"}}, 401, "UNAUTHENTICATED", "Bearer"),
        ("GET", "/rshep/items", {"headers": {"Authorization": "Bearer forged"}}, 401, "UNAUTHENTICATED", "unknown"),
        ("GET", "/rshep/items", {"auth": True, "params": {"status": "lost"}}, 400, "INVALID_PARAMETER", "status"),
        ("GET", "/rshep/items", {"auth": True, "params": {"limit": "0"}}, 400, "INVALID_PARAMETER", "limit"),
        ("GET", "/rshep/items", {"auth": True, "params": {"where": "1=1"}}, 400, "INVALID_PARAMETER", "where"),
        ("GET", "/rshep/items/RSH-1999-000001", {"auth": True}, 404, "NOT_FOUND", "no inbox item"),
        ("POST", "/rshep/items/nope/take", {"auth": True}, 404, "NOT_FOUND", "no inbox item"),
        ("POST", "/rshep/items/nope/decide", {"auth": True, "json": {"decision": "approve"}}, 404, "NOT_FOUND", "nope"),
        ("POST", "/rshep/items/x/decide", {"auth": True, "json": {"decision": "maybe"}}, 400, "INVALID_PARAMETER",
         "decision"),
        ("POST", "/rshep/items/x/decide", {"auth": True, "json": {"decision": "approve", "reason": "r"}}, 400,
         "INVALID_PARAMETER", "approval carries no"),
        ("POST", "/rshep/items/x/decide", {"auth": True, "json": {"decision": "refuse", "reasonCode": "bad code!",
                                                                   "reason": "r"}}, 400, "INVALID_PARAMETER", "reasonCode"),
    ],
)  # fmt: skip
async def test_hostile_and_unauthorised_requests(desk, method, path, kwargs, status, code, fragment) -> None:
    client = desk[0]
    kwargs = dict(kwargs)
    if kwargs.pop("auth", False):
        kwargs["headers"] = await login(client, SPECIALIST)
    await error(await client.request(method, path, **kwargs), status, code, fragment)


async def test_rules_from_settings_and_openapi(settings, session_pki, tmp_path, app_client) -> None:
    provider = ProviderSettings(rules=[ProviderRule(system="arm-rshep", service="child-allowance", action="approve")])
    outbox, arm = FakeOutbox(), systems(settings, session_pki, provider)["arm-rshep"]
    async with context(tmp_path, session_pki, outbox, SIGNERS) as ctx:
        await arm.on_message(request(signed(session_pki, sc_app()), "RSHEP_DOCUMENT", "sc-1", sender="arm-con"), ctx)
        assert parse_decision(outbox.of(MessageType.RESPONSE)[0].payload).decision == "approved"
        item = (await ctx.records.get(INBOX, "RSH-2026-000001")).data
        assert (item["status"], item["rule"], item["employee"]) == ("approved", "rule 1", None)
        app = web.Application()
        rshep_api.add_routes(app, rshep_api.RshepDesk(systems={}, context=lambda: ctx))
        client = await app_client(app)
        spec = await (await client.get("/openapi.json")).json()
        assert {"/rshep/login", "/rshep/items", "/rshep/items/{number}/decide"} <= set(spec["paths"])
        assert "DecideIn" in spec["components"]["schemas"]


def test_provider_employees_are_the_fixture_staff() -> None:
    from egovkit import FIXTURES

    staff = rshep_api.employees(FIXTURES, PROVIDER_BIN)
    assert staff[PROVIDER_HEAD].role == "head" and staff[SPECIALIST].role == "specialist"
    assert rshep_api.test_password(SPECIALIST) == f"rshep-{SPECIALIST}"
    assert GATEWAY_NOW.year == 2026


class FlakyOutbox(FakeOutbox):
    """Refuses the first RESPONSE (the channel's store was unavailable), accepts everything after."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    async def send(self, sender_id, message, *, scope="default"):
        if message.message_type is MessageType.RESPONSE and not self.failed:
            self.failed = True
            raise RuntimeError("outbox unavailable")
        return await super().send(sender_id, message, scope=scope)


async def test_a_failed_response_is_sent_on_redelivery_exactly_once(settings, session_pki, tmp_path) -> None:
    outbox = FlakyOutbox()
    arm = systems(settings, session_pki, ProviderSettings(default="approve", rules=[]))["arm-rshep"]
    async with context(tmp_path, session_pki, outbox, SIGNERS) as ctx:
        msg = request(signed(session_pki, sc_app()), "RSHEP_DOCUMENT", "sc-1", sender="arm-con")
        with pytest.raises(RuntimeError):
            await arm.on_message(msg, ctx)  # the channel will deliver it again
        item = (await ctx.records.get(INBOX, "RSH-2026-000001")).data
        assert (item["status"], item["delivery"]) == ("approved", "pending")
        await arm.on_message(msg, ctx)
        await arm.on_message(msg, ctx)
        kinds = [m.message_type for _, m, _ in outbox.sent]
        assert kinds == [MessageType.NOTIFICATION, MessageType.RESPONSE]
        assert (await ctx.records.get(INBOX, "RSH-2026-000001")).data["delivery"] == "sent"


async def test_a_failed_response_is_retried_by_deciding_again_over_http(settings, session_pki, tmp_path, app_client) -> None:
    from shlyuz.gateway import http

    outbox = FlakyOutbox()
    systems_ = systems(settings, session_pki)
    async with context(tmp_path, session_pki, outbox, SIGNERS) as ctx:
        await systems_["arm-rshep"].on_message(request(signed(session_pki, sc_app()), "RSHEP_DOCUMENT", "sc-1"), ctx)
        app = web.Application(middlewares=[http.context_middleware, http.json_error_middleware])
        rshep_api.add_routes(app, rshep_api.RshepDesk(systems=systems_, context=lambda: ctx))
        client = await app_client(app)
        me = await login(client, SPECIALIST)
        resp = await client.post("/rshep/items/RSH-2026-000001/decide", headers=me, json={"decision": "approve"})
        assert resp.status == 500 and (await resp.json())["error"]["code"] == "INTERNAL_ERROR"
        resp = await client.post("/rshep/items/RSH-2026-000001/decide", headers=me, json={"decision": "approve"})
        body = await resp.json()
        assert (resp.status, body["status"], body["delivery"]) == (200, "approved", "sent")
        assert len(outbox.of(MessageType.RESPONSE)) == 1


async def test_concurrent_decisions_decide_once(settings, session_pki, tmp_path) -> None:
    import asyncio

    from shlyuz.errors import ShlyuzError
    from shlyuz.systems.rshep_rules import Verdict

    outbox, arm = FakeOutbox(), systems(settings, session_pki)["arm-rshep"]
    async with context(tmp_path, session_pki, outbox, SIGNERS) as ctx:
        await arm.on_message(request(signed(session_pki, sc_app()), "RSHEP_DOCUMENT", "sc-1"), ctx)
        results = await asyncio.gather(
            arm.settle("RSH-2026-000001", Verdict("approve"), ctx, employee=SPECIALIST),
            arm.settle("RSH-2026-000001", Verdict("refuse", "", "X", "no"), ctx, employee=OTHER),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, ShlyuzError)]
        assert len(errors) == 1 and errors[0].code.value == "CONFLICT"
        assert len(outbox.of(MessageType.RESPONSE)) == 1
