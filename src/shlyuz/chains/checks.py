"""The real checks behind a chain's conditions, run through the gateway (the I/O side of the chain engine).

| check | what runs |
|---|---|
| `portal_auth` | the portal's own password check for the applicant's account (`portal_password`), or the run says it is logged in |
| `eds_valid`, `eds_not_revoked`, `eds_iin_match`, `eds_iin_bin_match` | the application is signed with the run's identity (`sign_as`, default the applicant's SIGN key) and verified by the gateway's verifier: chain, validity at the gateway clock, OCSP/CRL, key usage; the IIN/BIN of the certificate against the application's |
| `gbdfl_person_found` | a SHEP sync call to GBD FL by IIN through the gateway's pipeline (journaled) |
| `enis_poa_valid` | a SHEP sync call to ENIS for the representative's power of attorney (journaled); yes when there is no representative |
| `documents_complete` | the documents the run submits against the definition's (inferred) checklist |
| `ais_data_entered` | annex 3's unnamed AIS: always yes (nothing to call) |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lxml import etree

from shlyuz.chains.trace import Call, CheckResult
from shlyuz.client import payload
from shlyuz.errors import ShlyuzError
from shlyuz.services.model import Service
from shlyuz.services.vocab import Check
from shlyuz.shep import ns

if TYPE_CHECKING:
    from shlyuz.chains.driver import RunOptions
    from shlyuz.gateway.app import Gateway

EDS_CHECKS = (Check.EDS_VALID, Check.EDS_NOT_REVOKED, Check.EDS_IIN_MATCH, Check.EDS_IIN_BIN_MATCH)
# which EDS check a verification error code fails
_EDS_FAILS = {
    "CERT_EXPIRED": Check.EDS_VALID,
    "CERT_NOT_YET_VALID": Check.EDS_VALID,
    "CERT_UNTRUSTED": Check.EDS_VALID,
    "CERT_KEY_USAGE": Check.EDS_VALID,
    "SIGNATURE_INVALID": Check.EDS_VALID,
    "SIGNATURE_MISSING": Check.EDS_VALID,
    "UNSUPPORTED_ALGORITHM": Check.EDS_VALID,
    "CERT_REVOKED": Check.EDS_NOT_REVOKED,
    "REVOCATION_UNAVAILABLE": Check.EDS_NOT_REVOKED,
}


@dataclass
class CheckContext:
    """What the checks of one run share: the gateway, the run's options, and the EDS verdict (verified once)."""

    gateway: Gateway
    service: Service
    options: RunOptions
    sender_id: str  # the SHEP sender the chain's sync calls go out as (arm-con, egov-portal, arm-rshep)
    signed_application: etree._Element | None = None
    eds: dict[str, Any] | None = None
    calls: list[Call] = field(default_factory=list)
    sent: bool = False  # the application went out over SHEP already (sent once per run)


async def evaluate(check: Check, ctx: CheckContext) -> CheckResult:
    try:
        if check in EDS_CHECKS:
            return await _eds(check, ctx)
        if check is Check.GBDFL_PERSON_FOUND:
            return await _gbdfl(ctx)
        if check is Check.ENIS_POA_VALID:
            return await _enis(ctx)
        if check is Check.DOCUMENTS_COMPLETE:
            return _documents(ctx)
        if check is Check.PORTAL_AUTH:
            return await _portal_auth(ctx)
        if check is Check.AIS_DATA_ENTERED:
            return CheckResult(check, True, "annex 3's AIS is not named by the seed: nothing to call")
    except ShlyuzError as exc:
        return CheckResult(check, False, f"{exc.code.value}: {exc.message}")
    return CheckResult(check, False, f"shlyuz has no implementation of the check {check.value}")


async def _eds(check: Check, ctx: CheckContext) -> CheckResult:
    from shlyuz.chains.documents import signed_application
    from shlyuz.egov.signing import verify_document

    if ctx.eds is None:
        gw = ctx.gateway
        if gw.pki is None or gw.sync.verifier is None:
            ctx.eds = {"error": "PKI_DISABLED", "message": "the gateway runs without a PKI: no signature to verify"}
        else:
            root, identity = signed_application(gw, ctx.service, ctx.options)
            ctx.signed_application = root
            try:
                signed = await verify_document(root, gw.sync.verifier)
                ctx.eds = {"iin": signed.iin, "bin": signed.bin, "identity": identity, "verdict": signed.verdict}
            except ShlyuzError as exc:
                ctx.eds = {"error": exc.code.value, "message": exc.message, "identity": identity}
            ctx.calls.append(Call("pki", f"verify the application signed by {identity}", "error" not in ctx.eds,
                                  detail=ctx.eds.get("error")))  # fmt: skip
    eds = ctx.eds
    if "error" in eds:
        failed = _EDS_FAILS.get(eds["error"], Check.EDS_VALID)
        if eds["error"] == "PKI_DISABLED" or failed is check:
            return CheckResult(check, False, f"{eds['error']}: {eds['message']}")
        if EDS_CHECKS.index(failed) < EDS_CHECKS.index(check):  # an earlier check already failed on it
            return CheckResult(check, False, f"not reached: {eds['error']}")
        return CheckResult(check, True)
    opts = ctx.options
    if check is Check.EDS_IIN_MATCH:
        want = opts.signer_iin()
        ok = eds["iin"] == want
        return CheckResult(check, ok, None if ok else f"the certificate's IIN {eds['iin']} is not the request's {want}")
    if check is Check.EDS_IIN_BIN_MATCH:
        want_bin = opts.applicant if opts.is_employer() else None
        ok = eds["iin"] == opts.signer_iin() and (want_bin is None or eds["bin"] == want_bin)
        detail = None if ok else f"the certificate's IIN/BIN {eds['iin']}/{eds['bin']} is not the request's {opts.signer_iin()}/{want_bin}"
        return CheckResult(check, ok, detail)
    return CheckResult(check, True)


