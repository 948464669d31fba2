"""E-licensing's domain rules for foreign-labour permits (annex 4), sans-IO: who may apply for an employer, what each
of the four sub-flows needs, when a refusal is due, and the fee window. Every failed check raises
:class:`~shlyuz.systems.rshep_intake.Rejection` with a stable ground code (docs/systems/elicensing.md).

The seed gives the procedure, not the Rules of Order 559 themselves; the period caps below (a permit for at most a
year, an intra-corporate transfer for at most three, an extension by at most a year) are shlyuz's assumptions,
named as such in the docs.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from shlyuz.egov.documents import Application, PermitData, SubFlow
from shlyuz.egov.signing import SignedBy
from shlyuz.fixtures.store import FixtureSet
from shlyuz.systems.rshep_intake import Rejection, check_poa

SERVICE = "foreign-labour-permits"
POWER = "FOREIGN_LABOUR_PERMIT"  # the power an employee's PoA from the employer must grant
SIGNING_ROLES = frozenset({"ceo", "can-sign", "hr"})  # roles that sign for the employer without a PoA
FEE_WORKING_DAYS = 10  # annex 4, issue step 13: the fee is paid within ten working days of the notification
FEE_FLOWS = frozenset({SubFlow.ISSUE, SubFlow.INTRA_CORPORATE_TRANSFER})
MAX_DAYS = {SubFlow.ISSUE: 366, SubFlow.REISSUE: 366, SubFlow.INTRA_CORPORATE_TRANSFER: 3 * 366, SubFlow.EXTEND: 366}
KAZAKHSTAN = "398"


def add_working_days(start: date, days: int) -> date:
    """``days`` working days after ``start`` (Monday to Friday; public holidays are not modelled)."""
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def check_employer_signer(app: Application, signed: SignedBy, fixtures: FixtureSet, today: date) -> None:
    """The employer exists; the signer is one of its people (certificate with its BIN) and either holds a signing
    role (head, can-sign, HR) or acts under the employer's power of attorney granting FOREIGN_LABOUR_PERMIT."""
    bin_ = app.applicant.bin
    if bin_ is None:
        raise Rejection("APPLICANT_NOT_EMPLOYER", "a foreign-labour permit is applied for by an employer (BIN)")
    org = fixtures.organisations.get(bin_)
    if org is None:
        raise Rejection("EMPLOYER_UNKNOWN", f"BIN {bin_} is not in the State Database of Legal Entities")
    if signed.bin != bin_:
        held = f"BIN {signed.bin}" if signed.bin else "a personal certificate"
        raise Rejection("SIGNER_NOT_EMPLOYEE", f"the application of BIN {bin_} is signed with {held}")
    if signed.iin != app.applicant.signer_iin:
        raise Rejection("SIGNER_MISMATCH", f"the application names signer {app.applicant.signer_iin}; IIN {signed.iin} signed it")
    if SIGNING_ROLES & set(signed.roles):
        return
    if app.representative is None or app.representative.iin != signed.iin:
        raise Rejection(
            "SIGNER_NOT_AUTHORISED",
            f"IIN {signed.iin} signs for BIN {bin_} without a signing role (head, can-sign, HR) and without the "
            f"employer's power of attorney granting {POWER}",
        )
    check_poa(app, fixtures, today, power=POWER)


def check_worker(permit: PermitData, fixtures: FixtureSet) -> None:
    if permit.citizenship == "KAZ":
        raise Rejection("WORKER_NOT_FOREIGN", "a citizen of Kazakhstan needs no permit to attract foreign labour")
    person = fixtures.persons.get(permit.worker_iin or "")
    if person is not None and person.citizenship.code == KAZAKHSTAN:
        raise Rejection("WORKER_NOT_FOREIGN", f"IIN {permit.worker_iin} belongs to a citizen of Kazakhstan")


