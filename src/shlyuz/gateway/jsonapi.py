"""JSON APIs as data: each module declares its routes as :class:`ApiRoute` values (method, path, handler, pydantic
models); :func:`add_api_routes` registers them with aiohttp and the same list produces ``/openapi.json``.

A handler receives the request and, when the route declares ``body``, the validated model::

    async def submit(request: web.Request, body: SubmitApplication) -> ApplicationView: ...

and returns a pydantic model (serialised by alias, status ``ApiRoute.status``) or a ready ``web.Response``.
Errors are :class:`ApiError` (a stable :class:`ErrorCode`, an HTTP status, a message), answered as
``{"error": {"code", "message"}}`` like every JSON error of the gateway.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from shlyuz import __version__
from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.gateway.http import json_error

MAX_JSON_BYTES = 1 << 20  # a JSON API body larger than 1 MiB is refused (signed XML documents fit easily)
_STATUS_BY_CODE = {
    ErrorCode.INVALID_JSON: 400,
    ErrorCode.INVALID_PARAMETER: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    # portal and State Corporation workstation (docs/portal.md, docs/workstations.md)
    ErrorCode.ACCOUNT_NOT_FOUND: 401,
    ErrorCode.LOGIN_FAILED: 401,
    ErrorCode.TOKEN_EXPIRED: 401,
    ErrorCode.CHALLENGE_INVALID: 401,
    ErrorCode.PERSON_NOT_FOUND: 422,
    ErrorCode.ORGANISATION_NOT_FOUND: 422,
    ErrorCode.POA_NOT_FOUND: 422,
    ErrorCode.POA_NOT_VALID: 422,
}


class ApiError(ShlyuzError):
    """An error answered by a JSON API: ``status`` defaults by code (400 for anything not listed)."""

    def __init__(self, code: ErrorCode, message: str, *, status: int | None = None) -> None:
        super().__init__(code, message)
        self.status = status or _STATUS_BY_CODE.get(code, 400)


Handler = Callable[..., Awaitable[BaseModel | web.StreamResponse]]


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str  # aiohttp syntax: /portal/applications/{number}
    handler: Handler
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    query: type[BaseModel] | None = None  # documented query parameters (validate them with :func:`read_query`)
    auth: str | None = None  # name of the security scheme, e.g. "portalToken"; documented only
    errors: tuple[ErrorCode, ...] = field(default=())


def error_response(exc: ShlyuzError) -> web.Response:
    status = exc.status if isinstance(exc, ApiError) else _STATUS_BY_CODE.get(exc.code, 400)
    return json_error(status, exc.code, exc.message)


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    more = len(exc.errors()) - 5
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


async def read_body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise ApiError(ErrorCode.INVALID_JSON, f"body of {request.content_length} bytes exceeds {MAX_JSON_BYTES}", status=413)
    raw = await request.content.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise ApiError(ErrorCode.INVALID_JSON, f"body exceeds {MAX_JSON_BYTES} bytes", status=413)
    ctype = request.content_type
    if raw and ctype not in ("application/json", "application/octet-stream", ""):
        raise ApiError(ErrorCode.INVALID_JSON, f"Content-Type must be application/json, not {ctype}", status=415)
    try:
        data = json.loads(raw.decode("utf-8")) if raw else {}
    except UnicodeDecodeError:
        raise ApiError(ErrorCode.INVALID_JSON, "body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ApiError(ErrorCode.INVALID_JSON, f"body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise ApiError(ErrorCode.INVALID_JSON, "body is nested too deeply") from None
    if not isinstance(data, dict):
        raise ApiError(ErrorCode.INVALID_JSON, f"body must be a JSON object, not {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(ErrorCode.INVALID_PARAMETER, _validation_message(exc)) from None


def read_query(request: web.Request, model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise ApiError(ErrorCode.INVALID_PARAMETER, _validation_message(exc)) from None


def _wrap(route: ApiRoute) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            if route.body is not None:
                result = await route.handler(request, await read_body(request, route.body))
            else:
                result = await route.handler(request)
        except ShlyuzError as exc:
            return error_response(exc)
        if isinstance(result, web.StreamResponse):
            return result
        return web.json_response(
            result.model_dump(mode="json", by_alias=True, exclude_none=True),
            status=route.status,
            dumps=lambda obj: json.dumps(obj, ensure_ascii=False),
        )

    handle.__name__ = getattr(route.handler, "__name__", "handle")
    return handle


API_ROUTES = web.AppKey("api_routes", list)


def add_api_routes(app: web.Application, routes: Iterable[ApiRoute]) -> None:
    """Register ``routes`` and remember them for ``/openapi.json`` (the list lives on the app, not in the module)."""
    routes = list(routes)
    if API_ROUTES not in app:
        app[API_ROUTES] = []
        app.router.add_get("/openapi.json", _openapi_handler)
    app[API_ROUTES].extend(routes)
    for route in routes:
        app.router.add_route(route.method, route.path, _wrap(route))


async def _openapi_handler(request: web.Request) -> web.Response:
    return web.json_response(openapi(request.app[API_ROUTES]), dumps=lambda obj: json.dumps(obj, ensure_ascii=False))


_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}


def openapi(routes: Sequence[ApiRoute]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes``; model schemas go to ``components/schemas``."""
    schemas: dict[str, Any] = {"Error": _ERROR_SCHEMA}
    paths: dict[str, Any] = {}

    def ref(model: type[BaseModel], mode: str) -> dict[str, str]:
        schema = model.model_json_schema(by_alias=True, mode=mode, ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas.setdefault(name, sub)
        schemas.setdefault(model.__name__, schema)
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    for route in routes:
        op: dict[str, Any] = {"summary": route.summary, "tags": [route.tag], "operationId": f"{route.tag}_{route.handler.__name__}"}
        params = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in _path_params(route.path)]
        if route.query is not None:
            qschema = route.query.model_json_schema(by_alias=True)
            for name, prop in qschema.get("properties", {}).items():
                params.append({"name": name, "in": "query", "required": name in qschema.get("required", []), "schema": prop})
        if params:
            op["parameters"] = params
        if route.body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(route.body, "validation")}}}
        ok: dict[str, Any] = {"description": "OK"}
        if route.response is not None:
            ok["content"] = {"application/json": {"schema": ref(route.response, "serialization")}}
        responses: dict[str, Any] = {str(route.status): ok}
        for code in sorted({*route.errors, ErrorCode.INVALID_PARAMETER} if route.body or route.query else set(route.errors)):
            status = str(_STATUS_BY_CODE.get(code, 400))
            entry = responses.setdefault(
                status, {"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            )
            entry["description"] = ", ".join(filter(None, [entry["description"], code.value]))
        op["responses"] = responses
        if route.auth:
            op["security"] = [{route.auth: []}]
        paths.setdefault(route.path, {})[route.method.lower()] = op
    schemes = {r.auth for r in routes if r.auth}
    return {
        "openapi": "3.1.0",
        "info": {"title": "shlyuz JSON APIs", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {name: {"type": "http", "scheme": "bearer"} for name in sorted(schemes)},
        },
    }


def _path_params(path: str) -> list[str]:
    out = []
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            out.append(part[1:-1].split(":")[0])
    return out
