"""``/__admin/faults``: the fault rules of the caller's session (``X-Shlyuz-Scope``, the default scope without it),
and ``/__admin/sessions/{scope}/faults`` for a named session — list, add one, replace all, delete one, clear."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import BaseModel

from shlyuz.errors import ErrorCode
from shlyuz.faults import store
from shlyuz.faults.model import FaultRule, FaultRuleIn, RuleSet, RulesOut
from shlyuz.gateway.jsonapi import ApiError, ApiRoute


def _gateway(request: web.Request):
    from shlyuz.gateway.app import GATEWAY

    return request.app[GATEWAY]


def _scope(request: web.Request) -> str:
    from shlyuz.gateway.sessions import CURRENT_SCOPE, valid_scope

    scope = request.match_info.get("scope")
    if scope is None:
        return CURRENT_SCOPE.get()
    if not valid_scope(scope):
        raise ApiError(ErrorCode.INVALID_PARAMETER, f"not a session scope: {scope!r} (1-64 letters, digits, '-' or '_')")
    return scope


def _records(request: web.Request):
    records = _gateway(request).records
    if records is None:
        raise ApiError(ErrorCode.INTERNAL_ERROR, "this gateway has no record store", status=503)
    return records


async def list_rules(request: web.Request) -> RulesOut:
    scope = _scope(request)
    return RulesOut(scope=scope, rules=await store.load(_records(request), scope))


async def add_rule(request: web.Request, body: FaultRuleIn) -> FaultRule:
    return await store.add(_records(request), _scope(request), body)


async def replace_rules(request: web.Request, body: RuleSet) -> RulesOut:
    scope = _scope(request)
    return RulesOut(scope=scope, rules=await store.replace(_records(request), scope, body.rules))


async def delete_rule(request: web.Request) -> RulesOut:
    scope, rule_id = _scope(request), request.match_info["id"]
    records = _records(request)
    if not await store.remove(records, scope, rule_id):
        raise ApiError(ErrorCode.NOT_FOUND, f"no fault rule {rule_id!r} in scope {scope!r}")
    return RulesOut(scope=scope, rules=await store.load(records, scope))


async def clear_rules(request: web.Request) -> RulesOut:
    scope = _scope(request)
    await store.clear(_records(request), scope)
    return RulesOut(scope=scope, rules=[])


def _named(handler: Callable[..., Awaitable[BaseModel]], name: str) -> Callable[..., Awaitable[BaseModel]]:
    """The same handler under another name (operationIds are unique in /openapi.json)."""

    async def named(*args, **kwargs):
        return await handler(*args, **kwargs)

    named.__name__ = name
    named.__annotations__ = handler.__annotations__
    return named


_SCOPED = (ErrorCode.INVALID_PARAMETER,)
_CHANGES = (ErrorCode.INVALID_PARAMETER, ErrorCode.CONFLICT)


def _routes(base: str, suffix: str, where: str) -> list[ApiRoute]:
    h = (lambda f: _named(f, f.__name__ + suffix)) if suffix else (lambda f: f)
    return [
        ApiRoute("GET", base, h(list_rules), f"The fault rules of {where}", "faults", response=RulesOut, errors=_SCOPED),
        ApiRoute("POST", base, h(add_rule), f"Add a fault rule to {where}", "faults", body=FaultRuleIn,
                 response=FaultRule, status=201, errors=_CHANGES),
        ApiRoute("PUT", base, h(replace_rules), f"Replace all the fault rules of {where}", "faults", body=RuleSet,
                 response=RulesOut, errors=_CHANGES),
        ApiRoute("DELETE", base, h(clear_rules), f"Delete every fault rule of {where}", "faults", response=RulesOut,
                 errors=_SCOPED),
        ApiRoute("DELETE", base + "/{id}", h(delete_rule), f"Delete one fault rule of {where}", "faults",
                 response=RulesOut, errors=(ErrorCode.INVALID_PARAMETER, ErrorCode.NOT_FOUND)),
    ]  # fmt: skip


ROUTES = [
    *_routes("/__admin/faults", "", "the caller's session (X-Shlyuz-Scope)"),
    *_routes("/__admin/sessions/{scope}/faults", "_of_session", "a session"),
]
