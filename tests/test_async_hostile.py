"""Hostile and wrong input to /bip-async/: each is answered with a SOAP fault (HTTP 500) carrying its stable code,
in the operation's fault element, valid against the official XSDs, and journaled with endpoint /bip-async/."""

from __future__ import annotations

import pytest
from asyncfix import ECHO_SERVICE, Echo, app_factory, shep
from xsdcheck import validate_async_body

from shlyuz.asyncch.client import AsyncFault
from shlyuz.shep import ns
from shlyuz.shep.async_events import MessageType
from shlyuz.shep.async_responses import read_async_reply
from shlyuz.shep.responses import Fault
from shlyuz.storage.base import JournalQuery

CT = {"Content-Type": "text/xml; charset=utf-8"}


@pytest.fixture
def make_app(settings, session_pki, app_client):
    return app_factory(settings, session_pki, app_client)


def envelope(op: str, inner: str) -> bytes:
    return (f'<soap:Envelope xmlns:soap="{ns.SOAP11}"><soap:Body><ns2:{op} xmlns:ns2="{ns.ASYNC_TYPES}">'
            f"<request>{inner}</request></ns2:{op}></soap:Body></soap:Envelope>").encode()  # fmt: skip


def send(service: str = ECHO_SERVICE, mtype: str = "REQUEST", corr: str = "", sender: str = "shlyuz-demo",
         password: str | None = "demo-password") -> bytes:  # fmt: skip
    pwd = f"<password>{password}</password>" if password is not None else ""
    c = f"<correlationId>{corr}</correlationId>" if corr else ""
    return envelope("sendMessage", f"<messageInfo>{c}<serviceId>{service}</serviceId><messageType>{mtype}</messageType>"
                    f"<messageDate>2026-01-15T10:00:00+05:00</messageDate><sender><senderId>{sender}</senderId>{pwd}"
                    f"</sender></messageInfo><messageData><data><x/></data></messageData>")  # fmt: skip


async def fault_of(client, body: bytes, expect_element: str = "sendMessageFault1_sendMessageFault") -> str:
    resp = await client.post("/bip-async/", data=body, headers=CT)
    raw = await resp.read()
    assert resp.status == 500, raw
    validate_async_body(raw)
    assert expect_element.encode() in raw
    fault = read_async_reply(raw)
    assert isinstance(fault, Fault) and fault.error is not None
    return fault.error.error_code


