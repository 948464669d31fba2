"""Fault injection through the gateway: each kind on the SHEP endpoints, the rules' targeting, ``times`` and
sessions, and what the journal says. Latency is checked by the value drawn (the verdict), never by a clock."""

from __future__ import annotations

import aiohttp
import pytest
from edshelp import APPLICANT, SYNC, WSS, message
from shepmsg import fields, send_message

from shlyuz.dsig.signer import signer_for
from shlyuz.errors import ShlyuzError
from shlyuz.shep.events import SyncResponse
from shlyuz.shep.responses import Fault, read_sync_reply
from shlyuz.storage.base import JournalQuery
from shlyuz.xml import safe

GBDFL = "GBDFL_UniversalServiceSync"
GBDFL_DATA = ("http://message.persistence.interactive.nat", "Request")
SIGN = f"person/{APPLICANT}/sign"
XML = {"Content-Type": "text/xml; charset=utf-8"}


def gbdfl_body(sender: str = "shlyuz-demo", password: str = "demo-password") -> bytes:
    return send_message(GBDFL, fields(iin=APPLICANT), data_type=GBDFL_DATA, sender=sender, password=password)


def enis_body() -> bytes:
    return send_message("ENIS_POA_CHECK", fields(poaNumber="POA-1"))


async def install(shep, scope: str | None = None, **rule) -> dict:
    headers = {"X-Shlyuz-Scope": scope} if scope else {}
    r = await shep.client.post("/__admin/faults", json=rule, headers=headers)
    assert r.status == 201, await r.text()
    return await r.json()


async def post(shep, body: bytes, *, scope: str | None = None, path: str = SYNC):
    headers = {**XML, **({"X-Shlyuz-Scope": scope} if scope else {})}
    r = await shep.client.post(path, data=body, headers=headers)
    return r.status, await r.read()


async def last_record(shep):
    [record] = await shep.gateway.storage.query_exchanges(JournalQuery(limit=1))
    return record


def fault_of(raw: bytes) -> Fault:
    reply = read_sync_reply(raw)
    assert isinstance(reply, Fault), raw
    return reply


def ok(raw: bytes) -> SyncResponse:
    reply = read_sync_reply(raw)
    assert isinstance(reply, SyncResponse), raw
    return reply


# -- kinds ----------------------------------------------------------------------------------------------------------


async def test_shep_fault_with_a_code_of_shlyuz(shep):
    rule = await install(shep, fault={"kind": "shep-fault", "code": "PROVIDER_ERROR", "message": "GBD FL is down"})
    status, raw = await post(shep, gbdfl_body())
    f = fault_of(raw)
    assert status == 500 and f.error.error_code == "PROVIDER_ERROR" and f.error.error_message == "GBD FL is down"
    assert f.faultcode == "soap:Server"
    record = await last_record(shep)
    assert record.verdicts["fault"] == {"id": rule["id"], "kind": "shep-fault"}
    assert record.verdicts["failed_stage"] == "faults" and record.outcome == "PROVIDER_ERROR"


async def test_shep_fault_with_a_code_of_its_own_and_a_faultcode(shep):
    await install(shep, fault={"kind": "shep-fault", "code": "GBDFL-503", "message": "try again", "faultcode": "Client"})
    status, raw = await post(shep, gbdfl_body())
    f = fault_of(raw)
    assert status == 500 and f.error.error_code == "GBDFL-503" and f.faultcode == "soap:Client"
    assert f.faultstring == "GBDFL-503: try again"
    assert (await last_record(shep)).outcome == "GBDFL-503"


async def test_status_error_is_a_well_formed_scse001_reply(shep):
    await install(shep, fault={"kind": "status-error", "message": "Сервис временно недоступен"})
    reply = await shep.post(gbdfl_body())  # validated against the official XSDs
    parsed = reply.parsed
    assert reply.status == 200 and isinstance(parsed, SyncResponse)
    assert parsed.status.value == "SCSE001" and parsed.status_message == "Сервис временно недоступен"
    record = await last_record(shep)
    assert record.outcome == "SCSE001" and record.verdicts["fault"]["kind"] == "status-error"