async def _gbdfl(ctx: CheckContext) -> CheckResult:
    from shlyuz.gateway.internal import call_sync

    iin = ctx.options.person_iin()
    body = payload(ns.GBDFL_MESSAGE, "Request", {"messageId": "1", "senderCode": ctx.sender_id, "iin": iin})
    result = await call_sync(ctx.gateway, ctx.sender_id, "GBDFL_UniversalServiceSync", body)
    call = Call("gbdfl", f"GBD FL person by IIN {iin}", result.ok, service_id=result.service_id,
                message_id=result.message_id, detail=result.message)  # fmt: skip
    ctx.calls.append(call)
    return CheckResult(Check.GBDFL_PERSON_FOUND, result.ok, None if result.ok else result.message, [call])


async def _enis(ctx: CheckContext) -> CheckResult:
    from shlyuz.gateway.internal import call_sync

    opts = ctx.options
    if not opts.representative:
        return CheckResult(Check.ENIS_POA_VALID, True, "no representative: nothing to check in ENIS")
    if not opts.poa:
        return CheckResult(Check.ENIS_POA_VALID, False, "a representative needs a power of attorney number (poa)")
    fields = {"messageId": "1", "senderCode": ctx.sender_id, "poaNumber": opts.poa}
    result = await call_sync(ctx.gateway, ctx.sender_id, "ENIS_POA_CHECK", payload(ns.ENIS_POA, "PoaCheckRequest", fields))
    status = _poa_status(result.payload) if result.ok else None
    detail = f"power of attorney {opts.poa}: {status or result.message}"
    parties = _parties(result.payload) if result.ok else {}
    if status == "VALID" and parties.get("attorney") != opts.representative:
        status, detail = "OTHER_ATTORNEY", f"power of attorney {opts.poa} is given to {parties.get('attorney')}, not {opts.representative}"
    elif status == "VALID" and parties.get("principal") != opts.applicant:
        status, detail = "OTHER_PRINCIPAL", f"power of attorney {opts.poa} is given by {parties.get('principal')}, not {opts.applicant}"
    ok = result.ok and status == "VALID"
    call = Call("enis", f"ENIS power of attorney {opts.poa}", ok, service_id=result.service_id,
                message_id=result.message_id, detail=detail)  # fmt: skip
    ctx.calls.append(call)
    return CheckResult(Check.ENIS_POA_VALID, ok, None if ok else detail, [call])


def _poa_status(root: etree._Element | None) -> str | None:
    if root is None:
        return None
    for el in root.iter("{*}powerOfAttorney", "powerOfAttorney"):
        status = el.find("{*}status")
        if status is None:
            status = el.find("status")
        if status is not None:
            code = status.find("{*}code")
            if code is None:
                code = status.find("code")
            text = (code.text if code is not None else status.text) or ""
            return text.strip()  # VALID, EXPIRED, REVOKED, NOT_YET_VALID (systems/dictionaries.py)
    return None


def _parties(root: etree._Element | None) -> dict[str, str | None]:
    """The principal's IIN/BIN and the attorney's IIN named by ENIS's answer."""
    out: dict[str, str | None] = {}
    if root is None:
        return out
    for role in ("principal", "attorney"):
        el = next(root.iter(f"{{*}}{role}", role), None)
        if el is not None:
            ident = next((c for c in el if etree.QName(c).localname in ("iin", "bin")), None)
            out[role] = (ident.text or "").strip() if ident is not None else None
    return out


def _documents(ctx: CheckContext) -> CheckResult:
    opts = ctx.options
    whom = {"any", "employer" if opts.is_employer() else "applicant"} | ({"representative"} if opts.representative else set())
    required = [d.id for d in ctx.service.required_documents.items if not d.optional and d.for_whom in whom]
    given = set(opts.documents if opts.documents is not None else required)
    missing = [d for d in required if d not in given]
    if missing:
        return CheckResult(Check.DOCUMENTS_COMPLETE, False, f"missing from the checklist: {', '.join(missing)}")
    return CheckResult(Check.DOCUMENTS_COMPLETE, True)


async def _portal_auth(ctx: CheckContext) -> CheckResult:
    opts = ctx.options
    if opts.portal_password is None:
        return CheckResult(Check.PORTAL_AUTH, True, "the run is logged in on the portal (no portal_password given)")
    from shlyuz.portal.accounts import password_login

    bin_ = opts.applicant if opts.is_employer() else None
    try:
        await password_login(ctx.gateway.records, opts.signer_iin(), bin_, opts.portal_password)
    except ShlyuzError as exc:
        detail = f"{exc.code.value}: {exc.message}"
        ctx.calls.append(Call("portal", f"portal login {opts.signer_iin()}", False, detail=detail))
        return CheckResult(Check.PORTAL_AUTH, False, detail)
    ctx.calls.append(Call("portal", f"portal login {opts.signer_iin()}", True))
    return CheckResult(Check.PORTAL_AUTH, True)
