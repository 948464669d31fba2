"""The chain driver: conditions run the real checks through the gateway (GBD FL and ENIS over SHEP, journaled; the
EDS verdict of the gateway's verifier; the portal's password check; the checklist), runs are kept in the record
store, a run waiting for a person's decision resumes from its stored answers, and the outcome is a decision
signed by the provider's authorised person."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from lxml import etree

from shlyuz.chains.driver import ChainDriver, DecisionIn, RunOptions
from shlyuz.egov.documents import parse_decision
from shlyuz.egov.signing import verify_document
from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.fixtures.generate import DEMO_IINS, DEMO_POAS
from shlyuz.services.model import Service
from shlyuz.storage.base import JournalQuery

SERVICES = {
    p.stem: Service.model_validate(yaml.safe_load(p.read_text(encoding="utf-8")))
    for p in sorted((Path(__file__).resolve().parent.parent / "fixtures" / "services").glob("*.yaml"))
}
APPLICANT = DEMO_IINS["applicant"]
ATTORNEY = DEMO_IINS["attorney"]


@pytest.fixture
def driver(shep):
    return ChainDriver(shep.gateway, SERVICES)


def step(record, ref):
    return next(s for s in record["trace"]["steps"] if s["ref"] == ref)


async def test_state_corp_run_calls_gbdfl_over_shep_and_ends_with_a_signed_result(driver, shep):
    run = await driver.start("child-allowance", RunOptions(channel="state-corp", applicant=APPLICANT))
    trace = run["trace"]
    assert run["status"] == "done" and trace["outcome"] == "result"
    cond = step(run, "condition 1")
    assert cond["branch"] == "yes" and cond["checks"] == {"gbdfl_person_found": True, "enis_poa_valid": True}
    gbdfl = next(c for c in cond["calls"] if c["system"] == "gbdfl")
    journal = await shep.gateway.storage.query_exchanges(JournalQuery(message_id=gbdfl["message_id"]))
    assert [(e.service_id, e.sender_id, e.outcome) for e in journal] == [("GBDFL_UniversalServiceSync", "arm-con", "SCSS001")]
    # the result: a decision signed by the head of the provider
    root = etree.fromstring(trace["result_document"].encode())
    signed = await verify_document(root, shep.gateway.sync.verifier)
    decision = parse_decision(trace["result_document"].encode())
    assert decision.decision == "approved" and decision.application_number == run["id"]
    assert signed.iin == decision.decided_by.iin and signed.bin == decision.decided_by.bin
    assert trace["regulation_total"] and trace["working_days"] > 7


async def test_unknown_person_is_refused_at_condition_1(driver):
    run = await driver.start("child-allowance", RunOptions(channel="state-corp", applicant="990101300014"))
    assert step(run, "condition 1")["branch"] == "no"
    assert run["trace"]["refusal"]["code"] == "R_DATA_UNAVAILABLE"
    assert [s["ref"] for s in run["trace"]["steps"]][-1] == "process 4"


@pytest.mark.parametrize(
    "poa,principal,ok,status",
    [("valid", DEMO_IINS["disabled"], True, "VALID"), ("expired", APPLICANT, False, "EXPIRED"),
     ("revoked", DEMO_IINS["parent_of_large_family"], False, "REVOKED")],
)  # fmt: skip
async def test_representative_power_of_attorney_is_checked_in_enis(driver, shep, poa, principal, ok, status):
    opts = RunOptions(channel="state-corp", applicant=principal, representative=ATTORNEY, poa=DEMO_POAS[poa])
    run = await driver.start("child-allowance", opts)
    cond = step(run, "condition 1")
    assert cond["checks"]["enis_poa_valid"] is ok
    enis = next(c for c in cond["calls"] if c["system"] == "enis")
    assert status in enis["detail"]
    journal = await shep.gateway.storage.query_exchanges(JournalQuery(message_id=enis["message_id"]))
    assert journal and journal[0].service_id == "ENIS_POA_CHECK"
    assert run["trace"]["outcome"] == ("result" if ok else "refusal")


@pytest.mark.parametrize(
    "identity,failed",
    [("bad/revoked", "eds_not_revoked"), ("bad/expired", "eds_valid"), (f"person/{ATTORNEY}/sign", "eds_iin_match")],
)
async def test_portal_eds_conditions_use_the_gateway_verifier(driver, identity, failed):
    run = await driver.start("disabled-children-home-education", RunOptions(channel="portal", applicant=APPLICANT, sign_as=identity))
    eds = next(s for s in run["trace"]["steps"] if "eds_valid" in s["checks"])
    assert eds["branch"] == "no" and eds["checks"][failed] is False
    assert run["trace"]["refusal"]["code"] == "R_EDS"


async def test_missing_documents_fail_the_checklist(driver):
    svc = SERVICES["child-allowance"]
    some = [d.id for d in svc.required_documents.items if not d.optional][:1]
    run = await driver.start("child-allowance", RunOptions(channel="state-corp", applicant=APPLICANT, documents=some))
    cond = step(run, "condition 2")
    assert cond["checks"]["documents_complete"] is False and run["trace"]["outcome"] == "refusal"


async def test_a_run_waits_for_a_decision_and_resumes_from_the_store(driver, shep):
    run = await driver.start("child-allowance", RunOptions(channel="provider", applicant=APPLICANT, decide="wait"))
    assert run["status"] == "waiting" and run["waitingFor"] == "procedure main step 5"
    # another driver (another worker process) continues it from the record store
    other = ChainDriver(shep.gateway, SERVICES)
    done = await other.decide(run["id"], DecisionIn(approve=False, reason="income above the threshold", ground="R_DECISION"))
    assert done["status"] == "done" and done["trace"]["refusal"] == {"code": "R_DECISION", "text": "income above the threshold"}
    assert parse_decision(done["trace"]["result_document"].encode()).decision == "refused"
    with pytest.raises(ShlyuzError, match="not waiting"):
        await other.decide(run["id"], DecisionIn(approve=True))


async def test_bad_options_are_refused_with_precise_messages(driver):
    with pytest.raises(ShlyuzError, match="no service"):
        await driver.start("nope", RunOptions(channel="portal", applicant=APPLICANT))
    with pytest.raises(ShlyuzError, match="has no portal channel"):
        await driver.start("child-allowance", RunOptions(channel="portal", applicant=APPLICANT))
    with pytest.raises(ShlyuzError, match="no procedure"):
        await driver.start("child-allowance", RunOptions(channel="provider", applicant=APPLICANT, procedure="x"))


async def test_a_process_drives_a_bounded_number_of_real_time_runs(driver, monkeypatch):
    """Runs on an accelerated or real clock are tasks of the process: past MAX_LIVE_RUNS a new one is refused
    (CONFLICT, HTTP 409) instead of piling up; a virtual-clock run is not limited."""
    from shlyuz.chains import driver as chains_driver

    monkeypatch.setattr(chains_driver, "MAX_LIVE_RUNS", 1)
    slow = RunOptions(channel="provider", applicant=APPLICANT, clock="real")
    first = await driver.start("child-allowance", slow)
    assert first["status"] == "running"
    with pytest.raises(ShlyuzError, match="1 runs on an accelerated or real clock") as refused:
        await driver.start("child-allowance", slow)
    assert refused.value.code is ErrorCode.CONFLICT
    assert (await driver.start("child-allowance", RunOptions(channel="provider", applicant=APPLICANT)))["status"] == "done"
    await driver.close()  # stops the real-time run


async def test_an_accelerated_run_walks_in_real_time_and_finishes(driver):
    """1e9× makes the regulation's 7 working days take well under a second; the test waits on the run's task."""
    run = await driver.start("child-allowance", RunOptions(channel="provider", applicant=APPLICANT, clock="accelerated", speed=1e9))
    assert run["status"] == "running"
    await asyncio.gather(*driver._tasks)
    done = await driver.get(run["id"])
    assert done["status"] == "done" and done["trace"]["outcome"] == "result"
    assert [s["ref"] for s in done["trace"]["steps"]] == [f"procedure main step {n}" for n in range(1, 6)]