async def test_latency_is_drawn_and_journaled(shep):
    shep.gateway.sync.fault_rng.seed(11)
    await install(shep, fault={"kind": "latency"}, latency={"type": "uniform", "minMs": 1, "maxMs": 3})
    status, raw = await post(shep, gbdfl_body())
    assert status == 200 and ok(raw).status.value == "SCSS001"
    record = await last_record(shep)
    drawn = record.verdicts["fault"]["latencyMs"]
    assert record.verdicts["fault"]["kind"] == "latency" and 1 <= drawn <= 3
    assert record.timings["faults"] >= drawn  # the stage waited at least what was drawn


async def test_latency_combines_with_another_kind(shep):
    await install(shep, fault={"kind": "status-error"}, latency={"type": "fixed", "ms": 2})
    status, raw = await post(shep, gbdfl_body())
    assert status == 200 and ok(raw).status.value == "SCSE001"
    assert (await last_record(shep)).verdicts["fault"] == {"id": "f1", "kind": "status-error", "latencyMs": 2.0}


async def test_malformed_reply_is_not_xml_and_journaled_as_sent(shep):
    await install(shep, fault={"kind": "malformed", "body": "oops, not xml"})
    status, raw = await post(shep, gbdfl_body())
    assert status == 200 and raw == b"oops, not xml"
    with pytest.raises(ShlyuzError, match="MALFORMED_XML"):
        safe.parse(raw)
    record = await last_record(shep)
    assert record.response == b"oops, not xml" and record.verdicts["fault"]["kind"] == "malformed"


async def test_truncated_reply_is_the_reply_cut_in_the_middle(shep):
    _, whole = await post(shep, gbdfl_body())
    await install(shep, fault={"kind": "truncated", "fraction": 0.5})
    status, raw = await post(shep, gbdfl_body())
    assert status == 200 and raw.startswith(b"<?xml") and 0.4 * len(whole) < len(raw) < 0.6 * len(whole)
    with pytest.raises(ShlyuzError, match="MALFORMED_XML"):
        safe.parse(raw)
    assert (await last_record(shep)).response == raw


async def test_reset_aborts_the_connection_after_journaling(shep):
    await install(shep, fault={"kind": "reset"})
    with pytest.raises((aiohttp.ClientOSError, aiohttp.ServerDisconnectedError)):
        await post(shep, gbdfl_body())
    record = await last_record(shep)
    assert record.verdicts["fault"]["kind"] == "reset" and record.outcome == "SCSS001"


async def test_timeout_holds_then_closes_without_a_reply(shep):
    await install(shep, fault={"kind": "timeout", "seconds": 0.05})
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post(shep, gbdfl_body())
    assert (await last_record(shep)).verdicts["fault"]["kind"] == "timeout"


async def test_timeout_outlasts_a_client_deadline(shep):
    await install(shep, fault={"kind": "timeout", "seconds": 5})
    with pytest.raises(TimeoutError):
        await shep.client.post(SYNC, data=gbdfl_body(), headers=XML, timeout=aiohttp.ClientTimeout(total=0.2))


# -- revocation -----------------------------------------------------------------------------------------------------


def signed_body(pki, name: str = SIGN) -> bytes:
    return message(wsse_signer=signer_for(pki, name)).to_bytes()


async def wsse_verdict(shep):
    return (await last_record(shep)).verdicts["signature"]["wsse"]


async def test_ocsp_unavailable_falls_back_to_the_crl(shep, session_pki):
    await install(shep, fault={"kind": "ocsp-unavailable"})
    status, raw = await post(shep, signed_body(session_pki), path=WSS)
    assert status == 200 and ok(raw).status.value == "SCSS001"
    assert (await wsse_verdict(shep))["revocation"] == "crl"


