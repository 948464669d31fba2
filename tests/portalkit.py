"""Helpers for the portal and State Corporation workstation tests (test helper, not a test module).

API::

    make_app(settings, pki, *, con=False) -> (aiohttp app, Gateway, FakeOutbox)   the gateway app with the portal
        (and, with con=True, the State Corporation workstation) routes, a FixedClock at GATEWAY_NOW and a fake Outbox
        on ``gateway.outbox`` in place of the channel's (the tests check what is handed to the channel)
    sign_xml(pki, identity, element) -> str     enveloped XMLDSig with a fixture identity, client side
    application_xml(pki, identity, **kw) -> str  a signed Application (egovkit.application(**kw))
    decision(number="ES-1", *, decision="approved", applicant=None, signer=PROVIDER_HEAD_SIGN, **kw) -> bytes
        a Decision signed by the provider's head (or ``signer``)
    deliver(participant, gateway, message_type, correlation_id, payload, message_id, properties=()) -> AsyncMessage
        hands a message to ``participant.on_message`` with a ParticipantContext over the gateway's records
    error(resp) -> (status, code, message)
"""

from __future__ import annotations

from datetime import timedelta

from conftest import GATEWAY_NOW
from egovkit import APPLICANT, FIXTURES, PROVIDER_BIN, PROVIDER_HEAD, FakeOutbox, application
from lxml import etree

from shlyuz.clock import FixedClock
from shlyuz.dsig.signer import signer_for
from shlyuz.egov.documents import (
    Applicant,
    DecidedBy,
    Decision,
    NameValue,
    Reason,
    build_application,
    build_decision,
)
from shlyuz.gateway.app import build_gateway, create_app
from shlyuz.gateway.jsonapi import API_ROUTES
from shlyuz.systems.participants import AsyncMessage, MessageType, ParticipantContext

PROVIDER_HEAD_SIGN = f"org/{PROVIDER_BIN}/{PROVIDER_HEAD}/sign"
PASSWORD = "Qwerty2026x"


def _registered(app, path: str) -> bool:
    return API_ROUTES in app and any(r.path == path for r in app[API_ROUTES])


def make_app(settings, pki, *, con: bool = False):
    from shlyuz.portal import api as portal_api

    gateway = build_gateway(settings, clock=FixedClock(GATEWAY_NOW), pki=pki, fixtures=FIXTURES)  # loaded once
    outbox = FakeOutbox()
    gateway.outbox = outbox  # type: ignore[misc]  # these tests look at what is handed to the channel
    app = create_app(gateway)
    if not _registered(app, "/portal/register"):
        portal_api.add_routes(app)
    if con and not _registered(app, "/con/auth/login"):
        from shlyuz.workstations import con as con_api

        con_api.add_routes(app)
    return app, gateway, outbox


def sign_xml(pki, identity: str, element: etree._Element) -> str:
    signer_for(pki, identity).data(element)
    return etree.tostring(element, encoding="unicode")


def application_xml(pki, identity: str = f"person/{APPLICANT}/sign", **kw) -> str:
    return sign_xml(pki, identity, build_application(application(**kw)))


def decision(number: str = "ES-1", *, verdict: str = "approved", applicant: Applicant | None = None, pki=None,
             signer: str = PROVIDER_HEAD_SIGN, decided_by_iin: str = PROVIDER_HEAD,
             service: str = "disabled-children-home-education") -> bytes:  # fmt: skip
    dec = Decision(
        application_number=number,
        service=service,
        applicant=applicant or Applicant(iin=APPLICANT),
        decision=verdict,
        reason=Reason(code="DOCS_INCOMPLETE", text="Не представлено заключение ПМПК") if verdict == "refused" else None,
        decided_at=GATEWAY_NOW + timedelta(days=3),
        decided_by=DecidedBy(iin=decided_by_iin, name="Руководитель", bin=PROVIDER_BIN,
                             organisation="КГУ «Управление занятости и социальных программ города Алматы»"),
        result=(NameValue(name="amount", value="45000"),) if verdict == "approved" else (),
    )  # fmt: skip
    root = build_decision(dec)
    signer_for(pki, signer).data(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


async def deliver(participant, gateway, message_type: MessageType, correlation_id: str, payload: bytes | None,
                  message_id: str, properties: tuple[tuple[str, str], ...] = ()) -> AsyncMessage:  # fmt: skip
    msg = AsyncMessage(message_id=message_id, message_type=message_type, service_id="ESOBES_APPLICATION",
                       sender_id="esobes", created_at=gateway.clock.now(), payload=payload,
                       correlation_id=correlation_id, properties=properties)  # fmt: skip
    ctx = ParticipantContext(fixtures=gateway.fixtures, now=gateway.clock.now, records=gateway.records,
                             outbox=gateway.outbox, signers={})  # fmt: skip
    await participant.on_message(msg, ctx)
    return msg


async def error(resp) -> tuple[int, str, str]:
    body = await resp.json()
    return resp.status, body["error"]["code"], body["error"]["message"]
