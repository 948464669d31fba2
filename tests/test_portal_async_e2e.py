"""End to end through the real SHEP async channel (no fake Outbox): a portal user logs in with EDS, submits a signed
Application; the channel persists and routes the REQUEST to E-sobes, whose automatic provider registers it
(NOTIFICATION) and decides (RESPONSE with the Decision signed by the provider's head); the channel delivers both to
the portal's ``on_message``, and the cabinet shows the verified result. Delivery is driven by hand
(``async_channel.run_due()``), not by a timer."""

from __future__ import annotations

from conftest import GATEWAY_NOW
from egovkit import verifier as throwaway_verifier
from lxml import etree
from portalkit import application_xml, sign_xml

from shlyuz.clock import FixedClock
from shlyuz.config import ProviderSettings
from shlyuz.egov.documents import Applicant
from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.gateway.app import build_gateway, create_app
from shlyuz.portal import api as portal_api
from shlyuz.portal.participant import PortalParticipant
from shlyuz.systems import esobes

APPLICANT = DEMO_IINS["disabled"]


async def test_portal_application_and_its_signed_result_over_the_async_channel(settings, session_pki, app_client):
    settings.async_channel.delivery_loop = False
    provider = esobes.participant(verifier=throwaway_verifier(settings, session_pki),
                                  provider=ProviderSettings(default="approve"),
                                  services=esobes.known_services(settings.fixture_dirs))  # fmt: skip
    gateway = build_gateway(settings, clock=FixedClock(GATEWAY_NOW), pki=session_pki,
                            participants=[PortalParticipant(), provider])  # fmt: skip
    app = create_app(gateway)
    portal_api.add_routes(app)
    client = await app_client(app)

    challenge = await (await client.post("/portal/auth/challenge")).json()
    signed = sign_xml(session_pki, f"person/{APPLICANT}/auth", etree.fromstring(challenge["document"]))
    token = (await (await client.post("/portal/auth/eds", json={"signedXml": signed})).json())["token"]
    headers = {"Authorization": f"Bearer {token}"}

    document = application_xml(session_pki, identity=f"person/{APPLICANT}/sign", applicant=Applicant(iin=APPLICANT))
    resp = await client.post("/portal/applications", json={"document": document}, headers=headers)
    assert resp.status == 201, await resp.text()
    app_id = (await resp.json())["id"]

    assert await gateway.async_channel.run_due() >= 3  # REQUEST → E-sobes; NOTIFICATION and RESPONSE → the portal
    one = await (await client.get(f"/portal/cabinet/applications/{app_id}", headers=headers)).json()
    assert [h["messageType"] for h in one["history"]] == ["NOTIFICATION", "RESPONSE"], one
    assert one["status"] == "APPROVED" and one["applicationNumber"].startswith("ESB-2026-")
    verification = one["result"]["verification"]
    assert verification["verified"] is True and verification["authorizedPerson"] is True, verification
    result = await client.get(f"/portal/cabinet/applications/{app_id}/result", headers=headers)
    assert result.headers["X-Signature-Verified"] == "true"
    assert b"<dec:decision>approved</dec:decision>" in await result.read()
