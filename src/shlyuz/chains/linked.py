"""The I/O of the chain run ↔ inbox link (chains/link.py has the logic): the inbox item a linked run waits for, and
the verification of the document the user submitted, which a linked run's EDS checks use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shlyuz.chains import link
from shlyuz.chains.trace import Call, Decision
from shlyuz.errors import ShlyuzError

if TYPE_CHECKING:
    from shlyuz.chains.checks import CheckContext
    from shlyuz.gateway.app import Gateway
    from shlyuz.storage.records import RecordStore


async def inbox_decision(records: RecordStore, record: dict[str, Any], scope: str) -> tuple[Decision, dict[str, Any]] | None:
    """The inbox's decision on the application a run is linked to, with the item; None while it is undecided (or
    when the run is not linked)."""
    from shlyuz.systems.rshep_inbox import INBOX

    mid = record.get(link.LINK_FIELD)
    if not mid:
        return None
    found = await records.find(INBOX, scope=scope, where={link.LINK_FIELD: mid}, limit=1)
    item = found[0].data if found else None
    decision = link.decision_of(item)
    return None if decision is None or item is None else (decision, item)


async def verify_submitted(gateway: Gateway, ctx: CheckContext, document: bytes) -> None:
    """A linked run's EDS checks are made on the document the user signed (not on one signed for the run): its
    verdict is put where the checks look for it (``ctx.eds``), as if they had verified it themselves."""
    from shlyuz.egov.signing import verify_document
    from shlyuz.xml import safe

    verifier = gateway.sync.verifier
    if verifier is None:
        return
    root = safe.parse(document)
    ctx.signed_application = root
    try:
        signed = await verify_document(root, verifier)
        ctx.eds = {"iin": signed.iin, "bin": signed.bin, "identity": "the submitted document", "verdict": signed.verdict}
    except ShlyuzError as exc:
        ctx.eds = {"error": exc.code.value, "message": exc.message, "identity": "the submitted document"}
    ctx.calls.append(Call("pki", "verify the signature of the submitted application", "error" not in ctx.eds,
                          detail=ctx.eds.get("error")))  # fmt: skip
