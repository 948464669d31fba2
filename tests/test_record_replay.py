"""Record and replay end to end over HTTP on 127.0.0.1: clients → `shlyuz record` proxy → an upstream shlyuz; the
journal exported as JSONL; replayed against a fresh upstream (no unmasked differences) and a broken one (the
difference by XPath, exit 1); `replay --serve` answering shlyuz.client and zeep from the recording."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from conftest import GATEWAY_NOW, REPO
from lxml import etree

from shlyuz.cli import main
from shlyuz.client import SendMessage, payload, send
from shlyuz.clock import FixedClock
from shlyuz.config import load_settings
from shlyuz.dsig.signer import signer_for
from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.fixtures.iin import make_iin
from shlyuz.fixtures.store import load_dirs
from shlyuz.gateway.app import build_gateway, create_app
from shlyuz.replay.format import read_recording
from shlyuz.replay.proxy import RecordConfig, RecordProxy, create_record_app
from shlyuz.replay.runner import replay
from shlyuz.replay.serve import ReplayServer, create_replay_app
from shlyuz.shep import ns
from shlyuz.shep.responses import Fault
from shlyuz.storage.base import JournalQuery
from shlyuz.storage.sqlite import SqliteStorage

APPLICANT = DEMO_IINS["applicant"]
SIGN = f"person/{APPLICANT}/sign"
NOBODY = make_iin(date(1991, 2, 3), "M", 4321)  # checksum-valid, in no fixture
POA = "ДОВ-2025-000001"
GBDFL = "GBDFL_UniversalServiceSync"


def gbdfl(iin: str, **kw) -> SendMessage:
    return SendMessage(GBDFL, payload(ns.GBDFL_MESSAGE, "Request", {"messageId": "1", "senderCode": "rr", "iin": iin}), **kw)


def enis(number: str) -> SendMessage:
    return SendMessage("ENIS_POA_CHECK", payload(ns.ENIS_POA, "PoaCheckRequest",
                                                 {"messageId": "2", "senderCode": "rr", "poaNumber": number}))  # fmt: skip


async def gateway_url(app_client, tmp_path: Path, name: str, session_pki, fixtures=None) -> str:
    settings = load_settings(data_dir=tmp_path / name)
    gw = build_gateway(settings, clock=FixedClock(GATEWAY_NOW), pki=session_pki, fixtures=fixtures)
    client = await app_client(create_app(gw))
    return str(client.make_url("")).rstrip("/")


@pytest.fixture
def clean_env(monkeypatch):
    import os

    for key in list(os.environ):
        if key.startswith("SHLYUZ_"):
            monkeypatch.delenv(key)


@pytest.fixture
async def recorded(app_client, tmp_path, session_pki, clean_env):
    """A session recorded through the proxy: (recording path, journal db, replies the clients got)."""
    upstream = await gateway_url(app_client, tmp_path, "upstream", session_pki)
    db = tmp_path / "record.db"
    out_path = tmp_path / "live.jsonl"
    out = out_path.open("w", encoding="utf-8")
    proxy = RecordProxy(RecordConfig(upstream=upstream), storage=SqliteStorage(db), clock=FixedClock(GATEWAY_NOW),
                        out=out)  # fmt: skip
    client = await app_client(create_record_app(proxy))
    base = str(client.make_url("")).rstrip("/")
    replies = {
        "found": await send(base + "/bip-sync/", gbdfl(APPLICANT).to_bytes()),
        "not_found": await send(base + "/bip-sync/", gbdfl(NOBODY).to_bytes()),
        "enis": await send(base + "/bip-sync/", enis(POA).to_bytes()),
        "signed": await send(base + "/bip-sync-wss-gost/",
                             gbdfl(APPLICANT, wsse_signer=signer_for(session_pki, SIGN)).to_bytes()),
        "fault": await send(base + "/bip-sync/", SendMessage("NO_SUCH_SERVICE", None).to_bytes()),
        "escaped": await send(base + "/bip-sync/", SendMessage(GBDFL, payload(ns.GBDFL_MESSAGE, "Request", {
            "messageId": "z-1", "senderCode": "zeep", "iin": APPLICANT}), escaped=True).to_bytes()),
    }  # fmt: skip
    out.close()
    return out_path, db, replies, upstream


async def test_the_proxy_returns_the_upstream_answers_and_journals_them_as_a_recording(recorded, session_pki):
    live, db, replies, upstream = recorded
    assert replies["found"].parsed.status.value == "SCSS001"
    assert replies["not_found"].parsed.status.value == "SCSE001"
    assert replies["enis"].parsed.status.value == "SCSS001"
    assert replies["signed"].http_status == 200 and b"wsse:Security" in replies["signed"].body
    fault = replies["fault"].parsed
    assert isinstance(fault, Fault) and fault.error.error_code == "SERVICE_NOT_FOUND"
    storage = SqliteStorage(db)
    await storage.open()
    try:
        rows = await storage.query_exchanges(JournalQuery(limit=50))
    finally:
        await storage.close()
    assert len(rows) == 6
    by_outcome = [r.outcome for r in reversed(rows)]
    assert by_outcome == ["SCSS001", "SCSE001", "SCSS001", "SCSS001", "SERVICE_NOT_FOUND", "SCSS001"]
    signed = rows[2]  # newest first: escaped, fault, signed
    assert signed.endpoint == "/bip-sync-wss-gost/"
    assert signed.verdicts["recording"]["upstream"] == upstream + "/bip-sync-wss-gost/"
    assert signed.verdicts["recording"]["httpStatus"] == 200
    assert signed.verdicts["recording"]["requestHeaders"]["Content-Type"].startswith("text/xml")
    cert = session_pki.identity(SIGN).cert
    assert signed.verdicts["signature"]["wsse"]["serial"] == f"{cert.serial_number:x}"
    assert signed.response == replies["signed"].body  # unchanged, byte for byte
    # the live --out file holds the same exchanges, in order
    rec = read_recording(live.open("rb"))
    assert rec.header.provenance.kind == "record" and rec.header.provenance.upstream == upstream
    assert [e.outcome for e in rec.exchanges] == by_outcome
    assert rec.exchanges[3].signatures.wsse.purpose == "sign"
    assert rec.exchanges[3].signatures.response_wsse is not None  # the wss endpoint signs its reply
    assert rec.exchanges[4].response.status == 500


async def test_export_then_replay_against_a_fresh_upstream_has_no_unmasked_differences(
    recorded, app_client, tmp_path, session_pki
):
    _, db, _, _ = recorded
    out = tmp_path / "session.jsonl"
    rc = await asyncio.to_thread(main, ["journal", "export", "--db", str(db), "--out", str(out), "--recorded"])
    assert rc == 0
    recording = read_recording(out.open("rb"))
    assert recording.header.provenance.kind == "journal-export"
    assert recording.header.provenance.filters == {"recorded": "true"}
    assert len(recording.exchanges) == 6
    fresh = await gateway_url(app_client, tmp_path, "fresh", session_pki)
    from shlyuz.commands.replay import signer_resolver

    report = await replay(recording, fresh, now=FixedClock(GATEWAY_NOW).now, signer_for=signer_resolver(session_pki, "auto"))
    assert [r.error for r in report.results] == [None] * 6
    assert [r.differences for r in report.results] == [[]] * 6
    assert report.results[3].resigned == {"wsse": SIGN}  # found by serial and subject in the test PKI
    # and through the command line, with JUnit output
    junit = tmp_path / "replay.xml"
    rc = await asyncio.to_thread(main, ["replay", str(out), "--against", fresh, "--data-dir", str(session_pki.directory.parent),
                                        "--at", GATEWAY_NOW.isoformat(), "--junit", str(junit)])  # fmt: skip
    assert rc == 0
    suite = etree.parse(str(junit)).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("6", "0", "0")


async def test_a_replay_runs_in_its_own_session(recorded, app_client, tmp_path, session_pki, capsys):
    """shlyuz replay sends X-Shlyuz-Scope: a fresh session per run by default, or the one named by --scope; the
    target's journal files each replayed exchange under it (docs/record-replay.md)."""
    _, db, _, _ = recorded
    out = tmp_path / "session.jsonl"
    assert await asyncio.to_thread(main, ["journal", "export", "--db", str(db), "--out", str(out), "--recorded"]) == 0
    fresh = await gateway_url(app_client, tmp_path, "scoped", session_pki)
    common = ["replay", str(out), "--against", fresh, "--data-dir", str(session_pki.directory.parent),
              "--at", GATEWAY_NOW.isoformat()]  # fmt: skip
    assert await asyncio.to_thread(main, [*common, "--scope", "qa-run-7"]) == 0
    assert "session qa-run-7 (X-Shlyuz-Scope)" in capsys.readouterr().out
    assert await asyncio.to_thread(main, common) == 0
    fresh_scope = next(line.split()[1] for line in capsys.readouterr().out.splitlines() if line.startswith("session "))
    assert fresh_scope.startswith("replay-")
    journal = SqliteStorage(tmp_path / "scoped" / "shlyuz.db")
    await journal.open()
    try:
        for scope in ("qa-run-7", fresh_scope):
            assert len(await journal.query_exchanges(JournalQuery(scope=scope, limit=100))) == 6
        assert await journal.query_exchanges(JournalQuery(scope="default", limit=100)) == []
    finally:
        await journal.close()
    assert await asyncio.to_thread(main, [*common, "--scope", "not a scope"]) == 2