def check_period(permit: PermitData, today: date, *, earliest: date | None = None) -> None:
    start = earliest or today
    if permit.valid_from < start:
        raise Rejection("PERMIT_PERIOD_INVALID", f"validFrom {permit.valid_from} is before {start}")
    days = (permit.valid_to - permit.valid_from).days + 1
    if days > MAX_DAYS[permit.sub_flow]:
        raise Rejection(
            "PERMIT_PERIOD_INVALID",
            f"a {permit.sub_flow.value} permit covers at most {MAX_DAYS[permit.sub_flow]} days; {days} asked",
        )


def permit_status(permit: dict[str, Any], today: date) -> str:
    """The registry status on ``today``: ``awaiting-fee`` (inside the fee window), ``lapsed`` (fee not paid in
    time: the permit was never issued), ``active``, ``expired`` or ``not-yet-valid``. Computed when read, so the
    fee window needs no timer."""
    if permit["status"] == "awaiting-fee":
        return "lapsed" if today > date.fromisoformat(permit["feeDue"]) else "awaiting-fee"
    if permit["status"] != "active":
        return permit["status"]
    if today > date.fromisoformat(permit["validTo"]):
        return "expired"
    if today < date.fromisoformat(permit["validFrom"]):
        return "not-yet-valid"
    return "active"


def check_existing(permit: PermitData, existing: dict[str, Any] | None, bin_: str, today: date) -> None:
    """Re-issue and extension act on a permit of the same employer that is in force."""
    if existing is None:
        raise Rejection("PERMIT_NOT_FOUND", f"permit {permit.permit_number} is not in the E-licensing registry")
    if existing["bin"] != bin_:
        raise Rejection("PERMIT_NOT_OWNED", f"permit {permit.permit_number} was issued to another employer")
    status = permit_status(existing, today)
    if status not in ("active", "not-yet-valid"):
        raise Rejection("PERMIT_NOT_ACTIVE", f"permit {permit.permit_number} is {status}")


def check_application(app: Application, signed: SignedBy, fixtures: FixtureSet, today: date,
                      existing: dict[str, Any] | None) -> dict[str, Any]:  # fmt: skip
    """All of E-licensing's intake checks; returns the inbox item's extra fields (subFlow, permitNumber)."""
    if app.service != SERVICE:
        raise Rejection("SERVICE_UNKNOWN", f"E-licensing takes applications for {SERVICE}, not {app.service!r}")
    if app.channel != "portal":
        raise Rejection("CHANNEL_NOT_AVAILABLE", "foreign-labour permits are not applied for through the State Corporation (annex 4, paragraph 9)")
    check_employer_signer(app, signed, fixtures, today)
    permit = app.permit
    if permit is None:
        raise Rejection("PERMIT_DATA_MISSING", "the application carries no permit data (app:permit)")
    check_worker(permit, fixtures)
    if permit.sub_flow in (SubFlow.ISSUE, SubFlow.INTRA_CORPORATE_TRANSFER):
        check_period(permit, today)
    else:
        check_existing(permit, existing, app.applicant.bin or "", today)
        assert existing is not None
        if permit.sub_flow is SubFlow.REISSUE:
            if not permit.reason:
                raise Rejection("REISSUE_REASON_MISSING", "a re-issue states why the permit's data change (reason)")
            if permit.valid_to != date.fromisoformat(existing["validTo"]):
                raise Rejection("PERMIT_PERIOD_INVALID", "a re-issue keeps the permit's term; use extend to change it")
        else:
            old_to = date.fromisoformat(existing["validTo"])
            if permit.valid_to <= old_to:
                raise Rejection("EXTENSION_INVALID", f"the extension ends {permit.valid_to}, not after the permit's {old_to}")
            if (permit.valid_to - old_to).days > MAX_DAYS[SubFlow.EXTEND]:
                raise Rejection("PERMIT_PERIOD_INVALID", f"an extension adds at most {MAX_DAYS[SubFlow.EXTEND]} days")
    return {"subFlow": permit.sub_flow.value, "permitNumber": permit.permit_number, "workerIin": permit.worker_iin}
