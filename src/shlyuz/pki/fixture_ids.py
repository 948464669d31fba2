"""The identities shlyuz issues for its fixtures, and the deliberately bad ones.

Names (see docs/pki.md for the table):

* ``person/<IIN>/auth``, ``person/<IIN>/sign`` — every living adult person of the fixtures;
* ``org/<BIN>/<IIN>/auth``, ``org/<BIN>/<IIN>/sign`` — each organisation's head (role CEO) and employees (EMPLOYEE);
* ``system/GBDFL``, ``system/ENIS``, ``system/ESOBES``, ``system/ELICENSING``, ``system/PORTAL``,
  ``system/ARM-RSHEP``, ``system/ARM-CON`` — the mocked information systems; ``gateway`` — SHEP's own (WS-Security);
* ``tls/localhost`` — HTTPS / the NCALayer mock's wss://127.0.0.1:13579;
* ``bad/…`` — for the demo applicant, each meant to trigger one verification error code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from ipaddress import ip_address

from cryptography import x509
from cryptography.x509.oid import NameOID

from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.fixtures.iin import make_bin
from shlyuz.fixtures.models import Person
from shlyuz.fixtures.store import FixtureSet
from shlyuz.pki import profiles as P
from shlyuz.pki.store import Identity, IdentitySpec, Pki
from shlyuz.pki.subjects import employee_name, organisation_name, person_name, person_subject

# Key kinds for the fixture identities: "rsa2048" everywhere (as the NCA RSA hierarchy), "ec-p256" everywhere, or
# "mixed" (the default): RSA-2048 for the identities people and tests actually use — the demo persons (person/… and
# org/… of DEMO_IINS), system/*, gateway, tls/localhost and bad/* — and EC P-256 for the bulk of generated persons
# and employees. Measured on a 2-core machine for the committed fixtures (465 identities): mixed ~2 s,
# rsa2048 12-18 s (two-worker pool; ~22 s of CPU), ec-p256 under 1 s. docs/pki.md has the numbers.
FIXTURE_KEY_KINDS = ("mixed", "rsa2048", "ec-p256")
DEFAULT_KEY_KIND = "mixed"
RENEW_MARGIN = timedelta(days=1)  # an identity expiring within a day is issued again (bad/* never are)


def _first_bin(year: int, month: int, serial: int) -> str:
    while True:
        try:
            return make_bin(year, month, 4, 0, serial)
        except ValueError:
            serial += 1


# (identity name, BIN, organisation, CN): synthetic operators, registered 2002 (no fixture organisation is)
SYSTEMS = (
    ("system/GBDFL", _first_bin(2002, 3, 101), "ГБД ФЛ TEST (shlyuz)", "ГБД ФЛ (shlyuz TEST)"),
    ("system/ENIS", _first_bin(2002, 3, 202), "ЕНИС нотариата TEST (shlyuz)", "ЕНИС (shlyuz TEST)"),
    ("gateway", _first_bin(2002, 3, 303), "Шлюз электронного правительства TEST (shlyuz)", "ШЭП (shlyuz TEST)"),
    ("system/ESOBES", _first_bin(2002, 3, 404), "ИС Е-Собес TEST (shlyuz)", "Е-Собес (shlyuz TEST)"),
    ("system/ELICENSING", _first_bin(2002, 3, 505), "ГБД Е-лицензирование TEST (shlyuz)", "Е-лицензирование (shlyuz TEST)"),
    ("system/PORTAL", _first_bin(2002, 3, 606), "Портал электронного правительства TEST (shlyuz)", "egov.kz (shlyuz TEST)"),
    ("system/ARM-RSHEP", _first_bin(2002, 3, 707), "АРМ РШЭП TEST (shlyuz)", "АРМ РШЭП (shlyuz TEST)"),
    ("system/ARM-CON", _first_bin(2002, 3, 808), "ИИС ЦОН TEST (shlyuz)", "АРМ ИИС ЦОН (shlyuz TEST)"),
)

# bad identity -> the verification error it is meant to trigger
BAD = {
    "bad/expired": "CERT_EXPIRED",
    "bad/not-yet-valid": "CERT_NOT_YET_VALID",
    "bad/revoked": "CERT_REVOKED",
    "bad/auth-used-for-signing": "CERT_KEY_USAGE",
    "bad/no-eku": "CERT_KEY_USAGE",
    "bad/untrusted": "CERT_UNTRUSTED",
    "bad/other-iin": "IIN_MISMATCH",
}


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def living_adult(person: Person, on: date) -> bool:
    return person.life_status.code == "0" and person.death_date is None and _age(person.birth_date, on) >= 18


def _applicant(fixtures: FixtureSet) -> x509.Name:
    p = fixtures.persons.get(DEMO_IINS["applicant"])
    return person_name(p) if p else person_subject(DEMO_IINS["applicant"], "Ахметов", "Нұрлан", "Серікұлы")


def bad_specs(fixtures: FixtureSet, now: datetime, key_kind: str) -> list[IdentitySpec]:
    app = fixtures.persons.get(DEMO_IINS["applicant"])
    subject = _applicant(fixtures)
    other = (person_name(app, iin=DEMO_IINS["attorney"]) if app else
             person_subject(DEMO_IINS["attorney"], "Ахметов", "Нұрлан", "Серікұлы"))  # fmt: skip
    role = (P.ROLE_INDIVIDUAL,)

    def spec(name: str, **kw) -> IdentitySpec:
        kw.setdefault("subject", subject)
        kw.setdefault("profile", P.SIGN)
        return IdentitySpec(name, key_kind=key_kind, extra_eku=role, tags=("bad", "fault:" + BAD[name]), **kw)

    day = timedelta(days=1)
    return [
        spec("bad/expired", not_before=now - 400 * day, not_after=now - 35 * day),
        spec("bad/not-yet-valid", not_before=now + 1826 * day, not_after=now + 2191 * day),
        spec("bad/revoked", not_before=now - 30 * day, revoke=(x509.ReasonFlags.key_compromise, now - timedelta(hours=1))),
        spec("bad/auth-used-for-signing", profile=P.AUTH),
        spec("bad/no-eku", omit_eku=True),
        spec("bad/untrusted", issuer="untrusted"),
        spec("bad/other-iin", subject=other),
    ]


def plan(fixtures: FixtureSet, *, now: datetime, key_kind: str = DEFAULT_KEY_KIND) -> list[IdentitySpec]:
    """Every identity the fixtures call for, in a stable order (keys not yet made). ``key_kind`` is one of
    :data:`FIXTURE_KEY_KINDS`; with ``mixed`` the demo, system, gateway, TLS and bad identities are RSA-2048 and
    the other persons' and employees' EC P-256."""
    if key_kind not in FIXTURE_KEY_KINDS:
        raise ValueError(f"unknown key kind {key_kind!r}: expected one of {', '.join(FIXTURE_KEY_KINDS)}")
    today = now.date()
    demo = set(DEMO_IINS.values())
    core = "rsa2048" if key_kind == "mixed" else key_kind

    def kind_for(iin: str) -> str:
        return core if iin in demo or key_kind != "mixed" else "ec-p256"

    specs: list[IdentitySpec] = []
    for p in fixtures.persons.values():
        if not living_adult(p, today):
            continue
        extra = ("demo",) if p.iin in demo else ()
        for purpose in ("auth", "sign"):
            specs.append(IdentitySpec(f"person/{p.iin}/{purpose}", person_name(p), P.profile_for(purpose), kind_for(p.iin),
                                      tags=("person", purpose, *extra), extra_eku=(P.ROLE_INDIVIDUAL,)))  # fmt: skip
    for org in fixtures.organisations.values():
        staff = ([(org.head_iin, "ceo")] if org.head_iin else []) + [(i, "employee") for i in org.employee_iins]
        seen: set[str] = set()
        for iin, role in staff:
            p = fixtures.persons.get(iin)
            if p is None or iin in seen or not living_adult(p, today):
                continue
            seen.add(iin)
            role_oid = P.ROLE_CEO if role == "ceo" else P.ROLE_EMPLOYEE
            for purpose in ("auth", "sign"):
                specs.append(IdentitySpec(
                    f"org/{org.bin}/{iin}/{purpose}", employee_name(p, org), P.profile_for(purpose, legal=True),
                    kind_for(iin), tags=("employee", purpose, role, *(("demo",) if iin in demo else ())),
                    extra_eku=(P.ROLE_ORGANISATION, role_oid),
                ))  # fmt: skip
    for name, bin_, org_name, cn in SYSTEMS:
        specs.append(IdentitySpec(name, organisation_name(bin_, org_name, common_name=cn), P.LEGAL_SIGN, core,
                                  tags=("system",), extra_eku=(P.ROLE_ORGANISATION, P.ROLE_CAN_SIGN)))  # fmt: skip
    tls_subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
                             x509.NameAttribute(NameOID.ORGANIZATION_NAME, "shlyuz TEST"),
                             x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ")])  # fmt: skip
    san = (x509.DNSName("localhost"), x509.IPAddress(ip_address("127.0.0.1")), x509.IPAddress(ip_address("::1")))
    specs.append(IdentitySpec("tls/localhost", tls_subject, P.TLS_SERVER, core, tags=("tls",), san=san))
    specs.extend(bad_specs(fixtures, now, core))
    return specs


@dataclass(frozen=True)
class EnsureReport:
    issued: int
    renewed: int
    kept: int
    seconds: float
    key_kind: str

    def __str__(self) -> str:
        return (f"{self.issued} identities issued ({self.renewed} of them renewed), {self.kept} already there; "
                f"keys: {self.key_kind}; {self.seconds:.1f} s")  # fmt: skip


def ensure_fixture_identities(pki: Pki, fixtures: FixtureSet, *, now: datetime, key_kind: str | None = None,
                              workers: int | None = None) -> EnsureReport:  # fmt: skip
    """Issue what :func:`plan` lists and the index lacks, and renew identities (not ``bad/…``) that have expired
    or expire within a day. Idempotent: a second call issues nothing, whatever ``key_kind`` (existing identities
    keep their keys). RSA keys are made in a process pool (:mod:`shlyuz.pki.keygen`)."""
    started = time.perf_counter()
    kind = key_kind or DEFAULT_KEY_KIND
    existing = {r.name: r for r in pki.records()}
    todo, renewed, kept = [], 0, 0
    for spec in plan(fixtures, now=now, key_kind=kind):
        rec = existing.get(spec.name)
        if rec is None:
            todo.append(spec)
        elif not spec.name.startswith("bad/") and rec.not_after <= now + RENEW_MARGIN:
            todo.append(spec)
            renewed += 1
        else:
            kept += 1
    issued: list[Identity] = pki.issue_many(todo, now=now, replace_existing=True, workers=workers) if todo else []
    return EnsureReport(len(issued), renewed, kept, time.perf_counter() - started, kind)
