"""АРМ РШЭП's JSON API: the provider employees' inbox (docs/systems/rshep.md).

A provider employee (the head or an employee of the provider organisation in the fixtures, ``provider.bin``) logs
in with IIN and password and gets a bearer token (realm ``rshep``, sessions in the record store, as the portal's);
then lists the inbox (filter by status, service, system, assignee), shows an item, takes it, and decides it —
approve, or refuse with a ground code and a motivated text. The receiving system (E-sobes, E-licensing or АРМ РШЭП
itself) then signs the Decision with the provider's authorised person's key and sends the RESPONSE via the Outbox.

Test passwords (synthetic accounts, never real ones): ``rshep-<IIN>`` for every such employee.

Everything here works in the request's session (``X-Shlyuz-Scope``, docs/sessions.md): its login sessions, the inbox
items the async channel brought in that session, and the RESPONSE a decision sends.

Wiring: ``add_routes(app, RshepDesk(systems=..., context=...))`` or ``add_routes(app, desk_for(gateway, systems))``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from shlyuz.chains.api import resume_linked_run
from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.fixtures.store import FixtureSet
from shlyuz.gateway.jsonapi import ApiError, ApiRoute, add_api_routes, read_query
from shlyuz.portal import credentials
from shlyuz.storage.scope import current_scope
from shlyuz.systems.participants import ParticipantContext
from shlyuz.systems.rshep_inbox import INBOX, ReceivingSystem, take
from shlyuz.systems.rshep_rules import Verdict
from shlyuz.workstations.rshep_models import (
    DecideIn,
    Employee,
    EmployeeLogin,
    EmployeeLoginOut,
    ItemList,
    ItemsQuery,
    ItemSummary,
    ItemView,
    LoggedOut,
)  # fmt: skip

REALM = "rshep"
TAG = "rshep"
AUTH = "rshepToken"


@dataclass
class RshepDesk:
    """What the inbox API works with: the receiving systems by participant id, and how to get a participant context
    (records, clock, outbox, signers)."""

    systems: Mapping[str, ReceivingSystem]
    context: Callable[[], ParticipantContext]
    provider_bin: str = "001240876555"


RSHEP_DESK = web.AppKey("rshep_desk", RshepDesk)


def desk_for(gateway: Any, systems: Mapping[str, ReceivingSystem]) -> RshepDesk:
    """A desk over a :class:`shlyuz.gateway.app.Gateway` (its records, clock, outbox and PKI)."""
    from shlyuz.asyncch.service import LazySigners

    signers = LazySigners(gateway.pki)

    def context() -> ParticipantContext:
        return ParticipantContext(fixtures=gateway.fixtures, now=gateway.clock.now, records=gateway.records,
                                  outbox=gateway.outbox, signers=signers)  # fmt: skip

    return RshepDesk(systems=systems, context=context, provider_bin=gateway.settings.provider.bin)


def employees(fixtures: FixtureSet, provider_bin: str) -> dict[str, Employee]:
    """The provider organisation's head and employees (living persons in the fixtures) by IIN."""
    org = fixtures.organisations.get(provider_bin)
    if org is None:
        return {}
    out: dict[str, Employee] = {}
    for iin, role in [(org.head_iin, "head"), *((i, "specialist") for i in org.employee_iins)]:
        person = fixtures.persons.get(iin or "")
        if person is None or person.death_date is not None or iin in out:
            continue
        name = " ".join(x for x in (person.surname, person.name, person.patronymic) if x)
        out[person.iin] = Employee(iin=person.iin, name=name, role=role, bin=org.bin, organisation=org.name_ru)
    return out


def test_password(iin: str) -> str:
    """The documented test password of a provider employee."""
    return f"rshep-{iin}"


def _desk(request: web.Request) -> RshepDesk:
    return request.app[RSHEP_DESK]


async def _employee(request: web.Request, ctx: ParticipantContext) -> Employee:
    token = credentials.bearer_token(request)
    session = await credentials.resolve_session(ctx.records, REALM, token, ctx.now())
    employee = employees(ctx.fixtures, _desk(request).provider_bin).get(session.subject.get("iin", ""))
    if employee is None:
        raise ApiError(ErrorCode.UNAUTHENTICATED, "the session's employee no longer works for the provider")
    return employee


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _summary_fields(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "number": d["number"], "system": d["system"], "service": d["service"], "channel": d["channel"], "status": d["status"],
        "applicant_iin": d.get("applicantIin"), "applicant_bin": d.get("applicantBin"),
        "applicant_name": d.get("applicantName"), "sub_flow": d.get("subFlow"), "assignee": d.get("assignee"),
        "registered_at": _when(d["registeredAt"]), "decided_at": _when(d.get("decidedAt")),
    }  # fmt: skip


def _view(d: dict[str, Any]) -> ItemView:
    return ItemView(
        **_summary_fields(d), reference=d.get("reference"), signer_iin=d.get("signerIin"), signer_bin=d.get("signerBin"),
        representative_iin=d.get("representativeIin"), fields=d.get("fields") or {},
        documents=d.get("documents") or [], permit=(d.get("application") or {}).get("permit"),
        taken_at=_when(d.get("takenAt")), employee=d.get("employee"), rule=d.get("rule"),
        reason_code=d.get("reasonCode"), reason=d.get("reason"), summary=d.get("summary"),
        result=d.get("result") or {}, delivery=d.get("delivery"), response_message_id=d.get("responseMessageId"),
        decision_xml=d.get("decisionXml"),
    )  # fmt: skip