async def test_replay_against_a_broken_upstream_reports_the_difference_by_xpath(
    recorded, app_client, tmp_path, session_pki, capsys
):
    live, _, _, _ = recorded
    fixtures = load_dirs([REPO / "fixtures"])
    broken = replace(fixtures, persons={k: v for k, v in fixtures.persons.items() if k != APPLICANT})
    url = await gateway_url(app_client, tmp_path, "broken", session_pki, fixtures=broken)
    junit = tmp_path / "broken.xml"
    rc = await asyncio.to_thread(main, ["replay", str(live), "--against", url, "--data-dir", str(session_pki.directory.parent),
                                        "--at", GATEWAY_NOW.isoformat(), "--junit", str(junit)])  # fmt: skip
    assert rc == 1
    out = capsys.readouterr().out
    code = "/soap:Envelope/soap:Body/sync:SendMessageResponse/response/responseInfo/status/code/text()"
    assert f"{code}: expected 'SCSS001', got 'SCSE001'" in out
    assert "FAIL  #1 GBDFL_UniversalServiceSync /bip-sync/ SCSS001" in out
    assert "ok    #2 GBDFL_UniversalServiceSync /bip-sync/ SCSE001" in out  # not found stays not found
    assert "ok    #3 ENIS_POA_CHECK" in out
    assert "/response/responseData/data/persons: expected '<persons><person><iin>900101300017</iin>" in out  # the person is missing from the reply
    suite = etree.parse(str(junit)).getroot().find("testsuite")
    assert suite.get("failures") == "3"  # found, signed found, escaped found
    failure = suite.find("testcase/failure")
    assert failure is not None and code in failure.text


