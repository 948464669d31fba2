"""The whole /openapi.json, with the portal and State Corporation workstation routes registered, is a valid
OpenAPI 3.1 document according to an independent validator (openapi-spec-validator, a test dependency)."""

from __future__ import annotations

from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from portalkit import make_app


async def test_openapi_document_is_valid_openapi_3_1(settings, session_pki, app_client):
    app, _, _ = make_app(settings, session_pki, con=True)
    client = await app_client(app)
    doc = await (await client.get("/openapi.json")).json()
    assert doc["openapi"] == "3.1.0"
    try:
        validate(doc)
    except OpenAPIValidationError as exc:  # pragma: no cover - the message is the point
        raise AssertionError(f"/openapi.json is not valid OpenAPI 3.1: {exc}") from None
    ops = {(m, p) for p, item in doc["paths"].items() for m in item}
    assert ("post", "/portal/applications") in ops and ("post", "/con/applications") in ops
