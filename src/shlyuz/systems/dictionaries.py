"""Dictionary values shared by the mocked systems (``{code, nameRu, nameKz}`` triples) and the small helpers that
read their business requests and write their payloads.

Provenance (kz_egov.md §2.1): the ``{code, nameRu, nameKz, changeDate?}`` shape is CONFIRMED from the GBD FL schema;
``messageResult`` ``00000`` "Сообщение успешно обработано" is CONFIRMED from a public sample. Every other
messageResult code below, the Kazakh names marked GUESS and the ENIS statuses are shlyuz's design.
"""

from __future__ import annotations

import re
from datetime import date

from lxml import etree

from shlyuz.fixtures.models import DictValue
from shlyuz.errors import ShlyuzError
from shlyuz.shep import ns
from shlyuz.shep.reader import parse_datetime

XSI_TYPE = ns.q(ns.XSI, "type")
DS_SIGNATURE = ns.q(ns.DS, "Signature")

# --- messageResult (business result inside the payload, not the SHEP status) -----------------------------------

RESULT_OK = DictValue(code="00000", name_ru="Сообщение успешно обработано", name_kz="Хабарлама сәтті өңделді")
RESULT_NOT_FOUND = DictValue(code="00001", name_ru="Данные не найдены", name_kz="Деректер табылмады")  # GUESS
RESULT_BAD_REQUEST = DictValue(code="00002", name_ru="Некорректный запрос", name_kz="Сұрау дұрыс емес")  # GUESS
RESULT_BAD_IIN = DictValue(code="00003", name_ru="Некорректный ИИН", name_kz="ЖСН дұрыс емес")  # GUESS (GBD FL only)

# --- participants (sender / receiver blocks) ---------------------------------------------------------------------

GBDFL_PARTICIPANT = DictValue(code="GBDFL", name_ru="ГБД ФЛ", name_kz="ЖТ МДҚ")
ENIS_PARTICIPANT = DictValue(code="ENIS", name_ru="ЕНИС", name_kz="БНАЖ")

# --- GBD FL ------------------------------------------------------------------------------------------------------

# regAddress/status: samples show code 0 and 1 for "Зарегистрирован"; shlyuz writes 1.
ADDRESS_REGISTERED = DictValue(code="1", name_ru="Зарегистрирован", name_kz="Тіркелген")

# --- ENIS power-of-attorney status at the check date (shlyuz's design) -------------------------------------------

POA_STATUSES: dict[str, DictValue] = {
    "VALID": DictValue(code="VALID", name_ru="Действительна", name_kz="Жарамды"),
    "EXPIRED": DictValue(code="EXPIRED", name_ru="Срок действия истёк", name_kz="Қолданылу мерзімі өтті"),
    "REVOKED": DictValue(code="REVOKED", name_ru="Отменена", name_kz="Күші жойылды"),
    "NOT_YET_VALID": DictValue(
        code="NOT_YET_VALID", name_ru="Срок действия не наступил", name_kz="Қолданылу мерзімі басталмаған"
    ),
}


# --- writing helpers (unqualified children, as the JAXB-generated GBD FL schema has no elementFormDefault) --------


def sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def sub_opt(parent: etree._Element, tag: str, value: str | date | None) -> None:
    """Append ``<tag>value</tag>`` unless ``value`` is None; dates are written as xsd:date."""
    if value is None:
        return
    sub(parent, tag, value.isoformat() if isinstance(value, date) else value)


def sub_dict(parent: etree._Element, tag: str, value: DictValue) -> etree._Element:
    """Append a dictionary element ``<tag><code/><nameRu/><nameKz/></tag>``."""
    el = sub(parent, tag)
    sub(el, "code", value.code)
    sub(el, "nameRu", value.name_ru)
    sub(el, "nameKz", value.name_kz)
    return el


# --- reading helpers ---------------------------------------------------------------------------------------------

_DATE_RE = re.compile(r"(-?\d{4,}-\d{2}-\d{2})(Z|[+-]\d{2}:\d{2})?")


