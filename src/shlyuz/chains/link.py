"""The link between a chain run and the application it stands for in the provider's inbox (docs/chains.md#the-inbox-link).

An application submitted on the portal goes over the async channel to the provider (E-sobes, E-licensing, АРМ РШЭП),
where a person decides it in the АРМ РШЭП inbox. The portal also starts a chain run of the service's portal channel
for it, *linked* to the REQUEST's messageId: the run's checks are made on the signed document the user submitted,
its SHEP process names the portal's REQUEST instead of sending a second one, and its decision step waits for the
inbox. A run started with ``POST /chains/{service}/runs`` and ``decide: wait`` whose process sent the application
itself is linked the same way, by the messageId of the REQUEST it sent.

The run record's top-level ``requestMessageId`` is the link (the inbox item has the same ``requestMessageId``), so
either side finds the other with one query of the record store:

- the inbox decides → :meth:`ChainDriver.resume_linked` finds the run waiting under that messageId and answers its
  decision step with the inbox's decision;
- a run reaches its decision step and the inbox has already decided (an automatic provider rule, or a person who was
  quicker) → the run takes that decision instead of waiting.

This module is the sans-IO part: what the run's decision is, given an inbox item, and what its steps record;
:mod:`shlyuz.chains.linked` holds the two reads (the inbox item, the submitted document's verification).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shlyuz.chains.trace import Call, Decision, StepResult

LINK_FIELD = "requestMessageId"  # top-level field of a chain-run record and of an inbox item
DECIDED = ("approved", "refused")


def decision_of(item: dict[str, Any] | None) -> Decision | None:
    """The chain engine's decision for an inbox item (``rshep-inbox`` record), or None while it is undecided."""
    if item is None or item.get("status") not in DECIDED:
        return None
    approve = item["status"] == "approved"
    if item.get("employee"):
        by = f"employee {item['employee']}"
    elif item.get("rule"):
        by = f"rule {item['rule']!r}"
    else:
        by = f"the provider ({item.get('decidedBy') or 'unknown'})"
    at = datetime.fromisoformat(item["decidedAt"]) if item.get("decidedAt") else None
    return Decision(approve, None if approve else item.get("reason"), None if approve else item.get("reasonCode"),
                    by, at)  # fmt: skip


def portal_options(data: dict[str, Any]) -> dict[str, Any]:
    """The ``RunOptions`` (as JSON) of the run linked to a portal application record (``portal-application``)."""
    applicant = data.get("applicant") or {}
    rep = data.get("representative") or None
    opts: dict[str, Any] = {"channel": "portal", "decide": "wait"}
    if applicant.get("bin"):
        opts.update(applicant=applicant["bin"], signer=applicant.get("signerIin"))
    else:
        opts["applicant"] = applicant.get("iin")
    if rep:
        opts.update(representative=rep.get("iin"), poa=rep.get("poaNumber"))
    return opts


def answer_from_item(decision: Decision, item: dict[str, Any]) -> StepResult:
    """The decision step's answer: the decision as the inbox took it, with the RESPONSE that carries it; the signed
    Decision document becomes the run's result document."""
    verb = "approved" if decision.approve else f"refused ({decision.ground})"
    system = item.get("system") or "provider"
    call = Call(system, f"{verb} in the {system} inbox: {item.get('number')}, by {decision.decided_by}", True,
                service_id=item.get("serviceId"), message_id=item.get("responseMessageId"))  # fmt: skip
    return StepResult(calls=[call], decision=decision, result_document=item.get("decisionXml"))


def sent_call(record: dict[str, Any], system: str, service_id: str) -> Call:
    """A linked run's SHEP process: the REQUEST already sent for it (nothing is sent again)."""
    source = (record.get("link") or {}).get("source", "portal")
    return Call(system, f"the {source}'s signed application, sent to {service_id}", True, service_id=service_id,
                message_id=record.get(LINK_FIELD))  # fmt: skip
