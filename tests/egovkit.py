"""Helpers for the e-government document and system tests (test helper, not a test module).

API::

    APP_XSD, DEC_XSD                      compiled schemas/egov XSDs (validate(el) raises with libxml2's log)
    validate(schema, el)                  AssertionError naming the first schema error
    application(**kw) -> Application      a portal application by the demo applicant (kw override fields)
    verifier(settings, pki) -> SignatureVerifier   the gateway's own, at the gateway clock
    FakeOutbox                            records what participants send (messageIds "out-1", "out-2", ...)
    context(tmp_path, pki, outbox) -> async context manager yielding a ParticipantContext (SqliteRecords in tmp)
    request(payload, service_id, message_id="m-1", sender="egov-portal") -> AsyncMessage (REQUEST)
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from pathlib import Path

from conftest import GATEWAY_NOW, REPO
from lxml import etree

from shlyuz.clock import FixedClock
from shlyuz.dsig.signer import signer_for
from shlyuz.egov.documents import Applicant, Application, AttachedDocument, NameValue
from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.fixtures.store import load_dirs
from shlyuz.gateway.revocation import RevocationChecker
from shlyuz.gateway.signature import SignatureVerifier, TrustStore
from shlyuz.storage.records import SqliteRecords
from shlyuz.systems.participants import (
    AsyncMessage,
    MessageType,
    Outgoing,
    ParticipantContext,
)

APP_XSD = etree.XMLSchema(etree.parse(str(REPO / "schemas/egov/application.xsd")))
DEC_XSD = etree.XMLSchema(etree.parse(str(REPO / "schemas/egov/decision.xsd")))
APPLICANT = DEMO_IINS["applicant"]
ATTORNEY = DEMO_IINS["attorney"]
PROVIDER_BIN = "001240876555"  # КГУ «Управление занятости и социальных программ города Алматы»
PROVIDER_HEAD = "740211363594"
FIXTURES = load_dirs([REPO / "fixtures"])


def validate(schema: etree.XMLSchema, el: etree._Element) -> None:
    if not schema.validate(etree.ElementTree(el)):
        raise AssertionError(str(schema.error_log.last_error))


def application(**kw) -> Application:
    data = {
        "service": "disabled-children-home-education",
        "channel": "portal",
        "applicant": Applicant(iin=APPLICANT, name="Ахметов Нұрлан Серікұлы"),
        "submitted_at": GATEWAY_NOW,
        "fields": (NameValue(name="childIin", value=DEMO_IINS["minor"]), NameValue(name="schoolYear", value="2025-2026")),
        "documents": (AttachedDocument(code="MED_CONCLUSION", name="Заключение ПМПК"),),
    }
    data.update(kw)
    return Application(**data)


def verifier(settings, pki) -> SignatureVerifier:
    """The gateway's verifier as build_gateway makes it (built here directly, without the rest of the gateway)."""
    clock = FixedClock(GATEWAY_NOW)
    revocation = RevocationChecker(now=clock.now, pki=pki, ttl=settings.pki.revocation_cache_ttl,
                                   timeout=settings.pki.revocation_timeout)  # fmt: skip
    return SignatureVerifier(trust=TrustStore.build(pki, settings.pki.trust_ca), revocation=revocation, now=clock.now,
                             policies=settings.services, require_eku=settings.pki.require_eku)  # fmt: skip


class FakeOutbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Outgoing, str]] = []

    async def send(self, sender_id: str, message: Outgoing, *, scope: str = "default") -> str:
        self.sent.append((sender_id, message, scope))
        return f"out-{len(self.sent)}"

    def of(self, kind: MessageType) -> list[Outgoing]:
        return [m for _, m, _ in self.sent if m.message_type is kind]


@contextlib.asynccontextmanager
async def context(tmp_path: Path, pki, outbox: FakeOutbox, names: tuple[str, ...] = ()):
    records = SqliteRecords(tmp_path / "records.db", now=lambda: GATEWAY_NOW)
    await records.open()
    try:
        signers = {n: signer_for(pki, n) for n in names}
        yield ParticipantContext(fixtures=FIXTURES, now=lambda: GATEWAY_NOW, records=records, outbox=outbox,
                                 signers=signers)  # fmt: skip
    finally:
        await records.close()


def request(payload: bytes | None, service_id: str, message_id: str = "m-1", sender: str = "egov-portal",
            created_at: datetime = GATEWAY_NOW) -> AsyncMessage:  # fmt: skip
    return AsyncMessage(message_id=message_id, message_type=MessageType.REQUEST, service_id=service_id,
                        sender_id=sender, created_at=created_at, payload=payload)  # fmt: skip
