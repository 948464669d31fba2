"""End to end through the real SHEP async channel (no fake Outbox): a State Corporation operator enters an
application for a representative under a valid notarised power of attorney (GBD FL and ENIS asked over SHEP), the
Application signed with the operator's EDS goes as ``arm-con`` → ``RSHEP_DOCUMENT``; АРМ РШЭП registers it and its
automatic provider decides; the RESPONSE reaches the workstation's ``on_message`` and the operator retrieves the
signed decision. Delivery is driven by hand (``async_channel.run_due()``)."""

from __future__ import annotations

from conftest import GATEWAY_NOW
from egovkit import verifier as throwaway_verifier

from shlyuz.clock import FixedClock
from shlyuz.config import ProviderSettings
from shlyuz.fixtures.generate import DEMO_IINS, DEMO_POAS
from shlyuz.gateway.app import build_gateway, create_app
from shlyuz.systems import esobes, rshep
from shlyuz.workstations import con
from shlyuz.workstations.con_participant import ConParticipant

OPERATOR = "890512397971"


async def test_state_corporation_application_and_its_result_over_the_async_channel(settings, session_pki, app_client):
    settings.async_channel.delivery_loop = False
    provider = rshep.participant(verifier=throwaway_verifier(settings, session_pki),
                                 provider=ProviderSettings(default="refuse"),
                                 services=esobes.known_services(settings.fixture_dirs))  # fmt: skip
    gateway = build_gateway(settings, clock=FixedClock(GATEWAY_NOW), pki=session_pki,
                            participants=[ConParticipant(), provider])  # fmt: skip
    app = create_app(gateway)
    con.add_routes(app)
    client = await app_client(app)

    login = await client.post("/con/auth/login", json={"login": OPERATOR, "password": f"tson-{OPERATOR}"})
    headers = {"Authorization": f"Bearer {(await login.json())['token']}"}
    body = {
        "service": "disabled-children-home-education",
        "applicant": {"iin": DEMO_IINS["disabled"]},
        "representative": {"iin": DEMO_IINS["attorney"], "poa": {"number": DEMO_POAS["valid"], "notarised": True}},
        "documents": [{"code": "MED_CONCLUSION", "name": "Заключение ПМПК"}],
    }
    resp = await client.post("/con/applications", json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    app_id = (await resp.json())["id"]

    assert await gateway.async_channel.run_due() >= 3
    out = await (await client.get(f"/con/applications/{app_id}", headers=headers)).json()
    assert [h["messageType"] for h in out["history"]] == ["NOTIFICATION", "RESPONSE"], out
    assert out["status"] == "REFUSED" and out["applicationNumber"].startswith("RSH-2026-")
    assert out["result"]["reasonCode"] == "GROUNDS_NOT_MET"  # the automatic provider's motivated refusal
    assert out["result"]["verification"]["verified"] is True, out["result"]["verification"]
    result = await client.get(f"/con/applications/{app_id}/result", headers=headers)
    assert result.headers["X-Signature-Verified"] == "true"