async def test_ocsp_unavailable_still_finds_a_revoked_certificate_in_the_crl(shep, session_pki):
    await install(shep, fault={"kind": "ocsp-unavailable"})
    status, raw = await post(shep, signed_body(session_pki, "bad/revoked"), path=WSS)
    f = fault_of(raw)
    assert status == 500 and f.error.error_code == "CERT_REVOKED" and "according to CRL" in f.error.error_message


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ({"kind": "ocsp-unavailable", "crl": "unavailable"}, ["OCSP responder", "unreachable", "CRL"]),
        ({"kind": "ocsp-try-later", "crl": "unavailable"}, ["tryLater"]),
        ({"kind": "ocsp-unknown", "crl": "unavailable"}, ["OCSP said unknown"]),
        ({"kind": "crl-stale"}, ["unreachable", "is stale (nextUpdate"]),
        ({"kind": "ocsp-unknown", "crl": "stale"}, ["OCSP said unknown", "is stale"]),
    ],
)
async def test_revocation_unknown_is_revocation_unavailable(shep, session_pki, fault, says):
    await install(shep, fault=fault)
    status, raw = await post(shep, signed_body(session_pki), path=WSS)
    f = fault_of(raw)
    assert status == 500 and f.error.error_code == "REVOCATION_UNAVAILABLE" and f.faultcode == "soap:Server"
    for text in says:
        assert text in f.error.error_message
    assert (await last_record(shep)).verdicts["signature"]["failed"] == "REVOCATION_UNAVAILABLE"


@pytest.mark.parametrize("kind", ["ocsp-try-later", "ocsp-unknown"])
async def test_ocsp_errors_fall_back_to_a_good_crl(shep, session_pki, kind):
    await install(shep, fault={"kind": kind})
    status, raw = await post(shep, signed_body(session_pki), path=WSS)
    assert status == 200 and ok(raw).status.value == "SCSS001" and (await wsse_verdict(shep))["revocation"] == "crl"


async def test_the_revocation_caches_do_not_hide_a_fault_nor_keep_it(shep, session_pki):
    body = lambda: signed_body(session_pki)
    assert ok((await post(shep, body(), path=WSS))[1]) and (await wsse_verdict(shep))["revocation"] == "ocsp"
    assert ok((await post(shep, body(), path=WSS))[1]) and (await wsse_verdict(shep))["revocation"] == "cache"
    await install(shep, fault={"kind": "crl-stale"}, times=1)
    assert fault_of((await post(shep, body(), path=WSS))[1]).error.error_code == "REVOCATION_UNAVAILABLE"
    # the rule expired: the cached good answer is used again, nothing of the fault stayed in the caches
    assert ok((await post(shep, body(), path=WSS))[1]) and (await wsse_verdict(shep))["revocation"] == "cache"


async def test_an_unsigned_request_is_untouched_by_a_revocation_fault(shep):
    await install(shep, fault={"kind": "crl-stale"})
    status, raw = await post(shep, gbdfl_body())
    assert status == 200 and ok(raw).status.value == "SCSS001"


# -- targeting, times, probability, sessions ------------------------------------------------------------------------


async def test_a_rule_for_one_service_leaves_the_others_alone(shep):
    await install(shep, match={"serviceId": "ENIS_POA_CHECK"}, fault={"kind": "shep-fault"})
    assert ok((await post(shep, gbdfl_body()))[1]).status.value == "SCSS001"
    assert fault_of((await post(shep, enis_body()))[1]).error.error_code == "PROVIDER_ERROR"


