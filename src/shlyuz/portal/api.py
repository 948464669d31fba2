"""The portal's JSON API (docs/portal.md): ``ROUTES`` for :func:`shlyuz.gateway.jsonapi.add_api_routes`, or
:func:`add_routes` which also gives the routes their per-process cache (the catalogue, test signers).

Every handler is a thin edge: read the body (validated by its pydantic model), call the domain module
(:mod:`accounts`, :mod:`applications`, :mod:`catalogue`), answer a model. Bearer tokens: realm ``portal``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web

from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.gateway.jsonapi import ApiError, ApiRoute, add_api_routes
from shlyuz.portal import accounts, applications, catalogue, credentials
from shlyuz.portal.models import (
    Account,
    ApplicationList,
    ApplicationOut,
    Catalogue,
    CatalogueEntry,
    ChallengeOut,
    DevSign,
    DevSigned,
    EdsLogin,
    LoginOut,
    PasswordLogin,
    Register,
    Submit,
)  # fmt: skip

if TYPE_CHECKING:
    from shlyuz.gateway.app import Gateway

REALM = "portal"
AUTH = "portalToken"


@dataclass
class PortalCache:
    """Per process, rebuilt on start: nothing here is shared state (the catalogue comes from files)."""

    catalogue: dict[str, CatalogueEntry] | None = None
    source: str = ""
    signers: dict[str, Any] = field(default_factory=dict)


PORTAL_CACHE = web.AppKey("portal_cache", PortalCache)


def _gw(request: web.Request) -> Gateway:
    from shlyuz.gateway.app import (
        GATEWAY,  # not at import time: app.py imports this module to wire it
    )

    return request.app[GATEWAY]


def _cache(request: web.Request) -> PortalCache:
    return request.app.get(PORTAL_CACHE) or PortalCache()


def _catalogue(request: web.Request) -> tuple[dict[str, CatalogueEntry], str]:
    cache = _cache(request)
    if cache.catalogue is None:
        dirs = _gw(request).settings.fixture_dirs
        cache.catalogue = {e.id: e for e in catalogue.build(catalogue.load_definitions(dirs))}
        cache.source = "service definitions: " + ", ".join(f"{d}/services" for d in dirs)
    return cache.catalogue, cache.source


async def _session(request: web.Request) -> dict[str, Any]:
    gw = _gw(request)
    token = credentials.bearer_token(request)
    subject = (await credentials.resolve_session(gw.records, REALM, token, gw.clock.now())).subject
    structlog.contextvars.bind_contextvars(account=subject["account"])
    return subject


async def _login(gw: Gateway, data: dict[str, Any], method: str) -> LoginOut:
    token, expires = await credentials.open_session(gw.records, REALM, accounts.subject_of(data, method), gw.clock.now())
    return LoginOut(token=token, expires_at=expires, account=accounts.account_view(data))


# -- handlers --------------------------------------------------------------------------------------------------------


async def register(request: web.Request, body: Register) -> Account:
    gw = _gw(request)
    data = await accounts.register(gw.records, gw.fixtures, body.iin, body.bin, body.password, gw.clock.now())
    return accounts.account_view(data)


async def login(request: web.Request, body: PasswordLogin) -> LoginOut:
    gw = _gw(request)
    return await _login(gw, await accounts.password_login(gw.records, body.iin, body.bin, body.password), "password")


async def challenge(request: web.Request) -> ChallengeOut:
    gw = _gw(request)
    nonce, expires = await accounts.new_challenge(gw.records, gw.clock.now())
    return ChallengeOut(nonce=nonce, expires_at=expires, document=accounts.challenge_document(nonce))


async def eds_login(request: web.Request, body: EdsLogin) -> LoginOut:
    gw = _gw(request)
    data = await accounts.eds_login(gw.records, gw.fixtures, gw.sync.verifier, body.signed_xml, gw.clock.now())
    return await _login(gw, data, "eds")


async def logout(request: web.Request) -> web.Response:
    gw = _gw(request)
    await _session(request)
    await credentials.close_session(gw.records, REALM, credentials.bearer_token(request))
    return web.Response(status=204)


async def me(request: web.Request) -> Account:
    gw = _gw(request)
    subject = await _session(request)
    record = await gw.records.get(accounts.ACCOUNT, subject["account"])
    if record is None:
        raise ApiError(ErrorCode.UNAUTHENTICATED, f"account {subject['account']} no longer exists")
    return accounts.account_view(record.data)


async def services(request: web.Request) -> Catalogue:
    entries, source = _catalogue(request)
    return Catalogue(services=list(entries.values()), source=source)


async def submit(request: web.Request, body: Submit) -> ApplicationOut:
    gw = _gw(request)
    subject = await _session(request)
    data = await applications.submit(gw, subject, body.document, _catalogue(request)[0])
    return await applications.view(gw, data)


async def _own(request: web.Request) -> dict[str, Any]:
    gw = _gw(request)
    subject = await _session(request)
    app_id = request.match_info["id"]
    record = await gw.records.get(applications.KIND, app_id)
    if record is None or record.data.get("owner") != subject["account"]:
        raise ApiError(ErrorCode.NOT_FOUND, f"no application {app_id[:60]!r} in the cabinet of {subject['account']}")
    return record.data


async def cabinet(request: web.Request) -> ApplicationList:
    gw = _gw(request)
    subject = await _session(request)
    found = await gw.records.find(applications.KIND, where={"owner": subject["account"]}, limit=1000)
    return ApplicationList(applications=[await applications.view(gw, r.data) for r in found])


async def cabinet_one(request: web.Request) -> ApplicationOut:
    return await applications.view(_gw(request), await _own(request))


async def cabinet_result(request: web.Request) -> web.Response:
    """The provider's signed Decision, byte for byte as it came; the verdict in ``X-Signature-Verified``."""
    gw = _gw(request)
    data = await _own(request)
    if not data.get("result"):
        raise ApiError(ErrorCode.NOT_FOUND, f"application {data['id']} has no result yet (status {data['status']})")
    verdict = await applications.verify_decision(data["result"], gw.sync.verifier, gw.fixtures)
    headers = {
        "X-Signature-Verified": "true" if verdict.verified else "false",
        "X-Signature-Message": verdict.message.encode("ascii", "backslashreplace").decode()[:500],
        "Content-Disposition": f'attachment; filename="decision-{data.get("applicationNumber") or data["id"]}.xml"',
    }
    return web.Response(body=data["result"].encode("utf-8"), content_type="application/xml", charset="utf-8",
                        headers=headers)  # fmt: skip


