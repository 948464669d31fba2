"""Issue #4's first case end to end over HTTP with the real E-sobes behind the async channel: an outside sender's
signed application as a REQUEST, E-sobes registers it (NOTIFICATION) and the automatic provider decides (RESPONSE with
the decision signed by the provider's head); the sender pulls both with getMessages, correlated to its REQUEST, and
follows the states with getMessageStatus."""

from __future__ import annotations

from asyncfix import SENDERS, shep
from conftest import GATEWAY_NOW
from egovkit import APPLICANT, application

from shlyuz.clock import FixedClock
from shlyuz.config import load_settings
from shlyuz.dsig.signer import signer_for
from shlyuz.egov.documents import build_application, parse_decision, to_bytes
from shlyuz.egov.notification import parse_notification
from shlyuz.egov.signing import verify_document
from shlyuz.gateway.app import build_gateway, create_app
from shlyuz.shep.async_events import MessageState, MessageType
from shlyuz.xml import safe


async def test_esobes_request_pulled_and_answered(settings, session_pki, app_client):
    s = load_settings(data_dir=settings.data_dir, senders=SENDERS, async_channel={"delivery_loop": False},
                      provider={"rules": [{"action": "approve"}]})  # fmt: skip
    gw = build_gateway(s, clock=FixedClock(GATEWAY_NOW), pki=session_pki)  # the default participants: real E-sobes
    client = await app_client(create_app(gw))
    demo = shep(client)
    root = build_application(application())
    signer_for(session_pki, f"person/{APPLICANT}/sign").data(root)
    sent = await demo.send_message("ESOBES_APPLICATION", MessageType.REQUEST, payload=to_bytes(root), message_id="esb-1")
    assert (await demo.get_message_status(sent.message_id)).state is MessageState.ON_DELIVERY

    assert await gw.async_channel.run_due() >= 1  # delivered to E-sobes, which answers at once
    assert (await demo.get_message_status(sent.message_id)).state is MessageState.DELIVERED

    pulled = (await demo.get_messages("ESOBES_APPLICATION", correlation_id=sent.message_id, amount=10)).messages
    kinds = {m.info.message_type: m for m in pulled}
    assert set(kinds) == {MessageType.NOTIFICATION, MessageType.RESPONSE}
    assert all(m.info.correlation_id == sent.message_id and m.info.sender.sender_id == "esobes" for m in pulled)
    note = parse_notification(kinds[MessageType.NOTIFICATION].text.encode())
    assert note.status == "registered" and note.application_number.startswith("ESB-2026-")
    decision_xml = kinds[MessageType.RESPONSE].text.encode()
    decision = parse_decision(decision_xml)
    assert decision.decision == "approved" and decision.application_number == note.application_number
    signed = await verify_document(safe.parse(decision_xml), gw.sync.verifier)
    assert (signed.iin, signed.bin) == (decision.decided_by.iin, decision.decided_by.bin)
    for m in pulled:  # handed over by getMessages
        assert (await demo.get_message_status(m.info.message_id)).state is MessageState.DELIVERED