async def test_replay_refuses_to_send_a_signed_request_it_cannot_sign_again(recorded, app_client, tmp_path, session_pki):
    from shlyuz.commands.replay import signer_resolver

    live, _, _, _ = recorded
    fresh = await gateway_url(app_client, tmp_path, "fresh2", session_pki)
    recording = read_recording(live.open("rb"))
    report = await replay(recording, fresh, now=FixedClock(GATEWAY_NOW).now, signer_for=signer_resolver(None, "auto"))
    err = report.results[3].error
    assert err == "the request carries a wsse signature and there is no test PKI to re-sign it with (--data-dir DIR with DIR/pki)"
    assert all(r.ok for i, r in enumerate(report.results) if i != 3)
    # --resign none: the signed request goes exactly as recorded (its old signature still verifies upstream)
    report = await replay(recording, fresh, now=FixedClock(GATEWAY_NOW).now, signer_for=signer_resolver(session_pki, "none"))
    assert report.results[3].ok and report.results[3].note == "signed: sent as recorded (--resign none)"


async def test_explicit_resign_identity_signs_as_that_identity(recorded, app_client, tmp_path, session_pki):
    live, _, _, _ = recorded
    from shlyuz.commands.replay import signer_resolver

    fresh = await gateway_url(app_client, tmp_path, "fresh3", session_pki)
    other = f"person/{DEMO_IINS['attorney']}/sign"
    report = await replay(read_recording(live.open("rb")), fresh, now=FixedClock(GATEWAY_NOW).now,
                          signer_for=signer_resolver(session_pki, other))  # fmt: skip
    assert report.results[3].resigned == {"wsse": other} and report.results[3].ok


