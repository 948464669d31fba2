"""Isolated sessions (X-Shlyuz-Scope): each has its own records and may have its own time; reset clears it."""

from __future__ import annotations

from shepmsg import fields, send_message

from shlyuz.shep.responses import read_sync_reply

GBDFL = ("http://message.persistence.interactive.nat", "Request")
RUN = {"channel": "provider", "applicant": "900101300017"}


def h(scope):
    return {"X-Shlyuz-Scope": scope}


async def test_sessions_do_not_see_each_others_records(shep):
    c = shep.client
    r = await c.post("/chains/child-allowance/runs", json=RUN, headers=h("run-a"))
    assert r.status == 201
    run_id = (await r.json())["id"]
    assert (await c.get(f"/chains/runs/{run_id}", headers=h("run-a"))).status == 200
    assert (await c.get(f"/chains/runs/{run_id}", headers=h("run-b"))).status == 404
    assert (await c.get(f"/chains/runs/{run_id}")).status == 404  # the default scope
    # numbering is per session too: both sessions' first run is RUN-000001
    r = await c.post("/chains/child-allowance/runs", json=RUN, headers=h("run-b"))
    assert (await r.json())["id"] == run_id


async def test_a_session_clock_moves_everything_the_request_does(shep):
    c = shep.client
    r = await c.put("/__admin/sessions/s1/clock", json={"at": "2026-03-20T11:00:00+05:00"})
    body = await r.json()
    assert r.status == 200 and body["now"] == "2026-03-20T11:00:00+05:00"
    # a SHEP reply in the session is dated by the session's time
    reply = await shep.client.post("/bip-sync/", data=send_message("GBDFL_UniversalServiceSync", fields(iin="900101300017"), data_type=GBDFL),
                                   headers={"Content-Type": "text/xml", **h("s1")})  # fmt: skip
    parsed = read_sync_reply(await reply.read())
    assert parsed.response_date.isoformat().startswith("2026-03-20T11:00:00")
    # a chain run in the session starts at the session's time (the next office opening after it)
    run = await (await c.post("/chains/child-allowance/runs", json=RUN, headers=h("s1"))).json()
    assert run["trace"]["started_at"] == "2026-03-20T11:00:00+05:00"
    # advancing moves a frozen time on; other sessions keep the gateway's time
    r = await c.put("/__admin/sessions/s1/clock", json={"advanceSeconds": 3600})
    assert (await r.json())["now"] == "2026-03-20T12:00:00+05:00"
    other = await (await c.get("/__admin/sessions/s2")).json()
    assert other["now"] == shep.gateway.clock.base_now().isoformat()


async def test_reset_deletes_what_the_session_holds(shep):
    c = shep.client
    await c.put("/__admin/sessions/s3/clock", json={"offsetSeconds": 86400})
    await c.post("/chains/child-allowance/runs", json=RUN, headers=h("s3"))
    r = await c.post("/__admin/sessions/s3/reset")
    assert r.status == 200 and (await r.json())["deletedRecords"] == 2  # the run and the clock
    assert (await (await c.get("/__admin/sessions/s3")).json())["offsetSeconds"] == 0


async def test_bad_scopes_are_refused_precisely(shep):
    c = shep.client
    r = await c.get("/chains/runs", headers=h("no spaces!"))
    assert r.status == 400 and (await r.json())["error"]["code"] == "INVALID_PARAMETER"
    reply = await shep.post(send_message("GBDFL_UniversalServiceSync", fields(iin="900101300017"), data_type=GBDFL))
    assert reply.status == 200
    r = await c.post("/bip-sync/", data=send_message("GBDFL_UniversalServiceSync", fields(iin="900101300017"), data_type=GBDFL),
                     headers={"Content-Type": "text/xml", **h("x" * 65)})  # fmt: skip
    fault = read_sync_reply(await r.read())
    assert r.status == 500 and fault.error.error_code == "INVALID_PARAMETER" and "X-Shlyuz-Scope" in fault.error.error_message
    r = await c.put("/__admin/sessions/default/clock", json={})
    assert r.status == 400
    r = await c.put("/__admin/sessions/s4/clock", json={"at": "2026-03-20T11:00:00+05:00", "offsetSeconds": 5})
    assert r.status == 400 and "give one of" in (await r.json())["error"]["message"]
