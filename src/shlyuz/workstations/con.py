"""The State Corporation workstation's JSON API (docs/workstations.md): ``ROUTES`` for
:func:`shlyuz.gateway.jsonapi.add_api_routes`, or :func:`add_routes` with the per-process cache (the operators'
signing keys, loaded once; the catalogue). Bearer tokens: realm ``con``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web

from shlyuz.dsig.signer import Signer
from shlyuz.errors import ErrorCode
from shlyuz.gateway.jsonapi import ApiError, ApiRoute, add_api_routes
from shlyuz.portal import applications, catalogue, credentials
from shlyuz.portal.models import CatalogueEntry
from shlyuz.portal.tracking import verify_decision
from shlyuz.workstations import con_entry
from shlyuz.workstations.con_models import (
    ConApplicationIn,
    ConApplicationList,
    ConApplicationOut,
    Operator,
    OperatorLogin,
    OperatorLoginOut,
)  # fmt: skip

if TYPE_CHECKING:
    from shlyuz.gateway.app import Gateway

REALM = "con"
AUTH = "conToken"


@dataclass
class ConCache:
    """Per process: the operators' signers (test keys read once) and the catalogue from the service definitions."""

    signers: dict[str, Signer] = field(default_factory=dict)
    catalogue: dict[str, CatalogueEntry] | None = None


CON_CACHE = web.AppKey("con_cache", ConCache)


def _gw(request: web.Request) -> Gateway:
    from shlyuz.gateway.app import (
        GATEWAY,  # not at import time: app.py imports this module to wire it
    )

    return request.app[GATEWAY]


def _cache(request: web.Request) -> ConCache:
    return request.app.get(CON_CACHE) or ConCache()


def _catalogue(request: web.Request) -> dict[str, CatalogueEntry]:
    cache = _cache(request)
    if cache.catalogue is None:
        defs = catalogue.load_definitions(_gw(request).settings.fixture_dirs)
        cache.catalogue = {e.id: e for e in catalogue.build(defs)}
    return cache.catalogue


async def _operator(request: web.Request) -> dict[str, str]:
    gw = _gw(request)
    token = credentials.bearer_token(request)
    subject = (await credentials.resolve_session(gw.records, REALM, token, gw.clock.now())).subject
    structlog.contextvars.bind_contextvars(operator=subject["iin"])
    operator = con_entry.operators(gw.fixtures).get(subject["iin"])
    if operator is None:
        raise ApiError(ErrorCode.UNAUTHENTICATED, f"IIN {subject['iin']} is no longer a State Corporation operator")
    return operator


def _operator_view(op: dict[str, str]) -> Operator:
    return Operator(iin=op["iin"], name=op["name"], bin=op["bin"], branch=op["branch"],
                    signing_identity=op["signingIdentity"])  # fmt: skip


async def _view(gw: Gateway, data: dict[str, Any]) -> ConApplicationOut:
    base = await applications.view(gw, data)
    return ConApplicationOut(**dict(base), operator=data["operator"], reference=data["reference"],
                             checks=data.get("checks", {}))  # fmt: skip


async def _own(request: web.Request) -> dict[str, Any]:
    gw = _gw(request)
    operator = await _operator(request)
    app_id = request.match_info["id"]
    record = await gw.records.get(con_entry.KIND, app_id)
    if record is None or record.data.get("branch") != operator["bin"]:
        raise ApiError(ErrorCode.NOT_FOUND, f"no application {app_id[:60]!r} at {operator['branch']}")
    return record.data


# -- handlers --------------------------------------------------------------------------------------------------------


async def login(request: web.Request, body: OperatorLogin) -> OperatorLoginOut:
    gw = _gw(request)
    operator = con_entry.authenticate(gw.fixtures, body.login, body.password)
    subject = {"iin": operator["iin"], "bin": operator["bin"], "method": "password"}
    token, expires = await credentials.open_session(gw.records, REALM, subject, gw.clock.now())
    return OperatorLoginOut(token=token, expires_at=expires, operator=_operator_view(operator))


async def me(request: web.Request) -> Operator:
    return _operator_view(await _operator(request))


async def enter(request: web.Request, body: ConApplicationIn) -> ConApplicationOut:
    gw = _gw(request)
    operator = await _operator(request)
    data = await con_entry.enter(gw, operator, body, _catalogue(request), _cache(request).signers)
    return await _view(gw, data)


async def listing(request: web.Request) -> ConApplicationList:
    gw = _gw(request)
    operator = await _operator(request)
    found = await gw.records.find(con_entry.KIND, where={"branch": operator["bin"]}, limit=1000)
    return ConApplicationList(applications=[await _view(gw, r.data) for r in found])


async def one(request: web.Request) -> ConApplicationOut:
    return await _view(_gw(request), await _own(request))


async def result(request: web.Request) -> web.Response:
    gw = _gw(request)
    data = await _own(request)
    if not data.get("result"):
        raise ApiError(ErrorCode.NOT_FOUND, f"application {data['id']} has no result yet (status {data['status']})")
    verdict = await verify_decision(data["result"], gw.sync.verifier, gw.fixtures)
    headers = {
        "X-Signature-Verified": "true" if verdict.verified else "false",
        "X-Signature-Message": verdict.message.encode("ascii", "backslashreplace").decode()[:500],
    }
    return web.Response(body=data["result"].encode("utf-8"), content_type="application/xml", charset="utf-8",
                        headers=headers)  # fmt: skip


_AUTH_ERRORS = (ErrorCode.UNAUTHENTICATED, ErrorCode.TOKEN_EXPIRED)
ROUTES = [
    ApiRoute("POST", "/con/auth/login", login, "Operator login (IIN + password)", "state-corporation",
             body=OperatorLogin, response=OperatorLoginOut, errors=(ErrorCode.ACCOUNT_NOT_FOUND, ErrorCode.LOGIN_FAILED)),
    ApiRoute("GET", "/con/me", me, "The logged-in operator", "state-corporation", response=Operator, auth=AUTH,
             errors=_AUTH_ERRORS),
    ApiRoute("POST", "/con/applications", enter,
             "Enter an application (GBD FL and ENIS checked over SHEP), sign it with the operator's EDS, send it to "
             "the regional gateway workstation", "state-corporation", body=ConApplicationIn,
             response=ConApplicationOut, status=201, auth=AUTH,
             errors=(*_AUTH_ERRORS, ErrorCode.PERSON_NOT_FOUND, ErrorCode.POA_NOT_FOUND, ErrorCode.POA_NOT_VALID,
                     ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND)),
    ApiRoute("GET", "/con/applications", listing, "Applications entered at the operator's branch", "state-corporation",
             response=ConApplicationList, auth=AUTH, errors=_AUTH_ERRORS),
    ApiRoute("GET", "/con/applications/{id}", one, "One application: status, checks, the provider's decision",
             "state-corporation", response=ConApplicationOut, auth=AUTH, errors=(*_AUTH_ERRORS, ErrorCode.NOT_FOUND)),
    ApiRoute("GET", "/con/applications/{id}/result", result,
             "The provider's signed decision (XML); X-Signature-Verified tells the verdict", "state-corporation",
             auth=AUTH, errors=(*_AUTH_ERRORS, ErrorCode.NOT_FOUND)),
]  # fmt: skip


def add_routes(app: web.Application) -> None:
    app[CON_CACHE] = ConCache()
    add_api_routes(app, ROUTES)
