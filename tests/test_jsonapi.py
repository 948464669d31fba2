"""JSON API routes as data: body validation with precise errors, and the OpenAPI document built from the same list."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from shlyuz.errors import ErrorCode
from shlyuz.gateway.jsonapi import ApiError, ApiRoute, add_api_routes


class Greeting(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    iin: str = Field(pattern=r"^\d{12}$")
    full_name: str = Field(alias="fullName", max_length=50)


class Reply(BaseModel):
    text: str


async def greet(request: web.Request, body: Greeting) -> Reply:
    if body.iin == "000000000000":
        raise ApiError(ErrorCode.FORBIDDEN, "that IIN may not be greeted")
    return Reply(text=f"hello {body.full_name}")


async def item(request: web.Request) -> Reply:
    raise ApiError(ErrorCode.NOT_FOUND, f"no item {request.match_info['number']}")


ROUTES = [
    ApiRoute("POST", "/t/greet", greet, "Greet", "test", body=Greeting, response=Reply, status=201,
             errors=(ErrorCode.FORBIDDEN,)),
    ApiRoute("GET", "/t/items/{number}", item, "An item", "test", response=Reply, auth="testToken",
             errors=(ErrorCode.NOT_FOUND,)),
]


async def client(app_client):
    app = web.Application()
    add_api_routes(app, ROUTES)
    return await app_client(app)


async def test_valid_body_is_answered_with_the_model_and_status(app_client):
    c = await client(app_client)
    r = await c.post("/t/greet", json={"iin": "900101300011", "fullName": "Айгерім"})
    assert r.status == 201 and await r.json() == {"text": "hello Айгерім"}


async def test_bad_bodies_get_precise_codes(app_client):
    c = await client(app_client)
    cases = [
        (dict(data=b"{not json", headers={"Content-Type": "application/json"}), 400, "INVALID_JSON", "not JSON"),
        (dict(data=b"\xff\xfe", headers={"Content-Type": "application/json"}), 400, "INVALID_JSON", "UTF-8"),
        (dict(json=[1, 2]), 400, "INVALID_JSON", "JSON object"),
        (dict(data=b"{}", headers={"Content-Type": "text/plain"}), 415, "INVALID_JSON", "application/json"),
        (dict(json={"iin": "12", "fullName": "x"}), 400, "INVALID_PARAMETER", "iin:"),
        (dict(json={"iin": "900101300011", "fullName": "x", "extra": 1}), 400, "INVALID_PARAMETER", "extra:"),
        (dict(data=b"[" * 100_000 + b"]" * 100_000, headers={"Content-Type": "application/json"}), 400, "INVALID_JSON", ""),
        (dict(data=b" " * (1 << 20) + b"{}", headers={"Content-Type": "application/json"}), 413, "INVALID_JSON", "exceeds"),
        (dict(json={"iin": "000000000000", "fullName": "x"}), 403, "FORBIDDEN", "may not be greeted"),
    ]
    for kwargs, status, code, text in cases:
        r = await c.post("/t/greet", **kwargs)
        body = await r.json()
        assert (r.status, body["error"]["code"]) == (status, code), (kwargs.keys(), body)
        assert text in body["error"]["message"]


async def test_openapi_describes_the_routes(app_client):
    c = await client(app_client)
    doc = await (await c.get("/openapi.json")).json()
    assert doc["openapi"] == "3.1.0"
    post = doc["paths"]["/t/greet"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Greeting"}
    assert set(post["responses"]) == {"201", "400", "403"}
    assert "fullName" in doc["components"]["schemas"]["Greeting"]["properties"]
    get = doc["paths"]["/t/items/{number}"]["get"]
    assert get["parameters"][0]["name"] == "number" and get["security"] == [{"testToken": []}]
    assert doc["components"]["securitySchemes"]["testToken"] == {"type": "http", "scheme": "bearer"}
    r = await c.get("/t/items/7")
    assert r.status == 404 and (await r.json())["error"]["message"] == "no item 7"