async def test_a_rule_for_one_sender_and_endpoint(shep, session_pki):
    await install(shep, match={"sender": "ARM_TSON", "endpoint": "/bip-sync"}, fault={"kind": "status-error"})
    assert ok((await post(shep, gbdfl_body()))[1]).status.value == "SCSS001"
    assert ok((await post(shep, gbdfl_body("ARM_TSON", "tson-password")))[1]).status.value == "SCSE001"
    assert ok((await post(shep, signed_body(session_pki), path=WSS))[1]).status.value == "SCSS001"


async def test_times_limits_a_rule_then_it_expires(shep):
    await install(shep, fault={"kind": "status-error"}, times=2)
    statuses = [ok((await post(shep, gbdfl_body()))[1]).status.value for _ in range(3)]
    assert statuses == ["SCSE001", "SCSE001", "SCSS001"]
    [rule] = (await (await shep.client.get("/__admin/faults")).json())["rules"]
    assert rule["hits"] == 2 and rule["times"] == 2


async def test_probability_zero_never_fires_and_one_always(shep):
    await install(shep, fault={"kind": "status-error"}, probability=0)
    assert ok((await post(shep, gbdfl_body()))[1]).status.value == "SCSS001"
    await install(shep, fault={"kind": "shep-fault"}, probability=1)
    assert fault_of((await post(shep, gbdfl_body()))[1]).error.error_code == "PROVIDER_ERROR"
    rules = (await (await shep.client.get("/__admin/faults")).json())["rules"]
    assert [r["hits"] for r in rules] == [0, 1]


async def test_a_session_rule_does_not_leak_to_another_session(shep):
    await install(shep, "qa-a", fault={"kind": "status-error"})
    assert ok((await post(shep, gbdfl_body(), scope="qa-a"))[1]).status.value == "SCSE001"
    assert ok((await post(shep, gbdfl_body(), scope="qa-b"))[1]).status.value == "SCSS001"
    assert ok((await post(shep, gbdfl_body()))[1]).status.value == "SCSS001"  # the default scope
    assert (await (await shep.client.get("/__admin/faults", headers={"X-Shlyuz-Scope": "qa-b"})).json())["rules"] == []


async def test_resetting_a_session_deletes_its_faults(shep):
    await install(shep, "qa-r", fault={"kind": "status-error"})
    r = await shep.client.post("/__admin/sessions/qa-r/reset")
    assert r.status == 200
    assert (await (await shep.client.get("/__admin/sessions/qa-r/faults")).json()) == {"scope": "qa-r", "rules": []}
    assert ok((await post(shep, gbdfl_body(), scope="qa-r"))[1]).status.value == "SCSS001"


async def test_an_inside_call_meets_the_faults_too(shep):
    """The workstation's and the chains' own GBD FL calls go through the same pipeline, so the same rules."""
    from edshelp import gbdfl

    from shlyuz.gateway.internal import call_sync

    await install(shep, match={"serviceId": GBDFL}, fault={"kind": "status-error", "message": "busy"}, times=1)
    await install(shep, match={"serviceId": GBDFL}, fault={"kind": "reset"}, times=1)
    result = await call_sync(shep.gateway, "arm-con", GBDFL, gbdfl(APPLICANT))
    assert result.status.value == "SCSE001" and result.message == "busy"
    with pytest.raises(ShlyuzError, match="did not answer arm-con: reset"):
        await call_sync(shep.gateway, "arm-con", GBDFL, gbdfl(APPLICANT))
    assert (await call_sync(shep.gateway, "arm-con", GBDFL, gbdfl(APPLICANT))).ok


async def test_a_held_request_is_let_go_when_its_client_has_gone():
    """``timeout`` holds no handler for a connection already closed (the client gave up)."""
    import asyncio
    from types import SimpleNamespace

    from shlyuz.faults.edge import _hold

    await asyncio.wait_for(_hold(SimpleNamespace(transport=None), 300), timeout=5)
    closing = SimpleNamespace(transport=SimpleNamespace(is_closing=lambda: True))
    await asyncio.wait_for(_hold(closing, 300), timeout=5)