async def _item(ctx: ParticipantContext, number: str) -> dict[str, Any]:
    rec = await ctx.records.get(INBOX, number)  # in the request's session (X-Shlyuz-Scope)
    if rec is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no inbox item {number[:80]!r}")
    return rec.data


def _api(exc: ShlyuzError) -> ApiError:
    return ApiError(exc.code, exc.message, status=503 if exc.code is ErrorCode.PROVIDER_ERROR else None)


# -- handlers --------------------------------------------------------------------------------------------------------


async def login(request: web.Request, body: EmployeeLogin) -> EmployeeLoginOut:
    ctx = _desk(request).context()
    employee = employees(ctx.fixtures, _desk(request).provider_bin).get(body.iin)
    expected = test_password(body.iin)
    if employee is None or not hmac.compare_digest(body.password.encode(), expected.encode()):
        raise ApiError(ErrorCode.UNAUTHENTICATED, "IIN or password is wrong (or the IIN is not a provider employee)")
    token, expires = await credentials.open_session(ctx.records, REALM, {"iin": employee.iin}, ctx.now())
    return EmployeeLoginOut(token=token, expires_at=expires, employee=employee)


async def logout(request: web.Request) -> LoggedOut:
    ctx = _desk(request).context()
    await _employee(request, ctx)
    return LoggedOut(logged_out=await credentials.close_session(ctx.records, REALM, credentials.bearer_token(request)))


async def me(request: web.Request) -> Employee:
    return await _employee(request, _desk(request).context())


async def listing(request: web.Request) -> ItemList:
    ctx = _desk(request).context()
    await _employee(request, ctx)
    q = read_query(request, ItemsQuery)
    assert isinstance(q, ItemsQuery)
    where = {k: v for k, v in (("status", q.status), ("service", q.service), ("system", q.system),
                                ("assignee", q.assignee)) if v is not None}  # fmt: skip
    found = await ctx.records.find(INBOX, where=where, limit=q.limit)
    items = [ItemSummary(**_summary_fields(r.data)) for r in found]
    return ItemList(count=len(items), items=items)


async def show(request: web.Request) -> ItemView:
    ctx = _desk(request).context()
    await _employee(request, ctx)
    return _view(await _item(ctx, request.match_info["number"]))


async def take_item(request: web.Request) -> ItemView:
    ctx = _desk(request).context()
    employee = await _employee(request, ctx)
    try:
        return _view(await take(ctx, request.match_info["number"], employee.iin, scope=current_scope()))
    except ShlyuzError as exc:
        raise _api(exc) from None


async def decide(request: web.Request, body: DecideIn) -> ItemView:
    desk = _desk(request)
    ctx = desk.context()
    employee = await _employee(request, ctx)
    item = await _item(ctx, request.match_info["number"])
    system = desk.systems.get(item["system"])
    if system is None:
        raise ApiError(ErrorCode.PROVIDER_ERROR, f"system {item['system']!r} is not running here", status=503)
    try:
        if item["status"] not in ("new", "taken") and item.get("delivery") == "pending":
            # decided, its RESPONSE not yet sent: retry
            done = await system.deliver_pending(item["number"], ctx, scope=current_scope())
            return _view(done or item)
        verdict = Verdict("approve") if body.decision == "approve" else Verdict("refuse", "", body.reason_code, body.reason)
        decided = await system.settle(item["number"], verdict, ctx, employee=employee.iin, scope=current_scope())
    except ShlyuzError as exc:
        raise _api(exc) from None
    await resume_linked_run(request.app, decided)  # the chain run waiting for this decision goes on (chains/link.py)
    return _view(decided)


_AUTH_ERRORS = (ErrorCode.UNAUTHENTICATED, ErrorCode.TOKEN_EXPIRED)
ROUTES = [
    ApiRoute("POST", "/rshep/login", login, "Provider employee login (IIN + password)", TAG, body=EmployeeLogin,
             response=EmployeeLoginOut, errors=(ErrorCode.UNAUTHENTICATED,)),
    ApiRoute("POST", "/rshep/logout", logout, "End the session", TAG, response=LoggedOut, auth=AUTH, errors=_AUTH_ERRORS),
    ApiRoute("GET", "/rshep/me", me, "The logged-in employee", TAG, response=Employee, auth=AUTH, errors=_AUTH_ERRORS),
    ApiRoute("GET", "/rshep/items", listing, "List the inbox", TAG, response=ItemList, query=ItemsQuery, auth=AUTH,
             errors=_AUTH_ERRORS),
    ApiRoute("GET", "/rshep/items/{number}", show, "One inbox item", TAG, response=ItemView, auth=AUTH,
             errors=(*_AUTH_ERRORS, ErrorCode.NOT_FOUND)),
    ApiRoute("POST", "/rshep/items/{number}/take", take_item, "Assign the item to me", TAG, response=ItemView,
             auth=AUTH, errors=(*_AUTH_ERRORS, ErrorCode.NOT_FOUND, ErrorCode.CONFLICT)),
    ApiRoute("POST", "/rshep/items/{number}/decide", decide, "Approve, or refuse with a motivated reason", TAG,
             body=DecideIn, response=ItemView, auth=AUTH,
             errors=(*_AUTH_ERRORS, ErrorCode.NOT_FOUND, ErrorCode.CONFLICT, ErrorCode.FORBIDDEN)),
]  # fmt: skip


def add_routes(app: web.Application, desk: RshepDesk) -> None:
    app[RSHEP_DESK] = desk
    add_api_routes(app, ROUTES)
