"""X.509 subject names as the NCA writes them, and the inverse used by the signature verifier.

The layout is kz_egov.md §3.1 [CONFIRMED]: ``CN="SURNAME NAME"``, ``SURNAME``, ``SERIALNUMBER="IIN"+12 digits``
(PrintableString), ``C=KZ``, ``GIVENNAME`` = the **patronymic**, and for legal-entity certificates ``O`` = the
organisation's name and ``OU="BIN"+12 digits``. NCANode also reads ``SERIALNUMBER="BIN…"`` (organisation
certificates), which shlyuz uses for systems. All functions are pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509.oid import NameOID

from shlyuz.fixtures.models import Organisation, Person
from shlyuz.pki.profiles import ROLE_PREFIX

_TWELVE = re.compile(r"^[0-9]{12}$")
_CN_MAX = 64  # ub-common-name (RFC 5280); cryptography refuses CNs of more UTF-8 bytes


def _upper(s: str) -> str:
    return " ".join(s.split()).upper()


def fit_cn(s: str) -> str:
    """Cut a CN to 64 UTF-8 bytes (cryptography counts bytes for ub-common-name) at a character boundary."""
    return s.encode("utf-8")[:_CN_MAX].decode("utf-8", "ignore").strip()


def _attr(oid: x509.ObjectIdentifier, value: str) -> x509.NameAttribute:
    return x509.NameAttribute(oid, value)


def person_subject(
    iin: str, surname: str, name: str, patronymic: str | None = None, *, email: str | None = None,
    organisation: str | None = None, bin: str | None = None,  # noqa: A002 - the BIN
) -> x509.Name:
    """An individual's (or, with ``organisation`` and ``bin``, a legal entity employee's) subject name."""
    if not _TWELVE.match(iin):
        raise ValueError(f"IIN must be 12 digits, got {iin!r}")
    if (organisation is None) != (bin is None):
        raise ValueError("organisation and bin go together")
    if bin is not None and not _TWELVE.match(bin):
        raise ValueError(f"BIN must be 12 digits, got {bin!r}")
    attrs = [
        _attr(NameOID.COMMON_NAME, fit_cn(_upper(f"{surname} {name}"))),
        _attr(NameOID.SURNAME, _upper(surname)),
        _attr(NameOID.SERIAL_NUMBER, "IIN" + iin),
        _attr(NameOID.COUNTRY_NAME, "KZ"),
    ]
    if organisation is not None:
        attrs += [_attr(NameOID.ORGANIZATION_NAME, organisation), _attr(NameOID.ORGANIZATIONAL_UNIT_NAME, "BIN" + bin)]
    if patronymic:
        attrs.append(_attr(NameOID.GIVEN_NAME, _upper(patronymic)))
    if email:
        attrs.append(_attr(NameOID.EMAIL_ADDRESS, email))
    return x509.Name(attrs)


def person_name(person: Person, *, email: bool = True, iin: str | None = None) -> x509.Name:
    """The NCA subject of an individual's AUTH/SIGN certificate (``iin`` overrides the person's own IIN: for the
    deliberately inconsistent ``bad/other-iin``)."""
    return person_subject(iin or person.iin, person.surname, person.name, person.patronymic,
                          email=person.email if email else None)  # fmt: skip


def employee_name(person: Person, organisation: Organisation, *, email: bool = True) -> x509.Name:
    """A legal entity employee's subject: the individual's attributes plus ``O`` and ``OU=BIN…``."""
    return person_subject(
        person.iin, person.surname, person.name, person.patronymic, email=person.email if email else None,
        organisation=organisation.name_ru, bin=organisation.bin,
    )  # fmt: skip


def organisation_name(bin: str, organisation: str, *, common_name: str | None = None) -> x509.Name:  # noqa: A002
    """An organisation's (or information system's) own subject: ``CN``, ``SERIALNUMBER=BIN…``, ``C=KZ``, ``O``,
    ``OU=BIN…``. The BIN is in both places so that readers that look only at one of them find it."""
    if not _TWELVE.match(bin):
        raise ValueError(f"BIN must be 12 digits, got {bin!r}")
    return x509.Name([
        _attr(NameOID.COMMON_NAME, fit_cn(common_name or organisation)),
        _attr(NameOID.SERIAL_NUMBER, "BIN" + bin),
        _attr(NameOID.COUNTRY_NAME, "KZ"),
        _attr(NameOID.ORGANIZATION_NAME, organisation),
        _attr(NameOID.ORGANIZATIONAL_UNIT_NAME, "BIN" + bin),
    ])  # fmt: skip


_SHORT = {
    NameOID.COMMON_NAME: "CN", NameOID.SURNAME: "SURNAME", NameOID.SERIAL_NUMBER: "SERIALNUMBER",
    NameOID.COUNTRY_NAME: "C", NameOID.GIVEN_NAME: "G", NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU", NameOID.EMAIL_ADDRESS: "E", NameOID.LOCALITY_NAME: "L",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
}  # fmt: skip


def dn_string(name: x509.Name) -> str:
    """``CN=…, SURNAME=…, SERIALNUMBER=IIN…, C=KZ, G=…`` in certificate order, with the short names NCA tools
    print (RFC 4514 strings go backwards and spell these attributes as dotted OIDs)."""
    return ", ".join(f"{_SHORT.get(a.oid, a.oid.dotted_string)}={_text(a.value)}" for a in name)


@dataclass(frozen=True)
class SubjectInfo:
    """What a verifier needs from a certificate's subject. ``iin``/``bin`` are ``None`` when absent *or* when the
    subject is ambiguous (two different values, a malformed number): ``problems`` then says why, so a comparison
    with the payload's IIN fails closed."""

    iin: str | None = None
    bin: str | None = None
    common_name: str | None = None
    surname: str | None = None
    given_name: str | None = None  # the patronymic in NCA certificates
    organisation: str | None = None
    email: str | None = None
    country: str | None = None
    roles: tuple[str, ...] = ()  # role ("keyUser") OIDs, dotted
    problems: tuple[str, ...] = field(default=())

    @property
    def is_legal_entity(self) -> bool:
        return self.bin is not None


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _one(values: list[str]) -> str | None:
    return values[0] if values else None