async def test_serve_answers_shlyuz_client_from_the_recording(recorded, app_client, session_pki):
    live, _, _, _ = recorded
    recording = read_recording(live.open("rb"))
    server = ReplayServer(recording, clock=FixedClock(GATEWAY_NOW), signer=signer_for(session_pki, "gateway"),
                          schemas_dir=REPO / "schemas")  # fmt: skip
    client = await app_client(create_replay_app(server))
    base = str(client.make_url("")).rstrip("/")
    msg = gbdfl(APPLICANT)
    reply = await send(base + "/bip-sync/", msg.to_bytes())
    assert reply.http_status == 200
    parsed = reply.parsed
    assert parsed.status.value == "SCSS001" and parsed.message_id != recording.exchanges[0].message_ids.response
    assert f"<iin>{APPLICANT}</iin>".encode() in reply.body
    nobody = (await send(base + "/bip-sync/", gbdfl(NOBODY).to_bytes())).parsed
    assert nobody.status.value == "SCSE001"
    # a signed recording is answered signed, by the gateway identity, and the signature verifies
    from shlyuz.dsig.wsse import verify_envelope
    from shlyuz.xml.safe import parse

    signed = await send(base + "/bip-sync-wss-gost/", gbdfl(APPLICANT, wsse_signer=signer_for(session_pki, SIGN)).to_bytes())
    result = verify_envelope(parse(signed.body))
    assert result.certificate == session_pki.identity("gateway").cert
    fault = (await send(base + "/bip-sync/", SendMessage("NO_SUCH_SERVICE", None).to_bytes())).parsed
    assert isinstance(fault, Fault) and fault.error.error_code == "SERVICE_NOT_FOUND"


async def test_serve_unmatched_request_gets_a_fault_naming_the_closest_recordings(recorded, app_client):
    live, _, _, _ = recorded
    server = ReplayServer(read_recording(live.open("rb")), clock=FixedClock(GATEWAY_NOW))
    client = await app_client(create_replay_app(server))
    other = DEMO_IINS["disabled"]
    reply = await send(str(client.make_url("/bip-sync/")), gbdfl(other).to_bytes())
    assert reply.http_status == 500
    err = reply.parsed.error
    assert err.error_code == "REPLAY_NO_MATCH"
    assert f"serviceId '{GBDFL}' with payload fields" in err.error_message and f"iin={other}" in err.error_message
    assert "closest recorded: #1 GBDFL_UniversalServiceSync /bip-sync/ (1 difference(s), first " in err.error_message
    assert f"expected '{APPLICANT}', got '{other}'" in err.error_message


async def test_serve_answers_zeep_through_the_served_wsdl(recorded, app_client):
    import zeep
    from zeep import xsd

    live, _, _, _ = recorded
    server = ReplayServer(read_recording(live.open("rb")), clock=FixedClock(GATEWAY_NOW), schemas_dir=REPO / "schemas")
    client = await app_client(create_replay_app(server))
    wsdl = str(client.make_url("/bip-sync/?wsdl"))

    def call():
        z = zeep.Client(wsdl)
        info = z.get_type("{http://bip.bee.kz/SyncChannel/v10/Types}SyncMessageInfo")(
            messageId="zeep-msg-1", serviceId=GBDFL, messageDate="2026-01-15T10:00:00+05:00",
            sender={"senderId": "shlyuz-demo", "password": "demo-password"},
        )  # fmt: skip
        fields = f"<messageId>z-1</messageId><senderCode>zeep</senderCode><iin>{APPLICANT}</iin>"
        data = xsd.AnyObject(xsd.String(), f'<cs:Request xmlns:cs="{ns.GBDFL_MESSAGE}">{fields}</cs:Request>')
        return z.service.SendMessage(request={"requestInfo": info, "requestData": {"data": data}})

    result = await asyncio.to_thread(call)
    assert result.responseInfo.status.code == "SCSS001"
    assert isinstance(result.responseData.data, str) and f"<iin>{APPLICANT}</iin>" in result.responseData.data


async def test_export_from_a_running_gateway_url_covers_any_journal(app_client, tmp_path, session_pki, clean_env):
    base = await gateway_url(app_client, tmp_path, "plain", session_pki)
    for iin in (APPLICANT, NOBODY):
        await send(base + "/bip-sync/", gbdfl(iin).to_bytes())
    out = tmp_path / "plain.jsonl"
    rc = await asyncio.to_thread(main, ["journal", "export", "--url", base, "--out", str(out), "--service", GBDFL])
    assert rc == 0
    rec = read_recording(out.open("rb"))
    assert [e.outcome for e in rec.exchanges] == ["SCSS001", "SCSE001"]
    assert rec.exchanges[0].upstream is None and rec.exchanges[0].journal_id == 1
    assert rec.header.provenance.filters == {"serviceId": GBDFL}
    first = json.loads(out.read_text().splitlines()[1])
    assert first["request"]["body"].startswith("<?xml") and first["response"]["status"] == 200