class PayloadError(Exception):
    """The business request is unusable: answered as SCSE001 with ``result`` in ``messageResult``.

    ``reason`` (English) goes into the SHEP status message and the verdict; ``reason_ru`` is appended to the Russian
    name of the messageResult. ``fields`` holds what could be read before the problem (for messageId/senderCode).
    """

    def __init__(self, result: DictValue, reason: str, reason_ru: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason
        self.reason_ru = reason_ru
        self.fields = fields or {}

    def message_result(self) -> DictValue:
        name_ru = f"{self.result.name_ru}: {self.reason_ru}"
        return DictValue(code=self.result.code, name_ru=name_ru, name_kz=self.result.name_kz)


def bad_request(reason: str, reason_ru: str, fields: dict[str, str] | None = None) -> PayloadError:
    return PayloadError(RESULT_BAD_REQUEST, reason, reason_ru, fields)


def _xsi_type(el: etree._Element) -> tuple[str | None, str] | None:
    value = el.get(XSI_TYPE)
    if value is None:
        return None
    prefix, _, local = value.strip().rpartition(":")
    return el.nsmap.get(prefix or None), local


def read_fields(
    root: etree._Element | None, namespace: str, type_name: str, allowed: tuple[str, ...], prefix: str
) -> dict[str, str]:
    """The text fields of a business request whose root is ``{namespace}type_name``.

    The root may be the element itself (wrapped or escaped-string payloads), or ``<data xsi:type="pfx:type_name">``
    (inline payloads); an unqualified ``<data>`` without ``xsi:type`` is tolerated. Fields may be unqualified (as the
    JAXB-generated schemas have it) or qualified in ``namespace``; their order is not enforced. Empty fields count as
    absent; an enveloped ``ds:Signature`` is skipped. Raises :class:`PayloadError` (messageResult 00002) naming the first problem.
    """
    expected = f"{{{namespace}}}{type_name}"
    if root is None:
        raise bad_request(
            f'requestData/data is empty; send a {type_name} '
            f'(xsi:type="{prefix}:{type_name}", xmlns:{prefix}="{namespace}")',
            "пустые данные запроса",
        )
    qn = etree.QName(root)
    xsi = _xsi_type(root)
    is_plain_data = qn.namespace is None and qn.localname == "data"
    if not (root.tag == expected or xsi == (namespace, type_name) or (is_plain_data and xsi is None)):
        label = f'<data xsi:type="{root.get(XSI_TYPE)}">' if is_plain_data else qn.text
        raise bad_request(f"the payload is {label}, not a {expected}", f"данные не являются запросом {type_name}")
    fields: dict[str, str] = {}
    if root.text and root.text.strip():
        raise bad_request(f"{type_name} holds text outside its elements", f"{type_name} содержит текст вне элементов")
    for child in root:
        if not isinstance(child.tag, str) or child.tag == DS_SIGNATURE:
            continue  # comments, PIs, and the enveloped business-data signature (checked by the gateway, not here)
        cq = etree.QName(child)
        if cq.namespace not in (None, namespace):
            raise bad_request(
                f"{type_name}: element {cq.text} is in a foreign namespace (fields are unqualified or in {namespace})",
                f"элемент {cq.localname} в чужом пространстве имён",
                fields,
            )
        name = cq.localname
        if name not in allowed:
            raise bad_request(
                f"{type_name}: unexpected element {name!r} (allowed: {', '.join(allowed)})",
                f"неизвестный элемент {name}",
                fields,
            )
        if name in fields:
            raise bad_request(f"{type_name}/{name} occurs more than once", f"элемент {name} повторяется", fields)
        if any(isinstance(c.tag, str) for c in child):
            raise bad_request(
                f"{type_name}/{name} must hold text, not elements", f"элемент {name} должен содержать текст", fields
            )
        fields[name] = "".join(child.itertext()).strip()
    return {k: v for k, v in fields.items() if v}


def parse_date(fields: dict[str, str], name: str) -> date | None:
    """An optional xsd:date field (a zone suffix is allowed and ignored); PayloadError 00002 when malformed."""
    text = fields.get(name)
    if text is None:
        return None
    m = _DATE_RE.fullmatch(text)
    try:
        if m is None:
            raise ValueError
        return date.fromisoformat(m.group(1))
    except ValueError:
        raise bad_request(
            f"{name} {text[:40]!r} is not an xsd:date (expected YYYY-MM-DD)",
            f"{name}: неверная дата {text[:40]}",
            fields,
        ) from None


def check_message_date(fields: dict[str, str]) -> None:
    """``messageDate`` is optional; when present it must be an xsd:dateTime (a bare xsd:date is tolerated)."""
    text = fields.get("messageDate")
    if text is None or _DATE_RE.fullmatch(text):
        if text is not None:
            parse_date(fields, "messageDate")
        return
    try:
        parse_datetime(text, "messageDate")
    except ShlyuzError:
        raise bad_request(
            f"messageDate {text[:40]!r} is not an xsd:dateTime (expected e.g. 2024-05-01T10:00:00.000+05:00)",
            f"messageDate: неверная дата {text[:40]}",
            fields,
        ) from None
