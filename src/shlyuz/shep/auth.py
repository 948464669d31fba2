"""Sender authentication and authorisation against the sender registry (pure functions)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.fixtures.models import Sender
from shlyuz.shep.events import SenderInfo


def password_matches(expected: str, given: str) -> bool:
    """Clear text, or its SHA-256 in hex (real senders send either: kz_egov.md §1.4). Constant time."""
    if hmac.compare_digest(expected.encode(), given.encode()):
        return True
    digest = hashlib.sha256(expected.encode()).hexdigest().encode()
    return hmac.compare_digest(digest, given.strip().lower().encode())  # bytes: non-ASCII input is fine


def authenticate(info: SenderInfo, senders: Mapping[str, Sender]) -> Sender:
    sender = senders.get(info.sender_id)
    if sender is None:
        raise ShlyuzError(ErrorCode.SENDER_UNKNOWN, f"senderId {info.sender_id!r} is not registered")
    if info.password is None or info.password == "":
        raise ShlyuzError(ErrorCode.AUTH_FAILED, f"sender {info.sender_id!r}: sender/password is missing")
    if not password_matches(sender.password, info.password):
        raise ShlyuzError(ErrorCode.AUTH_FAILED, f"sender {info.sender_id!r}: wrong password")
    return sender


def authorize(sender: Sender, service_id: str) -> None:
    if not sender.may_call(service_id):
        raise ShlyuzError(
            ErrorCode.SERVICE_NOT_ALLOWED,
            f"sender {sender.sender_id!r} is not allowed to call serviceId {service_id!r}",
        )