def _roles(cert: x509.Certificate) -> tuple[str, ...]:
    found: list[str] = []
    for ext_cls in (x509.ExtendedKeyUsage, x509.CertificatePolicies):
        try:
            ext = cert.extensions.get_extension_for_class(ext_cls).value
        except (x509.ExtensionNotFound, ValueError):
            continue
        for item in ext:
            oid = item.policy_identifier if isinstance(item, x509.PolicyInformation) else item
            if oid.dotted_string.startswith(ROLE_PREFIX) and oid.dotted_string not in found:
                found.append(oid.dotted_string)
    return tuple(found)


def parse_subject(subject: x509.Certificate | x509.Name) -> SubjectInfo:
    """Read IIN, BIN, names and role OIDs from a certificate (or just a Name: then ``roles`` is empty).

    Rules (NCANode's ``createCertificateSubjectFromDn``, made strict): ``SERIALNUMBER`` ``BIN…`` → BIN, ``IIN…``
    or 12 bare digits → IIN; ``OU`` ``BIN…`` → BIN; prefixes are case-insensitive, surrounding blanks ignored; the
    number must be exactly 12 ASCII digits. Two different IINs (or BINs) in one subject give ``None`` and a problem.
    """
    name = subject.subject if isinstance(subject, x509.Certificate) else subject
    by_oid: dict[str, list[str]] = {}
    for attr in name:
        by_oid.setdefault(attr.oid.dotted_string, []).append(_text(attr.value).strip())
    problems: list[str] = []
    iins: list[str] = []
    bins: list[str] = []

    def take(kind: str, raw: str, number: str, into: list[str]) -> None:
        if _TWELVE.match(number):
            if number not in into:
                into.append(number)
        else:
            problems.append(f"{kind} {raw!r} does not hold 12 digits")

    for raw in by_oid.get(NameOID.SERIAL_NUMBER.dotted_string, []):
        head = raw[:3].upper()
        if head == "BIN":
            take("SERIALNUMBER", raw, raw[3:].strip(), bins)
        elif head == "IIN":
            take("SERIALNUMBER", raw, raw[3:].strip(), iins)
        elif _TWELVE.match(raw):
            take("SERIALNUMBER", raw, raw, iins)
        else:
            problems.append(f"SERIALNUMBER {raw!r} is neither IIN… nor BIN…")
    for raw in by_oid.get(NameOID.ORGANIZATIONAL_UNIT_NAME.dotted_string, []):
        if raw[:3].upper() == "BIN":
            take("OU", raw, raw[3:].strip(), bins)
    if len(iins) > 1:
        problems.append(f"several IINs in the subject: {', '.join(iins)}")
    if len(bins) > 1:
        problems.append(f"several BINs in the subject: {', '.join(bins)}")

    def first(oid: x509.ObjectIdentifier) -> str | None:
        return _one(by_oid.get(oid.dotted_string, []))

    return SubjectInfo(
        iin=iins[0] if len(iins) == 1 else None,
        bin=bins[0] if len(bins) == 1 else None,
        common_name=first(NameOID.COMMON_NAME),
        surname=first(NameOID.SURNAME),
        given_name=first(NameOID.GIVEN_NAME),
        organisation=first(NameOID.ORGANIZATION_NAME),
        email=first(NameOID.EMAIL_ADDRESS),
        country=first(NameOID.COUNTRY_NAME),
        roles=_roles(subject) if isinstance(subject, x509.Certificate) else (),
        problems=tuple(problems),
    )
