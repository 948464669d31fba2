"""Intake checks shared by E-sobes, E-licensing and АРМ РШЭП (sans-IO: pure functions over the Application, the
verified signer and the fixtures). Each failed check raises :class:`Rejection` with a stable ground code; the
receiving system answers it as a ``rejected`` Notification. Codes: docs/systems/esobes.md.
"""

from __future__ import annotations

from datetime import date

from shlyuz.egov.documents import Application
from shlyuz.egov.signing import SignedBy
from shlyuz.fixtures.models import Organisation
from shlyuz.fixtures.store import FixtureSet
from shlyuz.systems.enis import poa_status


class Rejection(Exception):
    """An application the receiving system does not register: ``code`` (stable) and ``text`` (for the applicant)."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text


def number(prefix: str, year: int, n: int) -> str:
    """``ESB-2026-000123``: system prefix, year of registration, the year's sequence number (six digits, more if
    ever needed)."""
    return f"{prefix}-{year}-{n:06d}"


def state_corporation(fixtures: FixtureSet, signed: SignedBy) -> Organisation | None:
    """The State Corporation branch the signer works for, when the signer is one of its operators."""
    org = fixtures.organisations.get(signed.bin or "")
    if org is None or org.kind != "state-corporation":
        return None
    return org if signed.iin in {org.head_iin, *org.employee_iins} else None


def check_applicant_person(app: Application, fixtures: FixtureSet) -> None:
    """A person applicant must be known to GBD FL (the fixtures)."""
    iin = app.applicant.iin
    if iin is not None and iin not in fixtures.persons:
        raise Rejection("APPLICANT_UNKNOWN", f"the applicant's IIN {iin} is not in the State Database of Individuals")


def check_poa(app: Application, fixtures: FixtureSet, today: date, *, power: str | None = None) -> None:
    """The representative's power of attorney: in ENIS, usable today, from the applicant to the representative."""
    rep = app.representative
    assert rep is not None
    poa = fixtures.powers_of_attorney.get(rep.poa_number)
    if poa is None:
        raise Rejection("POA_NOT_FOUND", f"power of attorney {rep.poa_number} is not registered in ENIS")
    principal = poa.principal_iin or poa.principal_bin
    if principal != app.applicant.id or poa.attorney_iin != rep.iin:
        raise Rejection(
            "POA_MISMATCH",
            f"power of attorney {rep.poa_number} is from {principal} to {poa.attorney_iin}, not from the applicant "
            f"{app.applicant.id} to the representative {rep.iin}",
        )
    status = poa_status(poa, today)
    if status != "VALID":
        detail = {"EXPIRED": f"expired on {poa.valid_to}", "NOT_YET_VALID": f"is valid from {poa.valid_from}",
                  "REVOKED": f"was revoked on {poa.revocation_date}" if poa.revocation_date else "was revoked"}[status]  # fmt: skip
        raise Rejection(f"POA_{status}", f"power of attorney {rep.poa_number} {detail}")
    if rep.notarised != poa.notarised:
        raise Rejection(
            "POA_MISMATCH",
            f"the application says power of attorney {rep.poa_number} is {'' if rep.notarised else 'not '}notarised; "
            f"ENIS says it is {'' if poa.notarised else 'not '}notarised",
        )
    if power is not None and power not in {p.code for p in poa.powers}:
        raise Rejection("POA_NO_POWER", f"power of attorney {rep.poa_number} does not grant {power}")


def check_person_signer(app: Application, signed: SignedBy, fixtures: FixtureSet, today: date) -> None:
    """Portal channel, person applicant: signed by the applicant, or by the representative under a valid PoA."""
    if signed.bin is not None:
        raise Rejection(
            "SIGNER_NOT_APPLICANT",
            f"a person's application is signed with a personal SIGN certificate; this one is an employee's of BIN {signed.bin}",
        )
    if app.representative is None:
        if signed.iin != app.applicant.iin:
            raise Rejection(
                "SIGNER_NOT_APPLICANT",
                f"the application is signed by IIN {signed.iin}, not by the applicant {app.applicant.iin}",
            )
        return
    if signed.iin != app.representative.iin:
        raise Rejection(
            "SIGNER_NOT_REPRESENTATIVE",
            f"the application is signed by IIN {signed.iin}, not by the representative {app.representative.iin}",
        )
    check_poa(app, fixtures, today)


def check_operator_signer(app: Application, signed: SignedBy, fixtures: FixtureSet, today: date) -> Organisation:
    """State Corporation channel: signed by an operator of a State Corporation branch; a notarised PoA is checked
    in ENIS (a PoA certified otherwise is not entered, per the regulations' "2 процесс")."""
    org = state_corporation(fixtures, signed)
    if org is None:
        who = f"IIN {signed.iin}" + (f" of BIN {signed.bin}" if signed.bin else "")
        raise Rejection(
            "SIGNER_NOT_OPERATOR",
            f"a State Corporation application is signed by one of its operators; {who} is not one",
        )
    if app.representative is not None and app.representative.notarised:
        check_poa(app, fixtures, today)
    return org


def check_signer(app: Application, signed: SignedBy, fixtures: FixtureSet, today: date) -> None:
    """The channel's signer rule for a person applicant (portal: applicant or representative; state-corp: operator)."""
    if app.channel == "state-corp":
        check_operator_signer(app, signed, fixtures, today)
    else:
        check_person_signer(app, signed, fixtures, today)
