"""The SHEP async channel end to end over HTTP: REQUEST → inside participant → correlated RESPONSE pulled by the
sender; pull by an outside provider; push with retries; push that never succeeds; restart between acceptance and
delivery; zeep through the served WSDL. Every reply is validated against the official AsyncChannel XSDs."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import zeep
from asyncfix import ECHO_SERVICE, Echo, Endpoint, app_factory, shep
from lxml import etree
from zeep import xsd

from shlyuz.shep.async_events import MessageState, MessageType
from shlyuz.storage.base import JournalQuery

DOC = b'<app:Application xmlns:app="urn:shlyuz:egov:application:1.0"><app:n>1 &lt; 2</app:n></app:Application>'


@pytest.fixture
def make_app(settings, session_pki, app_client):
    return app_factory(settings, session_pki, app_client)


async def journal(gw, message_id: str):
    return list(reversed(await gw.storage.query_exchanges(JournalQuery(message_id=message_id, limit=100))))


async def test_request_to_an_inside_participant_answered_with_a_correlated_response(make_app):
    echo = Echo()
    gw, client = await make_app([echo])
    demo = shep(client)
    sent = await demo.send_message(ECHO_SERVICE, MessageType.REQUEST, payload=DOC, message_id="demo-1")
    assert sent.correlation_id == sent.message_id  # a REQUEST starts its chain
    assert (await demo.get_message_status(sent.message_id)).state is MessageState.ON_DELIVERY

    assert await gw.async_channel.run_due() >= 1  # the delivery pass, driven by hand
    delivered = echo.seen[0]
    assert delivered.message_id == sent.message_id and delivered.sender_id == "shlyuz-demo"
    assert delivered.payload == DOC  # byte for byte
    status = await demo.get_message_status(sent.message_id)
    assert status.state is MessageState.DELIVERED and status.status.status_code == "DELIVERED"

    # the echo's RESPONSE waits for the sender (who has no endpoint: it pulls)
    pulled = await demo.get_messages(ECHO_SERVICE, correlation_id=sent.message_id)
    assert len(pulled.messages) == 1
    answer = pulled.messages[0]
    assert answer.info.message_type is MessageType.RESPONSE
    assert answer.info.correlation_id == sent.message_id and answer.info.sender.sender_id == "esobes"
    assert answer.text.encode() == b"<echo>" + DOC + b"</echo>"
    assert (await demo.get_message_status(answer.info.message_id)).state is MessageState.DELIVERED
    assert (await demo.get_messages(ECHO_SERVICE)).messages == ()  # handed over once

    entries = await journal(gw, sent.message_id)
    assert [e.endpoint for e in entries][:2] == ["/bip-async/", "/bip-async/"]
    assert any(e.endpoint == "/bip-async/ delivery" and e.outcome == "DELIVERED" for e in entries)


async def test_an_outside_provider_pulls_its_requests_and_answers(make_app):
    _gw, client = await make_app(participants=[{"participant_id": "ext-provider", "service_ids": ["TEST_PULL"]}])
    demo, provider = shep(client), shep(client, "ext-provider", "provider-pw")
    sent = await demo.send_message("TEST_PULL", payload=DOC)
    assert (await demo.get_messages("TEST_PULL")).messages == ()  # not addressed to the sender
    got = await provider.get_messages("TEST_PULL", amount=10)
    assert [m.info.message_id for m in got.messages] == [sent.message_id]
    assert (await demo.get_message_status(sent.message_id)).state is MessageState.DELIVERED
    await provider.send_delivery_notification(sent.message_id, "TEST_PULL", accepted=True)
    reply = await provider.send_message("TEST_PULL", MessageType.RESPONSE, payload=b"<ok/>", correlation_id=sent.message_id)
    assert reply.correlation_id == sent.message_id
    answer = (await demo.get_messages("TEST_PULL", message_id=reply.message_id)).messages
    assert answer[0].info.message_type is MessageType.RESPONSE and answer[0].text == "<ok/>"


async def test_push_that_fails_twice_then_recovers_with_retries_in_the_journal(make_app):
    provider, requester = Endpoint(script=["fail", "fail"]), Endpoint()
    provider_url, requester_url = await provider.start(), await requester.start()
    try:
        gw, client = await make_app(participants=[
            {"participant_id": "ext-push", "service_ids": ["TEST_PUSH"], "push_url": provider_url},
            {"participant_id": "ext-client", "push_url": requester_url},
        ])  # fmt: skip
        consumer = shep(client, "ext-client", "client-pw")
        sent = await consumer.send_message("TEST_PUSH", payload=DOC)
        for _ in range(3):
            await gw.async_channel.run_due()
            gw.clock.advance(timedelta(seconds=8))  # past the longest backoff
        assert len(provider.pushes()) == 3
        pushed = provider.pushes()[-1].request
        assert pushed.info.message_id == sent.message_id and pushed.info.correlation_id == sent.message_id
        assert pushed.text.encode() == DOC
        assert (await consumer.get_message_status(sent.message_id)).state is MessageState.DELIVERED
        attempts = [e for e in await journal(gw, sent.message_id) if e.endpoint == "/bip-async/ delivery"]
        assert [e.outcome for e in attempts] == ["ATTEMPT_FAILED", "ATTEMPT_FAILED", "DELIVERED"]
        assert [e.verdicts["delivery"]["attempt"] for e in attempts] == [1, 2, 3]
        assert "BUSY: try later" in attempts[0].verdicts["delivery"]["error"]
        assert requester.notifications() == [MessageState.DELIVERED]  # changeMassageStatusNotification
    finally:
        await provider.close()
        await requester.close()


async def test_push_that_never_recovers_ends_not_delivered_then_stopped_and_the_sender_is_told(make_app):
    provider, requester = Endpoint(default="fail"), Endpoint()
    provider_url, requester_url = await provider.start(), await requester.start()
    try:
        gw, client = await make_app(max_attempts=3, participants=[
            {"participant_id": "ext-push", "service_ids": ["TEST_PUSH"], "push_url": provider_url},
            {"participant_id": "ext-client", "push_url": requester_url},
        ])  # fmt: skip
        consumer = shep(client, "ext-client", "client-pw")
        sent = await consumer.send_message("TEST_PUSH", payload=DOC)
        for _ in range(5):
            await gw.async_channel.run_due()
            gw.clock.advance(timedelta(seconds=8))
        assert len(provider.pushes()) == 3  # max_attempts, then no more
        status = await consumer.get_message_status(sent.message_id)
        assert status.state is MessageState.DELIVERY_STOPPED
        assert requester.notifications() == [MessageState.NOT_DELIVERED, MessageState.DELIVERY_STOPPED]
        first = requester.calls[0].request.notification
        assert first.message_id == sent.message_id and first.error is not None and "BUSY" in first.error.error_message
        assert first.status.status_message == (
            "The message could not be delivered: 3 attempts failed, the last: HTTP 500, fault soap:Server: BUSY: try later"
        )
        entries = await journal(gw, sent.message_id)
        assert [e.outcome for e in entries if e.endpoint == "/bip-async/ delivery"] == [
            "ATTEMPT_FAILED", "ATTEMPT_FAILED", "NOT_DELIVERED"]
        assert [e.outcome for e in entries if e.endpoint == "/bip-async/ notify"] == ["NOTIFIED", "NOTIFIED"]
    finally:
        await provider.close()
        await requester.close()


async def test_an_inside_participant_that_raises_is_retried(make_app):
    echo = Echo(fail_times=1)
    gw, client = await make_app([echo])
    sent = await shep(client).send_message(ECHO_SERVICE, payload=DOC)
    await gw.async_channel.run_due()
    assert echo.seen == [] and echo.calls == 1
    gw.clock.advance(timedelta(seconds=8))
    await gw.async_channel.run_due()
    assert [m.message_id for m in echo.seen] == [sent.message_id]
    failed = [e for e in await journal(gw, sent.message_id) if e.outcome == "ATTEMPT_FAILED"]
    assert "RuntimeError: the database is down" in failed[0].verdicts["delivery"]["error"]


async def test_restart_between_acceptance_and_delivery_loses_nothing(make_app, app_client):
    _gw1, client1 = await make_app([Echo()], loop=False)
    sent = await shep(client1).send_message(ECHO_SERVICE, payload=DOC)
    await client1.close()  # the server stops: nothing was delivered
    echo = Echo()
    gw2, client2 = await make_app([echo], loop=True)  # a new process on the same database, its loop running
    await asyncio.wait_for(gw2.async_channel.engine.wait_attempts(1), 30)  # made by the loop, not by the test
    assert [m.message_id for m in echo.seen] == [sent.message_id]
    assert echo.seen[0].payload == DOC
    assert (await shep(client2).get_message_status(sent.message_id)).state is MessageState.DELIVERED


async def test_the_served_wsdl_has_our_address_and_zeep_calls_send_message(make_app):
    gw, client = await make_app([Echo()])
    wsdl = await (await client.get("/bip-async/?wsdl")).read()
    root = etree.fromstring(wsdl)
    location = root.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address").get("location")
    assert location == str(client.make_url("/bip-async/"))
    xsd_doc = await (await client.get("/bip-async/?xsd=async-v10-itypes.xsd")).read()
    assert b"AsyncMessageInfo" in xsd_doc and str(client.make_url("/bip-async/?xsd=common-v10-async.xsd")).encode() in xsd_doc

    def call(url: str):
        z = zeep.Client(url)
        return z.service.sendMessage(request={
            "messageInfo": {"serviceId": ECHO_SERVICE, "messageType": "REQUEST",
                            "messageDate": "2026-01-15T10:00:00+05:00",
                            "sender": {"senderId": "shlyuz-demo", "password": "demo-password"}},
            "messageData": {"data": xsd.AnyObject(xsd.String(), "<hello/>")},
        })  # fmt: skip

    result = await asyncio.to_thread(call, str(client.make_url("/bip-async/?wsdl")))
    assert result.correlationId == result.messageId
    stored = await gw.async_channel.store.get(result.messageId)
    assert stored is not None and stored.payload == b"<hello/>" and stored.sender_id == "shlyuz-demo"
    assert stored.recipient_id == "esobes"


async def test_push_delivery_with_the_loop_running_is_seen_by_the_endpoint(make_app):
    provider = Endpoint()
    url = await provider.start()
    try:
        gw, client = await make_app(loop=True, participants=[
            {"participant_id": "ext-push", "service_ids": ["TEST_PUSH"], "push_url": url}])  # fmt: skip
        sent = await shep(client).send_message("TEST_PUSH", payload=DOC)
        await asyncio.wait_for(gw.async_channel.engine.wait_attempts(1), 30)
        assert provider.pushes()[0].request.info.message_id == sent.message_id
    finally:
        await provider.close()



async def test_a_recipient_asking_for_a_resend_gets_the_message_pushed_again(make_app):
    provider = Endpoint()
    url = await provider.start()
    try:
        gw, client = await make_app(max_attempts=2, participants=[
            {"participant_id": "ext-push", "service_ids": ["TEST_PUSH"], "push_url": url}])  # fmt: skip
        sent = await shep(client).send_message("TEST_PUSH", payload=DOC)
        await gw.async_channel.run_due()
        push = shep(client, "ext-push", "push-pw")
        assert (await push.get_message_status(sent.message_id)).state is MessageState.DELIVERED
        await push.send_delivery_notification(sent.message_id, "TEST_PUSH", accepted=False, resend=True)
        assert (await push.get_message_status(sent.message_id)).state is MessageState.ON_DELIVERY
        await gw.async_channel.run_due()
        assert [c.request.info.message_id for c in provider.pushes()] == [sent.message_id] * 2
        attempts = [e for e in await journal(gw, sent.message_id) if e.endpoint == "/bip-async/ delivery"]
        assert [e.verdicts["delivery"]["attempt"] for e in attempts] == [1, 1]  # a new round of attempts
    finally:
        await provider.close()
