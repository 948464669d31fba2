"""Passwords, bearer tokens and login sessions (sans-IO helpers plus the record-store glue).

- Passwords are stored as ``scrypt$n$r$p$salt$hash`` (hashlib.scrypt, 16-byte random salt), compared in constant
  time. The policy is egov.kz-like: 8 to 64 characters, at least one lower-case and one upper-case Latin letter and
  one digit, no spaces, not the IIN itself.
- A token is 32 random bytes (URL-safe base64); only its SHA-256 is stored (record kind ``<realm>-session``, key the
  hash), with the subject and the expiry on the gateway clock. Realms: ``portal`` (users), ``con`` (operators).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from shlyuz.errors import ErrorCode
from shlyuz.gateway.jsonapi import ApiError
from shlyuz.storage.records import RecordStore

SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 2**14, 8, 1, 32
PASSWORD_MIN, PASSWORD_MAX = 8, 64
SESSION_TTL = timedelta(minutes=30)  # egov.kz ends an idle session after about this long; here: from login


_CLASSES = (("a lower-case Latin letter", r"[a-z]"), ("an upper-case Latin letter", r"[A-Z]"), ("a digit", r"[0-9]"))


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_LEN)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def password_problem(password: str, iin: str | None = None) -> str | None:
    """Why ``password`` breaks the policy, or None."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        return f"the password has {len(password)} characters; {PASSWORD_MIN} to {PASSWORD_MAX} are required"
    if re.search(r"\s", password):
        return "the password contains white space"
    missing = [
        what
        for what, pattern in _CLASSES
        if not re.search(pattern, password)
    ]
    if missing:
        return "the password needs " + ", ".join(missing)
    if iin and iin in password:
        return "the password must not contain the IIN"
    return None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    realm: str
    subject: dict[str, Any]  # e.g. {"iin": ..., "bin": ..., "account": ..., "method": "password"}
    expires_at: datetime


async def open_session(
    records: RecordStore, realm: str, subject: dict[str, Any], now: datetime, ttl: timedelta = SESSION_TTL
) -> tuple[str, datetime]:
    token = secrets.token_urlsafe(32)
    expires = now + ttl
    data = {"realm": realm, "subject": subject, "createdAt": now.isoformat(), "expiresAt": expires.isoformat()}
    await records.put(f"{realm}-session", token_hash(token), data, expect=0)
    return token, expires


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization")
    if not header:
        raise ApiError(ErrorCode.UNAUTHENTICATED, "no Authorization header: send 'Authorization: Bearer <token>'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(ErrorCode.UNAUTHENTICATED, "the Authorization header must be 'Bearer <token>'")
    return token.strip()


async def resolve_session(records: RecordStore, realm: str, token: str, now: datetime) -> Session:
    key = token_hash(token)
    record = await records.get(f"{realm}-session", key)
    if record is None:
        raise ApiError(ErrorCode.UNAUTHENTICATED, f"the bearer token is not a {realm} session (unknown or logged out)")
    expires = datetime.fromisoformat(record.data["expiresAt"])
    if now >= expires:
        await records.delete(f"{realm}-session", key)
        raise ApiError(
            ErrorCode.TOKEN_EXPIRED, f"the session expired at {expires.isoformat()} (gateway clock): log in again",
            status=401,
        )
    return Session(realm, record.data["subject"], expires)


async def close_session(records: RecordStore, realm: str, token: str) -> bool:
    return await records.delete(f"{realm}-session", token_hash(token))
