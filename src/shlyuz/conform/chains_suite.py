"""The shipped suite's chain scenarios, generated from the service definitions (``conformance/chains/*.yaml``).

For every service, channel, procedure (annex 4's sub-flows) and branch — all conditions passed; each check of each
condition failed in turn, with the input that makes the real check fail; each decision refused — one scenario runs
the chain over ``POST /chains/{service}/runs`` and asserts the path the regulation gives: the step references in
order, the branch at the condition, the outcome and the refusal ground. The expected path comes from the sans-IO
engine run on the definition (the engine is itself tested step by step in tests/test_chain_engine.py); what the
scenario checks is that the running gateway — its real checks, systems and messages — takes that path.

Regenerate after changing a definition: ``python -m shlyuz.conform.chains_suite`` (a test fails when the files are
out of date).
"""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from shlyuz.chains.engine import ChainRun
from shlyuz.chains.trace import CheckResult, Decision, Finished, NeedChecks, NeedStep, StepResult
from shlyuz.clock import KZ
from shlyuz.config import repo_path
from shlyuz.fixtures.generate import DEMO_IINS, DEMO_POAS
from shlyuz.fixtures.iin import make_iin
from shlyuz.services.loader import ServiceCatalogue
from shlyuz.services.model import Service
from shlyuz.services.vocab import Check
from shlyuz.worktime import WorkingCalendar

APPLICANT = DEMO_IINS["applicant"]
ATTORNEY = DEMO_IINS["attorney"]
EMPLOYER = {"applicant": "090140541935", "signer": "730506414772"}  # a foreign-labour employer and its head
UNKNOWN_PERSON = make_iin(date(1999, 1, 1), "M", 9001)  # checksum-valid, in no fixture
START = "2026-01-15T10:00:00+05:00"

# the input that makes each real check fail (None: the check cannot fail through a run's input)
FAILING_INPUT: dict[Check, dict[str, Any] | None] = {
    Check.PORTAL_AUTH: {"portalPassword": "not-the-password"},
    Check.EDS_VALID: {"signAs": "bad/expired"},
    Check.EDS_NOT_REVOKED: {"signAs": "bad/revoked"},
    Check.EDS_IIN_MATCH: {"signAs": f"person/{ATTORNEY}/sign"},
    Check.EDS_IIN_BIN_MATCH: {"signAs": f"person/{ATTORNEY}/sign"},
    Check.GBDFL_PERSON_FOUND: {"applicant": UNKNOWN_PERSON},
    Check.ENIS_POA_VALID: {"applicant": APPLICANT, "representative": ATTORNEY, "poa": DEMO_POAS["expired"]},
    Check.DOCUMENTS_COMPLETE: {"documents": []},
    Check.AIS_DATA_ENTERED: None,
    Check.HUMAN_DECISION: None,  # refused through a decision step instead
}


def _base(service: Service, channel: str, procedure: str | None) -> dict[str, Any]:
    employer = any(Check.EDS_IIN_BIN_MATCH in item.checks for ch in service.channels for item in ch.chain) or service.id == "foreign-labour-permits"
    opts: dict[str, Any] = {"channel": channel, "start": START, **(EMPLOYER if employer else {"applicant": APPLICANT})}
    if procedure is not None:
        opts["procedure"] = procedure
    return opts


def _expected(service: Service, channel: str, procedure: str | None, fail: tuple[str, Check] | None, refuse: str | None):
    run = ChainRun(service, channel, calendar=WorkingCalendar(), started_at=datetime.fromisoformat(START), procedure=procedure)
    need = run.next_need()
    decisions: list[str] = []
    while not isinstance(need, Finished):
        if isinstance(need, NeedChecks):
            need = run.answer([CheckResult(c, not (fail and need.ref == fail[0] and c is fail[1])) for c in need.checks])
        elif isinstance(need, NeedStep) and need.decision:
            decisions.append(need.ref)
            need = run.answer(StepResult(decision=Decision(approve=need.ref != refuse)))
        else:
            need = run.answer(StepResult())
    return need.trace, decisions


def _scenario(service: Service, channel: str, procedure: str | None, name: str, options: dict[str, Any], trace, focus: str | None) -> dict[str, Any]:
    checks: list[dict[str, Any]] = [
        {"path": "status", "equals": "done"},
        {"path": "trace.outcome", "equals": trace.outcome},
        {"path": "trace.steps", "length": len(trace.steps)},
    ]
    checks += [{"path": f"trace.steps[{i}].ref", "equals": s.ref} for i, s in enumerate(trace.steps)]
    if focus is not None:
        i = trace.refs().index(focus)
        checks.append({"path": f"trace.steps[{i}].branch", "equals": trace.steps[i].branch})
    if trace.refusal:
        checks.append({"path": "trace.refusal.code", "equals": trace.refusal["code"]})
    sub = f" ({procedure})" if procedure else ""
    return {
        "name": name,
        "description": f"{service.names.en} — {channel}{sub}: {name.split('--', 1)[1].replace('-', ' ')}",
        "tags": ["chain", service.id, channel],
        "steps": [{"name": "run the chain", "chain": {"service": service.id, "options": options},
                   "expect": {"http": 201, "json": checks}}],
    }  # fmt: skip


def scenarios_for(service: Service) -> list[dict[str, Any]]:
    out = []
    for ch in service.channels:
        channel = ch.id.value
        for procedure in ch.procedures if len(ch.procedures) > 1 else [None]:
            tag = f"{service.id}--{channel}{'-' + procedure if procedure else ''}"
            base = _base(service, channel, procedure)
            trace, decisions = _expected(service, channel, procedure, None, None)
            out.append(_scenario(service, channel, procedure, f"{tag}--all-yes", base, trace, None))
            for item in ch.chain:
                if item.kind != "condition":
                    continue
                for check in item.checks:
                    bad = FAILING_INPUT.get(check)
                    if bad is None:
                        continue
                    trace, _ = _expected(service, channel, procedure, (item.label, check), None)
                    name = f"{tag}--{item.label.replace(' ', '-')}-{check.value.replace('_', '-')}-fails"
                    out.append(_scenario(service, channel, procedure, name, {**base, **bad}, trace, item.label))
            for ref in decisions:
                trace, _ = _expected(service, channel, procedure, None, ref)
                name = f"{tag}--{ref.replace(' ', '-')}-refused"
                opts = {**base, "decisions": {ref: "refuse"}, "reason": "refused by the conformance suite"}
                out.append(_scenario(service, channel, procedure, name, opts, trace, None))
    return out


def render(service: Service) -> str:
    head = (f"# Generated by `python -m shlyuz.conform.chains_suite` from fixtures/services/{service.id}.yaml — do not edit.\n"
            f"# {service.names.en} (annex {service.annexes.order_2017.number} of the 2017 resolution): every channel and branch.\n")  # fmt: skip
    return head + yaml.safe_dump({"scenarios": scenarios_for(service)}, allow_unicode=True, sort_keys=False, width=160)


def main(argv: list[str] | None = None) -> int:
    out_dir = Path(argv[0]) if argv else repo_path("conformance") / "chains"
    out_dir.mkdir(parents=True, exist_ok=True)
    catalogue = ServiceCatalogue.load()
    total = 0
    for service in catalogue:
        text = render(service)
        (out_dir / f"{service.id}.yaml").write_text(text, encoding="utf-8")
        total += text.count("\n- name: ")
    print(f"{len(catalogue)} services, {total} scenarios in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
