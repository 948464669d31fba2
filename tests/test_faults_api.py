"""``/__admin/faults`` and ``/__admin/sessions/{scope}/faults``: the contract the web console relies on, and its
errors (400 JSON with stable codes)."""

from __future__ import annotations

import pytest

SCOPE = {"X-Shlyuz-Scope": "qa-api"}


async def j(resp, status: int):
    assert resp.status == status, await resp.text()
    return await resp.json()


async def test_the_rules_of_a_fresh_session_are_empty(shep):
    c = shep.client
    assert await j(await c.get("/__admin/faults"), 200) == {"scope": "default", "rules": []}
    assert await j(await c.get("/__admin/faults", headers=SCOPE), 200) == {"scope": "qa-api", "rules": []}


async def test_add_list_replace_delete_clear(shep):
    c = shep.client
    added = await j(await c.post("/__admin/faults", headers=SCOPE, json={
        "match": {"serviceId": "GBDFL_UniversalServiceSync"}, "fault": {"kind": "timeout", "seconds": 3},
        "latency": {"type": "lognormal", "medianMs": 20, "sigma": 0.4}, "times": 5, "probability": 0.5,
        "hits": 99,  # the server's, ignored
    }), 201)  # fmt: skip
    assert added == {
        "id": "f1", "match": {"serviceId": "GBDFL_UniversalServiceSync"}, "fault": {"kind": "timeout", "seconds": 3.0},
        "latency": {"type": "lognormal", "medianMs": 20.0, "sigma": 0.4, "maxMs": 60000.0}, "times": 5,
        "probability": 0.5, "hits": 0,
    }  # fmt: skip
    second = await j(await c.post("/__admin/faults", headers=SCOPE, json={"id": "mine", "fault": {"kind": "reset"}}), 201)
    assert second["id"] == "mine"
    listed = await j(await c.get("/__admin/faults", headers=SCOPE), 200)
    assert [r["id"] for r in listed["rules"]] == ["f1", "mine"]
    # the same rules under the session's path
    assert await j(await c.get("/__admin/sessions/qa-api/faults"), 200) == listed
    replaced = await j(await c.put("/__admin/faults", headers=SCOPE, json={"rules": [
        {"fault": {"kind": "malformed"}}, {"id": "keep", "fault": {"kind": "crl-stale"}},
    ]}), 200)  # fmt: skip
    assert [r["id"] for r in replaced["rules"]] == ["f2", "keep"]
    assert replaced["rules"][0]["fault"] == {"kind": "malformed", "body": "<html><body>502 Bad Gateway</body>"}
    after = await j(await c.delete("/__admin/faults/keep", headers=SCOPE), 200)
    assert [r["id"] for r in after["rules"]] == ["f2"]
    assert await j(await c.delete("/__admin/sessions/qa-api/faults"), 200) == {"scope": "qa-api", "rules": []}
    assert (await j(await c.get("/__admin/faults", headers=SCOPE), 200))["rules"] == []


async def test_session_path_verbs(shep):
    c = shep.client
    added = await j(await c.post("/__admin/sessions/qa-s/faults", json={"fault": {"kind": "status-error"}}), 201)
    assert (await j(await c.get("/__admin/faults", headers={"X-Shlyuz-Scope": "qa-s"}), 200))["rules"] == [added]
    put = await j(await c.put("/__admin/sessions/qa-s/faults", json={"rules": []}), 200)
    assert put == {"scope": "qa-s", "rules": []}
    await j(await c.post("/__admin/sessions/qa-s/faults", json={"id": "x", "fault": {"kind": "reset"}}), 201)
    assert (await j(await c.delete("/__admin/sessions/qa-s/faults/x"), 200))["rules"] == []


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        ({"fault": {"kind": "explode"}}, "INVALID_PARAMETER", "fault"),
        ({}, "INVALID_PARAMETER", "fault: Field required"),
        ({"fault": {"kind": "latency"}}, "INVALID_PARAMETER", "needs the rule's latency"),
        ({"fault": {"kind": "timeout", "seconds": 301}}, "INVALID_PARAMETER", "seconds"),
        ({"fault": {"kind": "truncated", "fraction": 1}}, "INVALID_PARAMETER", "fraction"),
        ({"fault": {"kind": "shep-fault", "code": "has space"}}, "INVALID_PARAMETER", "code"),
        ({"fault": {"kind": "reset"}, "probability": 2}, "INVALID_PARAMETER", "probability"),
        ({"fault": {"kind": "reset"}, "times": 0}, "INVALID_PARAMETER", "times"),
        ({"fault": {"kind": "reset"}, "match": {"endpoint": "bip-sync"}}, "INVALID_PARAMETER", "endpoint"),
        ({"fault": {"kind": "reset"}, "latency": {"type": "uniform", "minMs": 9, "maxMs": 1}}, "INVALID_PARAMETER", "minMs"),
        ({"fault": {"kind": "reset"}, "extra": 1}, "INVALID_PARAMETER", "extra"),
    ],
)
async def test_invalid_rules_are_refused_with_stable_codes(shep, body, code, fragment):
    error = (await j(await shep.client.post("/__admin/faults", json=body), 400))["error"]
    assert error["code"] == code and fragment in error["message"]


async def test_other_errors(shep):
    c = shep.client
    error = (await j(await c.post("/__admin/faults", data=b"{nope", headers={"Content-Type": "application/json"}), 400))["error"]
    assert error["code"] == "INVALID_JSON"
    error = (await j(await c.delete("/__admin/faults/f404"), 404))["error"]
    assert error["code"] == "NOT_FOUND" and "f404" in error["message"]
    await j(await c.post("/__admin/faults", json={"id": "dup", "fault": {"kind": "reset"}}), 201)
    error = (await j(await c.post("/__admin/faults", json={"id": "dup", "fault": {"kind": "reset"}}), 409))["error"]
    assert error["code"] == "CONFLICT"
    error = (await j(await c.put("/__admin/faults", json={"rules": [
        {"id": "a", "fault": {"kind": "reset"}}, {"id": "a", "fault": {"kind": "reset"}}]}), 400))["error"]  # fmt: skip
    assert error["code"] == "INVALID_PARAMETER" and "same id" in error["message"]
    error = (await j(await c.get("/__admin/sessions/bad scope!/faults"), 400))["error"]
    assert error["code"] == "INVALID_PARAMETER"
    error = (await j(await c.get("/__admin/faults", headers={"X-Shlyuz-Scope": "bad scope!"}), 400))["error"]
    assert error["code"] == "INVALID_PARAMETER"


async def test_the_routes_are_in_openapi(shep):
    doc = await j(await shep.client.get("/openapi.json"), 200)
    assert set(doc["paths"]["/__admin/faults"]) == {"get", "post", "put", "delete"}
    assert set(doc["paths"]["/__admin/faults/{id}"]) == {"delete"}
    assert set(doc["paths"]["/__admin/sessions/{scope}/faults"]) == {"get", "post", "put", "delete"}
    assert "FaultRule" in doc["components"]["schemas"]
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