async def dev_sign(request: web.Request, body: DevSign) -> DevSigned:
    """TEST ONLY: sign a document with a fixture identity's key (the keys are test keys in DATA_DIR/pki)."""
    from lxml import etree

    from shlyuz.dsig.signer import signer_for
    from shlyuz.xml import safe

    gw = _gw(request)
    if gw.pki is None or body.identity not in gw.pki:
        raise ApiError(ErrorCode.NOT_FOUND, f"no PKI identity {body.identity!r}")
    cache = _cache(request)
    signer = cache.signers.get(body.identity) or signer_for(gw.pki, body.identity)
    cache.signers[body.identity] = signer
    try:
        root = safe.parse(body.document.encode("utf-8"))
        signer.data(root)
    except ShlyuzError as exc:
        raise ApiError(exc.code, f"document: {exc.message}") from None
    except ValueError as exc:  # already signed
        raise ApiError(ErrorCode.INVALID_PARAMETER, f"document: {exc}") from None
    return DevSigned(signed_xml=etree.tostring(root, encoding="unicode"))


_AUTH_ERRORS = (ErrorCode.UNAUTHENTICATED, ErrorCode.TOKEN_EXPIRED)
ROUTES = [
    ApiRoute("POST", "/portal/register", register, "Register by IIN (or IIN + BIN) and password", "portal",
             body=Register, response=Account, status=201,
             errors=(ErrorCode.PERSON_NOT_FOUND, ErrorCode.ORGANISATION_NOT_FOUND, ErrorCode.CONFLICT, ErrorCode.FORBIDDEN)),
    ApiRoute("POST", "/portal/auth/login", login, "Log in by IIN (or IIN + BIN) and password", "portal",
             body=PasswordLogin, response=LoginOut, errors=(ErrorCode.ACCOUNT_NOT_FOUND, ErrorCode.LOGIN_FAILED)),
    ApiRoute("POST", "/portal/auth/challenge", challenge, "A one-time nonce to sign for an EDS login", "portal",
             response=ChallengeOut, status=201),
    ApiRoute("POST", "/portal/auth/eds", eds_login, "Log in with the nonce signed by an AUTH certificate", "portal",
             body=EdsLogin, response=LoginOut,
             errors=(ErrorCode.CHALLENGE_INVALID, ErrorCode.SIGNATURE_INVALID, ErrorCode.CERT_EXPIRED,
                     ErrorCode.CERT_REVOKED, ErrorCode.CERT_KEY_USAGE, ErrorCode.CERT_UNTRUSTED, ErrorCode.PERSON_NOT_FOUND)),
    ApiRoute("POST", "/portal/auth/logout", logout, "End the session", "portal", auth=AUTH, errors=_AUTH_ERRORS),
    ApiRoute("GET", "/portal/me", me, "The logged-in account", "portal", response=Account, auth=AUTH, errors=_AUTH_ERRORS),
    ApiRoute("GET", "/portal/services", services, "The service catalogue and where each portal service goes",
             "portal", response=Catalogue),
    ApiRoute("POST", "/portal/applications", submit, "Submit an Application signed with the user's SIGN certificate",
             "portal", body=Submit, response=ApplicationOut, status=201, auth=AUTH,
             errors=(*_AUTH_ERRORS, ErrorCode.DOCUMENT_INVALID, ErrorCode.SIGNATURE_INVALID, ErrorCode.CERT_REVOKED,
                     ErrorCode.IIN_MISMATCH, ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND, ErrorCode.POA_NOT_VALID)),
    ApiRoute("GET", "/portal/cabinet/applications", cabinet, "The personal cabinet: the user's applications",
             "portal", response=ApplicationList, auth=AUTH, errors=_AUTH_ERRORS),
    ApiRoute("GET", "/portal/cabinet/applications/{id}", cabinet_one, "One application: status, history, result",
             "portal", response=ApplicationOut, auth=AUTH, errors=(*_AUTH_ERRORS, ErrorCode.NOT_FOUND)),
    ApiRoute("GET", "/portal/cabinet/applications/{id}/result", cabinet_result,
             "The signed result document (XML); X-Signature-Verified tells the verdict", "portal", auth=AUTH,
             errors=(*_AUTH_ERRORS, ErrorCode.NOT_FOUND)),
]  # fmt: skip

# TEST ONLY, not wired by default: signs with any fixture identity's test key (docs/portal.md, "Signing by hand")
DEV_ROUTES = [
    ApiRoute("POST", "/portal/dev/sign", dev_sign, "TEST ONLY: sign a document with a fixture identity", "portal-dev",
             body=DevSign, response=DevSigned, errors=(ErrorCode.NOT_FOUND,)),
]


def add_routes(app: web.Application, *, dev: bool = False) -> None:
    app[PORTAL_CACHE] = PortalCache()
    add_api_routes(app, ROUTES + (DEV_ROUTES if dev else []))
