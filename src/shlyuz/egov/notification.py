"""The receiving system's immediate answer to an Application: registered (with its number) or rejected (why).

Sent at once as the NOTIFICATION correlated to the REQUEST (E-sobes, E-licensing, АРМ РШЭП). A ``rejected``
notification is final: the application was not registered and no RESPONSE follows. shlyuz's design (no public
format exists); schema ``schemas/egov/notification.xsd``; signed by the receiving system's identity when it has one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from lxml import etree
from pydantic import model_validator

from shlyuz.egov.documents import (
    Code,
    Short,
    Slug,
    Text,
    _leaves,
    _Model,
    _read,
    _root,
    _validated,
)

NTF_NS = "urn:shlyuz:egov:notification:1.0"


class Rejection(_Model):
    code: Code
    text: Text


class Notification(_Model):
    system: Short  # the participant id: esobes, elicensing, arm-rshep
    status: Literal["registered", "rejected"]
    application_number: Short | None = None
    service: Slug | None = None
    reference: Short | None = None  # the Application's own reference, echoed
    received_at: datetime
    reason: Rejection | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Notification:
        if self.status == "registered" and not self.application_number:
            raise ValueError("a registered notification carries the applicationNumber")
        if self.status == "rejected" and self.reason is None:
            raise ValueError("a rejected notification carries the reason (code and text)")
        return self


_SHAPE = {"system": "leaf", "status": "leaf", "applicationNumber": "leaf", "service": "leaf", "reference": "leaf",
          "receivedAt": "leaf", "reason": "reason"}  # fmt: skip


def build_notification(n: Notification) -> etree._Element:
    root = etree.Element(f"{{{NTF_NS}}}Notification", nsmap={"ntf": NTF_NS})
    _leaves(root, NTF_NS, n, ("system", "status", "application_number", "service", "reference", "received_at"))
    if n.reason is not None:
        etree.SubElement(root, f"{{{NTF_NS}}}reason", {"code": n.reason.code}).text = n.reason.text
    return root


def parse_notification(data: bytes | etree._Element) -> Notification:
    return _validated(Notification, _read(_root(data), NTF_NS, _SHAPE, "Notification"), "Notification")
