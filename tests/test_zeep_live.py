"""An independent SOAP stack (zeep) reads the WSDL the gateway serves and calls SendMessage over HTTP."""

from __future__ import annotations

import asyncio

import zeep
from lxml import etree
from zeep import xsd

from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.shep import ns


def _call(wsdl_url: str, iin: str, *, escaped: bool):
    client = zeep.Client(wsdl_url)
    request_type = client.get_type("{http://bip.bee.kz/SyncChannel/v10/Types}SyncMessageInfo")
    fields = f"<messageId>z-1</messageId><senderCode>zeep</senderCode><iin>{iin}</iin>"
    if escaped:
        data = xsd.AnyObject(xsd.String(), f'<cs:Request xmlns:cs="{ns.GBDFL_MESSAGE}">{fields}</cs:Request>')
    else:
        data = etree.fromstring(f'<data xmlns:cs="{ns.GBDFL_MESSAGE}"><cs:Request>{fields}</cs:Request></data>')[0]
    info = request_type(
        messageId="zeep-msg-1",
        serviceId="GBDFL_UniversalServiceSync",
        messageDate="2026-01-15T10:00:00+05:00",
        sender={"senderId": "shlyuz-demo", "password": "demo-password"},
    )
    if escaped:
        return client.service.SendMessage(request={"requestInfo": info, "requestData": {"data": data}})
    # zeep str()s a raw lxml element placed in anyType: render the message, then put the element in place
    message = client.create_message(client.service, "SendMessage", request={"requestInfo": info, "requestData": {}})
    request_data = message.find(".//requestData")
    etree.SubElement(request_data, "data").append(data)
    transport = client.transport
    address = client.service._binding_options["address"]
    response = transport.post_xml(address, message, {"SOAPAction": '""', "Content-Type": "text/xml; charset=utf-8"})
    return client.service._binding.process_reply(client, client.service._binding.get("SendMessage"), response)


async def test_zeep_calls_send_message_through_the_served_wsdl(shep):
    url = str(shep.client.make_url("/bip-sync/?wsdl"))
    iin = DEMO_IINS["applicant"]
    for escaped in (True, False):
        result = await asyncio.to_thread(_call, url, iin, escaped=escaped)
        info = result.responseInfo
        assert info.status.code == "SCSS001"
        assert info.status.message == "Message has been processed successfully"
        assert info.sessionId.startswith("{")
        data = result.responseData.data
        if escaped:  # answered in kind: an escaped string zeep hands over as str
            assert isinstance(data, str) and f"<iin>{iin}</iin>" in data
        else:  # inline XML of a type zeep does not know: it hands over the elements
            elements = data if isinstance(data, list) else [data]
            text = "".join(etree.tostring(el, encoding="unicode") for el in elements)
            assert f"<iin>{iin}</iin>" in text


async def test_zeep_receives_a_fault_as_an_exception(shep):
    url = str(shep.client.make_url("/bip-sync/?wsdl"))

    def call():
        client = zeep.Client(url)
        try:
            client.service.SendMessage(
                request={
                    "requestInfo": {
                        "messageId": "z-2", "serviceId": "NO_SUCH", "messageDate": "2026-01-15T10:00:00+05:00",
                        "sender": {"senderId": "shlyuz-demo", "password": "demo-password"},
                    },
                    "requestData": {},
                }
            )
        except zeep.exceptions.Fault as fault:
            return fault
        raise AssertionError("no fault")

    fault = await asyncio.to_thread(call)
    assert fault.code.endswith("Client")
    assert "SERVICE_NOT_FOUND" in fault.message
    detail = fault.detail
    assert detail.find(".//errorCode").text == "SERVICE_NOT_FOUND"
