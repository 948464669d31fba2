"""AsyncChannel v10, sans-IO: every message shlyuz writes is valid against the official XSDs and reads back the same;
the reader refuses what the schema refuses, precisely; the state machine refuses illegal moves; the retry schedule."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from lxml import etree
from xsdcheck import validate_async_body

from shlyuz.clock import KZ
from shlyuz.errors import ErrorCode, FaultKind, ShlyuzError
from shlyuz.shep import ns
from shlyuz.shep.async_events import (
    AsyncMessageInfo,
    ChangeStatusNotification,
    ChangeStatusNotifyRequest,
    ChangeStatusNotifyResponse,
    DeliveryNotification,
    DeliveryStatusInfo,
    GetMessagesRequest,
    GetMessagesResponse,
    GetMessageStatusRequest,
    GetMessageStatusResponse,
    MessageState,
    MessageStatusInfo,
    MessageType,
    Operation,
    ReceiveStatus,
    ResendMessage,
    SendDeliveryNotificationRequest,
    SendDeliveryNotificationResponse,
    SendMessageResponse,
    WireMessage,
)
from shlyuz.shep.async_reader import read_async_request, read_client_request
from shlyuz.shep.async_responses import read_async_reply
from shlyuz.shep.async_states import (
    IllegalTransition,
    RetryPolicy,
    after_failure,
    is_final,
    transition,
)
from shlyuz.shep.async_writer import (
    write_async_fault,
    write_change_status_notification,
    write_change_status_response,
    write_delivery_notification_response,
    write_get_message_status,
    write_get_message_status_response,
    write_get_messages,
    write_get_messages_response,
    write_push,
    write_send_delivery_notification,
    write_send_message,
    write_send_message_response,
)
from shlyuz.shep.events import DataKind, ErrorInfo, Property, SenderInfo
from shlyuz.shep.responses import Fault

NOW = datetime(2026, 1, 15, 10, 0, tzinfo=KZ)
SESSION = "{f0774397-4fcd-484a-9434-f71535ee4326}"
DOC = b'<app:Application xmlns:app="urn:shlyuz:egov:application:1.0"><app:service>x &amp; y</app:service></app:Application>'
CT = "text/xml; charset=utf-8"


def _info(**kw) -> AsyncMessageInfo:
    base = {"service_id": "ESOBES_APPLICATION", "message_type": MessageType.REQUEST, "message_date": NOW,
                "sender": SenderInfo("shlyuz-demo", "demo-password"), "properties": (Property("k", "v"),)}
    base.update(kw)
    return AsyncMessageInfo(**base)


def test_send_message_roundtrips_and_is_valid_with_a_byte_exact_string_payload():
    body = write_send_message(WireMessage(_info(message_id="m-1"), DataKind.STRING, DOC))
    validate_async_body(body)
    call = read_async_request(body, CT)
    assert call.operation is Operation.SEND_MESSAGE
    msg = call.request
    assert msg.info == _info(message_id="m-1")
    assert msg.data_kind is DataKind.STRING and msg.text.encode() == DOC  # the document, character for character


def test_inline_payload_and_empty_data():
    inline = write_send_message(WireMessage(_info(), DataKind.XML, etree.fromstring(DOC)))
    validate_async_body(inline)
    msg = read_async_request(inline, CT).request
    assert msg.data_kind is DataKind.XML and etree.QName(msg.payload[0]).localname == "Application"
    empty = write_send_message(WireMessage(_info(message_type=MessageType.NOTIFICATION, correlation_id="c"), DataKind.EMPTY))
    validate_async_body(empty)
    assert read_async_request(empty, CT).request.data_kind is DataKind.EMPTY


def test_every_server_request_and_reply_is_valid_against_the_official_xsds():
    sender = SenderInfo("esobes", "pw")
    status = DeliveryStatusInfo(ReceiveStatus.MESSAGE_NOT_ACCEPTED, NOW, ResendMessage.RESEND,
                                ErrorInfo("X", "bad document", NOW))
    requests = [
        write_get_messages(GetMessagesRequest("S", sender, correlation_id="c", request_date=NOW, amount=5)),
        write_get_message_status(GetMessageStatusRequest("m", NOW, sender)),
        write_send_delivery_notification(
            SendDeliveryNotificationRequest(DeliveryNotification("m", "S", NOW, status), NOW, sender)),
    ]
    for body in requests:
        validate_async_body(body)
        assert read_async_request(body, CT).sender == sender
    stored = WireMessage(_info(message_id="m", correlation_id="m", sender=SenderInfo("shlyuz-demo")), DataKind.STRING, DOC)
    replies = {
        write_send_message_response(SendMessageResponse("m", "m", NOW, SESSION)): SendMessageResponse,
        write_get_messages_response(GetMessagesResponse(NOW, SESSION, (stored, stored))): GetMessagesResponse,
        write_get_message_status_response(GetMessageStatusResponse(
            MessageState.DELIVERED, MessageStatusInfo("DELIVERED", "ok", NOW), NOW, SESSION)): GetMessageStatusResponse,
        write_delivery_notification_response(SendDeliveryNotificationResponse("n", NOW, SESSION)):
            SendDeliveryNotificationResponse,
    }  # fmt: skip
    for body, cls in replies.items():
        validate_async_body(body)
        assert isinstance(read_async_reply(body), cls)
    pulled = read_async_reply(list(replies)[1])
    assert [m.text.encode() for m in pulled.messages] == [DOC, DOC]


def test_what_shep_sends_to_a_participant_is_valid_against_the_official_client_xsd():
    push = write_push(WireMessage(_info(message_id="m", correlation_id="m"), DataKind.STRING, DOC))
    note = write_change_status_notification(ChangeStatusNotifyRequest(
        ChangeStatusNotification("n", "m", NOW, MessageState.NOT_DELIVERED,
                                 MessageStatusInfo("NOT_DELIVERED", "gave up", NOW), ErrorInfo("E", "timeout", NOW)),
        NOW, SESSION))  # fmt: skip
    for body in (push, note):
        validate_async_body(body, client=True)
    assert read_client_request(push, CT).operation is Operation.SEND_MESSAGE
    call = read_client_request(note, CT)
    assert call.operation is Operation.CHANGE_STATUS_NOTIFICATION
    assert call.request.notification.state is MessageState.NOT_DELIVERED
    # a participant's answers
    ack = write_send_message_response(SendMessageResponse("m", "m", NOW), namespace=ns.ASYNC_CLIENT)
    validate_async_body(ack, client=True)
    resp = write_change_status_response(ChangeStatusNotifyResponse(NOW, SESSION))
    validate_async_body(resp, client=True)
    assert isinstance(read_async_reply(resp), ChangeStatusNotifyResponse)
    # real pushes use the .../Types namespace instead of .../Types/Client: accepted too
    assert read_client_request(write_push(WireMessage(_info(), DataKind.EMPTY), namespace=ns.ASYNC_TYPES), CT)


@pytest.mark.parametrize("op", [Operation.SEND_MESSAGE, Operation.GET_MESSAGES, Operation.GET_MESSAGE_STATUS,
                                Operation.SEND_DELIVERY_NOTIFICATION, Operation.CHANGE_STATUS_NOTIFICATION])
def test_faults_carry_the_operations_fault_element(op):
    body = write_async_fault(ErrorInfo("SCHEMA_VALIDATION", "bad", NOW, session_id=SESSION), FaultKind.CLIENT, op)
    validate_async_body(body)
    fault = read_async_reply(body)
    assert isinstance(fault, Fault) and fault.error.error_code == "SCHEMA_VALIDATION"
    assert f"{op.value}Fault1_{op.value}Fault".encode() in body


def _send(info_xml: str) -> bytes:
    return (
        f'<soap:Envelope xmlns:soap="{ns.SOAP11}"><soap:Body><ns2:sendMessage xmlns:ns2="{ns.ASYNC_TYPES}"><request>'
        f"<messageInfo>{info_xml}</messageInfo><messageData><data/></messageData></request></ns2:sendMessage>"
        f"</soap:Body></soap:Envelope>"
    ).encode()


SENDER = "<sender><senderId>a</senderId></sender>"


@pytest.mark.parametrize(
    "body, code, words",
    [
        (_send(f"<messageType>REQUEST</messageType><messageDate>2026-01-15T10:00:00+05:00</messageDate>{SENDER}"),
         ErrorCode.SCHEMA_VALIDATION, "messageInfo/serviceId is required"),
        (_send(f"<serviceId>S</serviceId><messageType>ASK</messageType><messageDate>2026-01-15T10:00:00+05:00</messageDate>{SENDER}"),
         ErrorCode.SCHEMA_VALIDATION, "'ASK' is not one of REQUEST"),
        (_send(f"<serviceId>S</serviceId><messageType>REQUEST</messageType><messageDate>yesterday</messageDate>{SENDER}"),
         ErrorCode.SCHEMA_VALIDATION, "is not an xsd:dateTime"),
        (_send(f"<serviceId>S</serviceId><messageType>REQUEST</messageType><messageDate>2026-01-15T10:00:00+05:00</messageDate>{SENDER}<sessionId>1</sessionId>"),
         ErrorCode.SCHEMA_VALIDATION, "not a braced GUID"),
        (_send("<serviceId>S</serviceId>").replace(b"<messageData><data/></messageData>", b""),
         ErrorCode.SCHEMA_VALIDATION, "sendMessage/request/messageData is required"),
        (f'<soap:Envelope xmlns:soap="{ns.SOAP11}"><soap:Body><ns2:getMessages xmlns:ns2="{ns.ASYNC_TYPES}"><request>'
         f"<serviceId>S</serviceId><amount>many</amount></request></ns2:getMessages></soap:Body></soap:Envelope>".encode(),
         ErrorCode.SCHEMA_VALIDATION, "amount 'many' is not an xsd:int"),
        (f'<soap:Envelope xmlns:soap="{ns.SOAP11}" xmlns:xsi="{ns.XSI}"><soap:Body><ns2:getMessageStatus xmlns:ns2="{ns.ASYNC_TYPES}">'
         f'<request xsi:nil="true"/></ns2:getMessageStatus></soap:Body></soap:Envelope>'.encode(),
         ErrorCode.SCHEMA_VALIDATION, "request must not be nil"),
        (f'<soap:Envelope xmlns:soap="{ns.SOAP11}"><soap:Body><ns2:changeMassageStatusNotification xmlns:ns2="{ns.ASYNC_TYPES}"/>'
         f"</soap:Body></soap:Envelope>".encode(), ErrorCode.UNKNOWN_OPERATION, "/bip-async/ takes sendMessage"),
    ],
)  # fmt: skip
def test_reader_refuses_with_precise_messages(body, code, words):
    with pytest.raises(ShlyuzError) as err:
        read_async_request(body, CT)
    assert err.value.code is code
    assert words in err.value.message


def test_state_machine_allows_the_protocol_moves_only():
    S = MessageState
    assert transition(S.ON_DELIVERY, S.DELIVERED) is S.DELIVERED
    assert transition(transition(S.ON_DELIVERY, S.NOT_DELIVERED), S.DELIVERY_STOPPED) is S.DELIVERY_STOPPED
    assert transition(S.NOT_DELIVERED, S.ON_DELIVERY) is S.ON_DELIVERY  # the recipient asked for a resend
    for current, target in [(S.DELIVERY_STOPPED, S.ON_DELIVERY), (S.DELIVERY_STOPPED, S.DELIVERED),
                            (S.ON_DELIVERY, S.DELIVERY_STOPPED), (S.DELIVERED, S.DELIVERY_STOPPED),
                            (S.ON_DELIVERY, S.ON_DELIVERY)]:  # fmt: skip
        with pytest.raises(IllegalTransition, match=f"{current.value} cannot become {target.value}"):
            transition(current, target)
    assert is_final(S.DELIVERY_STOPPED) and not is_final(S.DELIVERED)


def test_retry_schedule_doubles_caps_and_jitters_then_gives_up():
    policy = RetryPolicy(max_attempts=4, backoff_base=2.0, backoff_max=10.0, jitter=0.5)
    assert [policy.delay(n, lambda: 0.5) for n in (1, 2, 3, 4)] == [timedelta(seconds=s) for s in (2, 4, 8, 10)]
    assert policy.delay(2, lambda: 0.0) == timedelta(seconds=2)  # -50 %
    assert policy.delay(2, lambda: 1.0) == timedelta(seconds=6)  # +50 %
    assert policy.delay(9, lambda: 1.0) == timedelta(seconds=10)  # never beyond the cap
    assert after_failure(policy, 3, lambda: 0.5).retry_in == timedelta(seconds=8)
    assert after_failure(policy, 4).give_up


def test_own_async_schemas_accept_what_shlyuz_writes_and_keep_the_common_copy_identical():
    from xsdcheck import REPO, own_async_schema

    shep_dir = REPO / "schemas" / "shep"
    assert (shep_dir / "async" / "common-v10.xsd").read_bytes() == (shep_dir / "common-v10.xsd").read_bytes()
    stored = WireMessage(_info(message_id="m", correlation_id="m"), DataKind.STRING, DOC)
    validate_async_body(write_get_messages_response(GetMessagesResponse(NOW, SESSION, (stored,))),
                        schema=own_async_schema())  # fmt: skip
    validate_async_body(write_push(stored), schema=own_async_schema(client=True))
    bad = write_send_message_response(SendMessageResponse("m", "m", NOW, "not-a-guid"))
    with pytest.raises(AssertionError, match="sessionId"):
        validate_async_body(bad, schema=own_async_schema())
    with pytest.raises(AssertionError, match="sessionId"):
        validate_async_body(bad)  # the official set agrees


def test_async_schema_files_document_every_element_in_english_and_zeep_reads_both_wsdls():
    import zeep
    from xsdcheck import REPO

    folder = REPO / "schemas" / "shep" / "async"
    for path in sorted(folder.glob("*.xsd")):
        root = etree.parse(str(path)).getroot()
        assert root.get("elementFormDefault") is None, path
        for el in root.iter(f"{{{ns.XS}}}element"):
            langs = [d.get("{http://www.w3.org/XML/1998/namespace}lang")
                     for d in el.findall(f"{{{ns.XS}}}annotation/{{{ns.XS}}}documentation")]  # fmt: skip
            assert "en" in langs, f"{path.name}: element {el.get('name')} has no English documentation"
    server = zeep.Client(str(folder / "AsyncChannel.wsdl"))
    assert sorted(server.service._operations) == ["getMessageStatus", "getMessages", "sendDeliveryNotification",
                                                  "sendMessage"]  # fmt: skip
    client = zeep.Client(str(folder / "AsyncChannelClient.wsdl"))
    assert sorted(client.service._operations) == ["changeMassageStatusNotification", "sendMessage"]