@pytest.mark.parametrize(
    "body, code",
    [
        (b"<soap:Envelope", "MALFORMED_XML"),
        (b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>', "XML_DTD_FORBIDDEN"),
        (f'<soap:Envelope xmlns:soap="{ns.SOAP12}"><soap:Body/></soap:Envelope>'.encode(), "SOAP_VERSION_MISMATCH"),
        (envelope("sendMessages", ""), "UNKNOWN_OPERATION"),
        (send().replace(b"<serviceId>TEST_ECHO</serviceId>", b""), "SCHEMA_VALIDATION"),
        (send(mtype="RESPONSE"), "ASYNC_CORRELATION_REQUIRED"),
        (send(corr="some-chain"), "ASYNC_CORRELATION_NOT_ALLOWED"),
        (send(mtype="RESPONSE", corr="no-such-message"), "ASYNC_CORRELATION_UNKNOWN"),
        (send(password="wrong"), "AUTH_FAILED"),
        (send(password=None), "AUTH_FAILED"),
        (send(sender="nobody"), "SENDER_UNKNOWN"),
        (send(sender="ENIS_ONLY", password="enis-only-password"), "SERVICE_NOT_ALLOWED"),
        (send(service="NO_SUCH_SERVICE"), "SERVICE_NOT_FOUND"),
    ],
)  # fmt: skip
async def test_send_message_refusals(make_app, body, code):
    gw, client = await make_app([Echo()])
    assert await fault_of(client, body) == code
    entry = (await gw.storage.query_exchanges(JournalQuery(limit=1)))[0]
    assert entry.endpoint == "/bip-async/" and entry.outcome == code and entry.http_status == 500
    assert await gw.async_channel.store.find(recipient_id="esobes", service_id=ECHO_SERVICE) == []  # nothing accepted


async def test_other_operations_refuse_in_their_own_fault_element(make_app):
    _gw, client = await make_app([Echo()], participants=[{"participant_id": "ext-provider", "service_ids": ["TEST_PULL"]}])
    sent = await shep(client).send_message("TEST_PULL", payload=b"<a/>")
    # getMessages: no sender (optional in the schema, needed here), amount below 1
    assert await fault_of(client, envelope("getMessages", "<serviceId>TEST_PULL</serviceId>"),
                          "getMessagesFault1_getMessagesFault") == "AUTH_FAILED"  # fmt: skip
    body = envelope("getMessages", "<serviceId>TEST_PULL</serviceId><sender><senderId>ext-provider</senderId>"
                    "<password>provider-pw</password></sender><amount>0</amount>")  # fmt: skip
    assert await fault_of(client, body, "getMessagesFault1_getMessagesFault") == "ASYNC_INVALID_REQUEST"
    # getMessageStatus of a message the caller neither sent nor receives
    outsider = shep(client, "ext-client", "client-pw")
    with pytest.raises(AsyncFault) as err:
        await outsider.get_message_status(sent.message_id)
    assert err.value.code == "ASYNC_MESSAGE_NOT_FOUND" and b"getMessageStatusFault1_getMessageStatusFault" in err.value.body
    # a RESPONSE from someone who did not receive the REQUEST
    with pytest.raises(AsyncFault) as err:
        await outsider.send_message("TEST_PULL", MessageType.RESPONSE, payload=b"<x/>", correlation_id=sent.message_id)
    assert err.value.code == "ASYNC_NOT_A_PARTY"
    # delivery notifications: only by the recipient; none once delivery is stopped
    with pytest.raises(AsyncFault) as err:
        await outsider.send_delivery_notification(sent.message_id, "TEST_PULL")
    assert err.value.code == "ASYNC_MESSAGE_NOT_FOUND"
    assert b"sendDeliveryNotificationFault1_sendDeliveryNotificationFault" in err.value.body
    provider = shep(client, "ext-provider", "provider-pw")
    await provider.send_delivery_notification(sent.message_id, "TEST_PULL", accepted=False, resend=False)
    assert (await provider.get_message_status(sent.message_id)).state.value == "DELIVERY_STOPPED"
    with pytest.raises(AsyncFault) as err:
        await provider.send_delivery_notification(sent.message_id, "TEST_PULL", accepted=True)
    assert err.value.code == "ASYNC_STATE_CONFLICT" and "DELIVERY_STOPPED cannot become DELIVERED" in str(err.value)
    assert (await provider.get_messages("TEST_PULL")).messages == ()  # a stopped message is not handed over


async def test_resend_requested_by_the_recipient_makes_the_message_available_again(make_app):
    _gw, client = await make_app(participants=[{"participant_id": "ext-provider", "service_ids": ["TEST_PULL"]}])
    sent = await shep(client).send_message("TEST_PULL", payload=b"<a/>")
    provider = shep(client, "ext-provider", "provider-pw")
    assert len((await provider.get_messages("TEST_PULL")).messages) == 1
    await provider.send_delivery_notification(sent.message_id, "TEST_PULL", accepted=False, resend=True)
    assert (await provider.get_message_status(sent.message_id)).state.value == "ON_DELIVERY"
    again = await provider.get_messages("TEST_PULL")
    assert [m.info.message_id for m in again.messages] == [sent.message_id]


async def test_oversize_body_and_wrong_content_type(make_app, settings):
    gw, client = await make_app([Echo()])
    resp = await client.post("/bip-async/", data=send(), headers={"Content-Type": "application/json"})
    raw = await resp.read()
    validate_async_body(raw)
    assert resp.status == 500 and read_async_reply(raw).error.error_code == "UNSUPPORTED_MEDIA_TYPE"
    big = b"<a>" + b"x" * (gw.settings.limits.max_body_bytes + 10) + b"</a>"
    resp = await client.post("/bip-async/", data=big, headers=CT)
    assert resp.status == 500 and read_async_reply(await resp.read()).error.error_code == "BODY_TOO_LARGE"
    resp = await client.get("/bip-async/")
    assert resp.status == 405 and (await resp.json())["error"]["code"] == "METHOD_NOT_ALLOWED"


async def test_ws_security_is_verified_like_on_the_sync_channel(make_app, session_pki):
    from shlyuz.dsig.signer import signer_for

    gw, client = await make_app([Echo()])
    signer = signer_for(session_pki, "system/ESOBES")
    demo = shep(client)
    demo.sign_envelope = signer.envelope
    sent = await demo.send_message(ECHO_SERVICE, payload=b"<a/>")
    entry = (await gw.storage.query_exchanges(JournalQuery(message_id=sent.message_id, limit=1)))[0]
    assert entry.verdicts["signature"]["wsse"]["verified"] is True
    assert b"&lt;a/&gt;" in demo.last.request
    tampered = demo.last.request.replace(b"&lt;a/&gt;", b"&lt;b/&gt;")
    assert await fault_of(client, tampered) == "SIGNATURE_INVALID"


async def test_the_same_sender_message_id_is_accepted_once(make_app):
    gw, client = await make_app([Echo()])
    demo = shep(client)
    first = await demo.send_message(ECHO_SERVICE, payload=b"<a/>", message_id="client-42")
    again = await demo.send_message(ECHO_SERVICE, payload=b"<a/>", message_id="client-42")  # a retry after a timeout
    assert again.message_id == first.message_id
    assert len(await gw.async_channel.store.find(recipient_id="esobes", service_id=ECHO_SERVICE)) == 1
    with pytest.raises(AsyncFault) as err:
        await demo.send_message(ECHO_SERVICE, payload=b"<b/>", message_id="client-42")
    assert err.value.code == "ASYNC_DUPLICATE_MESSAGE_ID"
    other = await shep(client, "ext-client", "client-pw").send_message(ECHO_SERVICE, payload=b"<a/>", message_id="client-42")
    assert other.message_id != first.message_id  # messageIds are the sender's own: another sender may use it too
