"""Hand-written SHEP SyncChannel ``SendMessage`` envelopes for tests (test helper, not a test module).

Deliberately independent of shlyuz's own client: the envelope is built as text, the way a third-party client would.

API::

    fields(**values) -> str
        Unqualified ``<name>value</name>`` elements in the given order, values XML-escaped; None/"" are skipped.
        fields(iin="900101300007") == "<iin>900101300007</iin>"

    send_message(service_id, data_xml, *, data_type=None, prefix="cs", sender="shlyuz-demo",
                 password="demo-password", escaped=False, message_id=None, correlation_id=None,
                 message_date="2025-01-15T10:00:00.000+05:00", extra_info="") -> bytes
        A SOAP 1.1 SendMessage (UTF-8 bytes) for ``read_sync_request(body, "text/xml")`` or an HTTP POST.

        How ``requestData/data`` is built:
        * ``data_type=(namespace, "Request")``, inline (default): ``data_xml`` is the payload's fields and goes
          inside ``<data xmlns:cs=namespace xsi:type="cs:Request">`` (the usual GBD FL style);
        * ``data_type=(namespace, "Request")``, ``escaped=True``: the fields are wrapped in ``<cs:Request
          xmlns:cs=namespace>…</cs:Request>`` and sent as an escaped string ``<data xsi:type="xs:string">``;
        * ``data_type=None``: ``data_xml`` is a complete payload (its own root element, or any text/markup you
          want to test with), placed inside ``<data>`` as-is, or escaped when ``escaped=True``;
        * ``data_xml=None``: ``requestData`` is sent without a ``data`` element.
        ``prefix`` is the prefix bound to the payload namespace. ``sender``/``password`` fill ``sender`` (password
        None omits the element). ``message_id`` defaults to a new UUID. ``correlation_id`` adds
        ``requestInfo/correlationId``. ``extra_info`` is raw XML inserted in ``requestInfo`` after ``sender`` (the
        place of ``properties`` and ``sessionId``).
"""

from __future__ import annotations

import uuid
from xml.sax.saxutils import escape, quoteattr

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SYNC_TYPES = "http://bip.bee.kz/SyncChannel/v10/Types"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XS = "http://www.w3.org/2001/XMLSchema"


def fields(**values: str | None) -> str:
    """``<key>value</key>`` for each non-empty value, in order, with the value XML-escaped."""
    return "".join(f"<{k}>{escape(v)}</{k}>" for k, v in values.items() if v not in (None, ""))


def _data(data_xml: str | None, data_type: tuple[str, str] | None, prefix: str, escaped: bool) -> str:
    if data_xml is None:
        return ""
    if data_type is not None:
        namespace, type_name = data_type
        if escaped:
            document = f"<{prefix}:{type_name} xmlns:{prefix}={quoteattr(namespace)}>{data_xml}</{prefix}:{type_name}>"
            return _data(document, None, prefix, escaped=True)
        return (
            f"<data xmlns:{prefix}={quoteattr(namespace)} xmlns:xsi={quoteattr(XSI)} "
            f'xsi:type="{prefix}:{type_name}">{data_xml}</data>'
        )
    if escaped:
        return f'<data xmlns:xs="{XS}" xmlns:xsi="{XSI}" xsi:type="xs:string">{escape(data_xml)}</data>'
    return f"<data>{data_xml}</data>"


def send_message(
    service_id: str,
    data_xml: str | None,
    *,
    data_type: tuple[str, str] | None = None,
    prefix: str = "cs",
    sender: str = "shlyuz-demo",
    password: str | None = "demo-password",
    escaped: bool = False,
    message_id: str | None = None,
    correlation_id: str | None = None,
    message_date: str = "2025-01-15T10:00:00.000+05:00",
    extra_info: str = "",
) -> bytes:
    """A SOAP 1.1 SyncChannel SendMessage; see the module docstring."""
    message_id = message_id if message_id is not None else str(uuid.uuid4())
    corr = f"<correlationId>{escape(correlation_id)}</correlationId>" if correlation_id is not None else ""
    pwd = f"<password>{escape(password)}</password>" if password is not None else ""
    envelope = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<soap:Envelope xmlns:soap="{SOAP11}"><soap:Header/><soap:Body>'
        f'<ns3:SendMessage xmlns:ns3="{SYNC_TYPES}"><request>'
        f"<requestInfo><messageId>{escape(message_id)}</messageId>{corr}"
        f"<serviceId>{escape(service_id)}</serviceId><messageDate>{escape(message_date)}</messageDate>"
        f"<sender><senderId>{escape(sender)}</senderId>{pwd}</sender>{extra_info}</requestInfo>"
        f"<requestData>{_data(data_xml, data_type, prefix, escaped)}</requestData>"
        f"</request></ns3:SendMessage></soap:Body></soap:Envelope>"
    )
    return envelope.encode("utf-8")
