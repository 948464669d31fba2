"""The State Corporation's checks before an application is accepted (the seed's SC chain: 3 процесс — requests
through SHEP to GBD FL for the applicant and to ENIS for the power of attorney; 1 шарт — the data exist; 4 процесс —
"the data cannot be obtained"). Each check is a real SHEP sync exchange through the gateway's pipeline
(:func:`shlyuz.gateway.internal.call_sync`), journaled; the portal uses :func:`check_poa` for representatives too.

The reading of the replies (:func:`read_person`, :func:`read_poa`) is pure.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from lxml import etree

from shlyuz.client import payload
from shlyuz.errors import ErrorCode
from shlyuz.gateway.internal import SyncResult, call_sync
from shlyuz.gateway.jsonapi import ApiError
from shlyuz.shep import ns
from shlyuz.shep.writer import format_datetime

if TYPE_CHECKING:
    from shlyuz.gateway.app import Gateway

GBDFL_SERVICE = "GBDFL_UniversalServiceSync"
ENIS_SERVICE = "ENIS_POA_CHECK"


def _children(el: etree._Element | None, name: str) -> list[etree._Element]:
    if el is None:
        return []
    return [c for c in el if isinstance(c.tag, str) and etree.QName(c).localname == name]


def _text(el: etree._Element | None, *path: str) -> str | None:
    for name in path:
        found = _children(el, name)
        if not found:
            return None
        el = found[0]
    return "".join(el.itertext()).strip() if el is not None else None


@dataclass(frozen=True, slots=True)
class PersonCheck:
    iin: str
    found: bool
    name: str | None
    deceased: bool
    message: str
    exchange: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"system": "GBDFL", "iin": self.iin, "found": self.found, "name": self.name,
                "deceased": self.deceased, "message": self.message, "exchange": self.exchange}  # fmt: skip


def read_person(iin: str, result: SyncResult) -> PersonCheck:
    persons = [p for holder in _children(result.payload, "persons") for p in _children(holder, "person")]
    person = persons[0] if persons else None
    name = None
    deceased = False
    if person is not None:
        name = " ".join(x for x in (_text(person, "surname"), _text(person, "name"), _text(person, "patronymic")) if x)
        deceased = _text(person, "lifeStatus", "code") not in (None, "0") or _text(person, "deathDate") is not None
    return PersonCheck(iin, result.ok and person is not None, name, deceased, result.message, result.journal_ref())


@dataclass(frozen=True, slots=True)
class PoaCheck:
    number: str
    found: bool
    status: str | None  # VALID | EXPIRED | REVOKED | NOT_YET_VALID
    notarised: bool | None
    principal: str | None  # the principal's IIN or BIN
    attorney: str | None
    valid_to: str | None
    message: str  # ENIS's own verdict in words
    exchange: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"system": "ENIS", "number": self.number, "found": self.found, "status": self.status,
                "notarised": self.notarised, "principal": self.principal, "attorney": self.attorney,
                "validTo": self.valid_to, "message": self.message, "exchange": self.exchange}  # fmt: skip


def read_poa(number: str, result: SyncResult) -> PoaCheck:
    poas = [p for holder in _children(result.payload, "powersOfAttorney") for p in _children(holder, "powerOfAttorney")]
    poa = poas[0] if poas else None
    if poa is None or not result.ok:
        return PoaCheck(number, False, None, None, None, None, None, result.message, result.journal_ref())
    principal = _text(poa, "principal", "iin") or _text(poa, "principal", "bin")
    found_number = _text(poa, "number") or number
    status = _text(poa, "status", "code")
    # SCSS001 carries the standard text only: say ENIS's verdict from the record it returned
    words = f"Power of attorney {found_number} is {status} ({_text(poa, 'status', 'nameRu')})"
    words += f", valid {_text(poa, 'validFrom')}..{_text(poa, 'validTo')}"
    if revoked := _text(poa, "revocationDate"):
        words += f", revoked on {revoked}"
    words += f"; checked on {_text(result.payload, 'checkDate')}"
    return PoaCheck(
        number=found_number,
        found=True,
        status=status,
        notarised=_text(poa, "notarised") == "true",
        principal=principal,
        attorney=_text(poa, "attorney", "iin"),
        valid_to=_text(poa, "validTo"),
        message=words,
        exchange=result.journal_ref(),
    )


async def check_person(gateway: Gateway, sender_id: str, iin: str) -> PersonCheck:
    """GBD FL by IIN; PERSON_NOT_FOUND (422) when GBD FL does not have the person or records a death."""
    request = payload(ns.GBDFL_MESSAGE, "Request", {
        "messageId": str(uuid.uuid4()), "messageDate": format_datetime(gateway.clock.now()),
        "senderCode": sender_id, "iin": iin,
    })  # fmt: skip
    check = read_person(iin, await call_sync(gateway, sender_id, GBDFL_SERVICE, request))
    if not check.found:
        raise ApiError(ErrorCode.PERSON_NOT_FOUND,
                       f"the data cannot be obtained: GBD FL has no person with IIN {iin} ({check.message})",
                       status=422)  # fmt: skip
    if check.deceased:
        raise ApiError(ErrorCode.PERSON_NOT_FOUND,
                       f"GBD FL records the person with IIN {iin} ({check.name}) as deceased", status=422)  # fmt: skip
    return check


async def check_poa(gateway: Gateway, sender_id: str, number: str, *, principal: str, attorney: str,
                    on: date | None = None) -> PoaCheck:  # fmt: skip
    """ENIS by number; POA_NOT_FOUND or POA_NOT_VALID (422, with ENIS's verdict) unless it is VALID, notarised and
    between these parties."""
    fields = {"messageId": str(uuid.uuid4()), "messageDate": format_datetime(gateway.clock.now()),
              "senderCode": sender_id, "poaNumber": number, "checkDate": (on or gateway.clock.now().date()).isoformat()}
    check = read_poa(number, await call_sync(gateway, sender_id, ENIS_SERVICE, payload(ns.ENIS_POA, "PoaCheckRequest", fields)))
    if not check.found:
        raise ApiError(ErrorCode.POA_NOT_FOUND, f"ENIS: {check.message}", status=422)
    if check.status != "VALID":
        raise ApiError(ErrorCode.POA_NOT_VALID, f"ENIS verdict {check.status}: {check.message}", status=422)
    if not check.notarised:
        raise ApiError(ErrorCode.POA_NOT_VALID,
                       f"ENIS: power of attorney {check.number} is not notarised; enter its data as a non-notarised "
                       "power of attorney", status=422)  # fmt: skip
    if check.principal != principal or check.attorney != attorney:
        raise ApiError(ErrorCode.POA_NOT_VALID,
                       f"ENIS: power of attorney {check.number} is from {check.principal} to {check.attorney}, not "
                       f"from the applicant {principal} to the representative {attorney}", status=422)  # fmt: skip
    return check
