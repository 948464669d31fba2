"""Portal accounts: registration and login by IIN + password (persons), IIN/BIN + password (an employer's head or
employee), or EDS (a one-time challenge signed with an AUTH certificate).

Accounts are records of kind ``portal-account`` keyed by the IIN, or ``BIN/IIN`` for an employer's staff member:
``{iin, bin, name, organisation, passwordHash, methods, registeredAt}``. The person must be in GBD FL (the fixtures'
persons) and alive; the staff member must be the organisation's head or one of its employees. The EDS login
registers the account on first use (the certificate proves who it is), without a password.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from shlyuz.dsig.enveloped import verify_enveloped
from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.fixtures.store import FixtureSet
from shlyuz.gateway.jsonapi import ApiError
from shlyuz.gateway.signature import SignatureVerifier
from shlyuz.portal import credentials as cred
from shlyuz.portal.models import Account
from shlyuz.storage.records import RecordStore, VersionConflict
from shlyuz.xml import safe

ACCOUNT = "portal-account"
CHALLENGE = "portal-challenge"
CHALLENGE_TTL = timedelta(minutes=5)
_AUTH_LIMITS = safe.XmlLimits(max_bytes=64 * 1024, max_depth=12, max_elements=200)


def account_key(iin: str, bin_: str | None) -> str:
    return f"{bin_}/{iin}" if bin_ else iin


def person_name(fixtures: FixtureSet, iin: str) -> str:
    p = fixtures.persons[iin]
    return " ".join(x for x in (p.surname, p.name, p.patronymic) if x)


def check_identity(fixtures: FixtureSet, iin: str, bin_: str | None) -> dict[str, Any]:
    """The account data GBD FL and the organisations give for (IIN, BIN); PERSON_NOT_FOUND / ORGANISATION_NOT_FOUND /
    FORBIDDEN otherwise."""
    person = fixtures.persons.get(iin)
    if person is None:
        raise ApiError(ErrorCode.PERSON_NOT_FOUND, f"IIN {iin} is not in GBD FL: no such person")
    if person.death_date is not None or person.life_status.code != "0":
        raise ApiError(ErrorCode.FORBIDDEN, f"IIN {iin}: GBD FL records the person as deceased ({person.death_date})")
    data: dict[str, Any] = {"iin": iin, "bin": bin_, "name": person_name(fixtures, iin), "organisation": None}
    if bin_:
        org = fixtures.organisations.get(bin_)
        if org is None:
            raise ApiError(ErrorCode.ORGANISATION_NOT_FOUND, f"BIN {bin_} is not a registered organisation")
        if iin != org.head_iin and iin not in org.employee_iins:
            raise ApiError(
                ErrorCode.ORGANISATION_NOT_FOUND,
                f"IIN {iin} is neither the head nor an employee of {org.name_ru} (BIN {bin_})",
            )
        data["organisation"] = org.name_ru
    return data


def account_view(data: dict[str, Any]) -> Account:
    return Account(
        account=account_key(data["iin"], data.get("bin")),
        iin=data["iin"],
        bin=data.get("bin"),
        name=data["name"],
        organisation=data.get("organisation"),
        registered_at=datetime.fromisoformat(data["registeredAt"]),
        methods=data.get("methods", []),
    )


async def register(records: RecordStore, fixtures: FixtureSet, iin: str, bin_: str | None, password: str,
                   now: datetime) -> dict[str, Any]:  # fmt: skip
    data = check_identity(fixtures, iin, bin_)
    if problem := cred.password_problem(password, iin):
        raise ApiError(ErrorCode.INVALID_PARAMETER, f"password: {problem}")
    key = account_key(iin, bin_)
    existing = await records.get(ACCOUNT, key)
    if existing is not None and existing.data.get("passwordHash"):
        raise ApiError(ErrorCode.CONFLICT, f"account {key} is already registered: log in, or use another IIN")
    data |= {"passwordHash": cred.hash_password(password), "registeredAt": now.isoformat()}
    if existing is not None:  # registered by EDS before: add the password
        data["registeredAt"] = existing.data["registeredAt"]
        data["methods"] = sorted({*existing.data.get("methods", []), "password"})
        try:
            await records.put(ACCOUNT, key, data, expect=existing.version)
        except VersionConflict:
            raise ApiError(ErrorCode.CONFLICT, f"account {key} changed meanwhile; try again") from None
    else:
        data["methods"] = ["password"]
        try:
            await records.put(ACCOUNT, key, data, expect=0)
        except VersionConflict:
            raise ApiError(ErrorCode.CONFLICT, f"account {key} is already registered") from None
    return data


async def password_login(records: RecordStore, iin: str, bin_: str | None, password: str) -> dict[str, Any]:
    key = account_key(iin, bin_)
    record = await records.get(ACCOUNT, key)
    if record is None or not record.data.get("passwordHash"):
        who = f"IIN {iin} with BIN {bin_}" if bin_ else f"IIN {iin}"
        raise ApiError(ErrorCode.ACCOUNT_NOT_FOUND, f"{who} has no portal account with a password: register first",
                       status=401)  # fmt: skip
    if not cred.verify_password(password, record.data["passwordHash"]):
        raise ApiError(ErrorCode.LOGIN_FAILED, f"wrong password for account {key}", status=401)
    return record.data


# -- EDS login ------------------------------------------------------------------------------------------------------


def challenge_document(nonce: str) -> str:
    """What the client signs: ``<login><nonce>…</nonce></login>`` (in the style of the egov.kz identity provider's
    signed ``login`` document; the exact real shape is not public)."""
    return f"<login><nonce>{nonce}</nonce></login>"


async def new_challenge(records: RecordStore, now: datetime) -> tuple[str, datetime]:
    nonce = secrets.token_urlsafe(24)
    expires = now + CHALLENGE_TTL
    await records.put(CHALLENGE, nonce, {"expiresAt": expires.isoformat()}, expect=0)
    return nonce, expires


def _fail(code: ErrorCode, message: str) -> ApiError:
    return ApiError(code, message, status=401)


async def eds_login(records: RecordStore, fixtures: FixtureSet, verifier: SignatureVerifier | None, signed_xml: str,
                    now: datetime) -> dict[str, Any]:  # fmt: skip
    """Check the signed challenge and return the (possibly new) account data."""
    if verifier is None:
        raise ApiError(ErrorCode.PROVIDER_ERROR, "EDS login needs the test PKI (pki.enabled = true)", status=503)
    try:
        root = safe.parse(signed_xml.encode("utf-8"), _AUTH_LIMITS)
    except ShlyuzError as exc:
        raise ApiError(exc.code, f"signedXml: {exc.message}") from None
    if root.tag != "login":
        raise ApiError(ErrorCode.INVALID_PARAMETER, f"signedXml: the document element is {root.tag!r}, not 'login'")
    nonces = [el for el in root if isinstance(el.tag, str) and el.tag == "nonce"]
    if len(nonces) != 1 or not (nonces[0].text or "").strip():
        raise ApiError(ErrorCode.INVALID_PARAMETER, "signedXml: <login> must hold exactly one non-empty <nonce>")
    nonce = "".join(nonces[0].itertext()).strip()[:100]
    record = await records.get(CHALLENGE, nonce)
    # one use only: whoever deletes it first has it, also across worker processes
    if record is None or not await records.delete(CHALLENGE, nonce):
        raise _fail(ErrorCode.CHALLENGE_INVALID, f"nonce {nonce!r} is unknown or already used: ask for a new one")
    if now >= datetime.fromisoformat(record.data["expiresAt"]):
        raise _fail(ErrorCode.CHALLENGE_INVALID, f"nonce {nonce!r} expired at {record.data['expiresAt']}")
    try:
        result = verify_enveloped(root, allow_sha1=verifier.allow_sha1)
        verdict = await verifier.check(result.certificate, ("auth",))
    except ShlyuzError as exc:
        raise _fail(exc.code, exc.message) from None
    iin, bin_ = verdict.iin, verdict.bin
    if iin is None:
        raise _fail(ErrorCode.IIN_MISMATCH, f"the AUTH certificate {verdict.subject} carries no IIN")
    data = check_identity(fixtures, iin, bin_)
    key = account_key(iin, bin_)
    existing = await records.get(ACCOUNT, key)
    if existing is None:
        data |= {"passwordHash": None, "methods": ["eds"], "registeredAt": now.isoformat()}
        try:
            await records.put(ACCOUNT, key, data, expect=0)
        except VersionConflict:
            existing = await records.get(ACCOUNT, key)
    if existing is not None:
        data = dict(existing.data)
        if "eds" not in data.get("methods", []):
            data["methods"] = sorted({*data.get("methods", []), "eds"})
            await records.put(ACCOUNT, key, data)
    data["certificate"] = {"serial": verdict.serial, "subject": verdict.subject}
    return data


def subject_of(data: dict[str, Any], method: str) -> dict[str, Any]:
    """What a session remembers of the account."""
    return {"account": account_key(data["iin"], data.get("bin")), "iin": data["iin"], "bin": data.get("bin"),
            "method": method}  # fmt: skip
