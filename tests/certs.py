"""Throwaway test PKI made with ``cryptography`` directly (test helper, not a test module).

Deliberately independent of ``shlyuz.pki``: the certificates mimic the NCA profile (kz_egov.md §3.1) closely enough
for the signature and policy tests, and every knob a test needs is a parameter.

API::

    make_key(kind) -> private key                      kind: "rsa2048" | "ec-p256"
    make_root(cn="TEST ROOT CA", *, kind, key=None, not_before=None, not_after=None) -> Issued
    make_ca(issuer, cn="TEST ISSUING CA", *, kind, key=None, path_len=0, ca=True, key_cert_sign=True, ...) -> Issued
    make_leaf(issuer, *, iin=None, bin=None, cn="ТЕСТОВ ТЕСТ", kind, key=None, key_usage=SIGN_KU,
              eku=SIGN_EKU, not_before=None, not_after=None, serial=None, bin_in="OU", signed_by=None) -> Issued
        key_usage: names of x509.KeyUsage flags set to True, or None for no KeyUsage extension;
        eku: OIDs for ExtendedKeyUsage, or None for no EKU extension;
        bin_in: put the BIN in "OU" (OU=BIN…, the legal-entity profile) or "SERIALNUMBER" (SERIALNUMBER=BIN…).
    Issued.cert / .key / .cert_pem() / .key_pem() / .cert_der() / .write(dir, stem) -> (cert_path, key_path)

Defaults: validity from 2025-01-01 to 2049-12-31 UTC (covers the gateway tests' clock 2026-01-15 and today's
date for xmlsec1, which checks certificates against the real clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOT_BEFORE = datetime(2025, 1, 1, tzinfo=timezone.utc)
NOT_AFTER = datetime(2049, 12, 31, tzinfo=timezone.utc)  # UTCTime's last year: xmlsec1 checks against the real clock

SIGN_KU = ("digital_signature", "content_commitment")
AUTH_KU = ("digital_signature", "key_encipherment")
ROLE_INDIVIDUAL = x509.ObjectIdentifier("1.2.398.3.3.4.1.1")
ROLE_ORGANIZATION = x509.ObjectIdentifier("1.2.398.3.3.4.1.2")
SIGN_EKU = (ExtendedKeyUsageOID.EMAIL_PROTECTION, ROLE_INDIVIDUAL)
AUTH_EKU = (ExtendedKeyUsageOID.CLIENT_AUTH, ROLE_INDIVIDUAL)

_KU_FLAGS = (
    "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
    "key_agreement", "key_cert_sign", "crl_sign",
)  # fmt: skip


def make_key(kind: str = "rsa2048"):
    if kind == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unknown key kind {kind!r}")


@dataclass
class Issued:
    cert: x509.Certificate
    key: object

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key.pem"
        cert_path.write_bytes(self.cert_pem())
        key_path.write_bytes(self.key_pem())
        return cert_path, key_path


def _key_usage(flags: tuple[str, ...]) -> x509.KeyUsage:
    unknown = set(flags) - set(_KU_FLAGS)
    if unknown:
        raise ValueError(f"unknown KeyUsage flags {sorted(unknown)}")
    values = {name: name in flags for name in _KU_FLAGS}
    return x509.KeyUsage(**values, encipher_only=False, decipher_only=False)


def _build(
    subject: x509.Name,
    issuer_name: x509.Name,
    public_key,
    signing_key,
    *,
    not_before: datetime | None,
    not_after: datetime | None,
    serial: int | None,
    extensions: list[tuple[x509.ExtensionType, bool]],
    issuer_key_for_aki=None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(not_before or NOT_BEFORE)
        .not_valid_after(not_after or NOT_AFTER)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key_for_aki or signing_key.public_key()),
            critical=False,
        )
    )
    for ext, critical in extensions:
        builder = builder.add_extension(ext, critical=critical)
    return builder.sign(signing_key, hashes.SHA256())


def _ca_name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_root(
    cn: str = "TEST ROOT CA (RSA)",
    *,
    kind: str = "rsa2048",
    key=None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Issued:
    key = key or make_key(kind)
    name = _ca_name(cn)
    cert = _build(
        name, name, key.public_key(), key,
        not_before=not_before, not_after=not_after, serial=None,
        extensions=[
            (x509.BasicConstraints(ca=True, path_length=None), True),
            (_key_usage(("key_cert_sign", "crl_sign")), True),
        ],
    )  # fmt: skip
    return Issued(cert, key)


def make_ca(
    issuer: Issued,
    cn: str = "TEST ISSUING CA (RSA)",
    *,
    kind: str = "rsa2048",
    key=None,
    path_len: int | None = 0,
    ca: bool = True,
    key_cert_sign: bool = True,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Issued:
    key = key or make_key(kind)
    ku = ("key_cert_sign", "crl_sign") if key_cert_sign else ("digital_signature",)
    cert = _build(
        _ca_name(cn), issuer.cert.subject, key.public_key(), issuer.key,
        not_before=not_before, not_after=not_after, serial=None,
        extensions=[
            (x509.BasicConstraints(ca=ca, path_length=path_len if ca else None), True),
            (_key_usage(ku), True),
        ],
    )  # fmt: skip
    return Issued(cert, key)


def leaf_name(
    *, cn: str = "ТЕСТОВ ТЕСТ", iin: str | None = None, bin: str | None = None, bin_in: str = "OU",
    organisation: str | None = None,
) -> x509.Name:  # fmt: skip
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.SURNAME, cn.split()[0])]
    if iin is not None:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, f"IIN{iin}"))
    elif bin is not None and bin_in == "SERIALNUMBER":
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, f"BIN{bin}"))
    attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ"))
    if organisation is not None or (bin is not None and bin_in == "OU"):
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation or "ТОО «ТЕСТ»"))
    if bin is not None and bin_in == "OU":
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"BIN{bin}"))
    attrs.append(x509.NameAttribute(NameOID.GIVEN_NAME, "ТЕСТОВИЧ"))
    return x509.Name(attrs)


def make_leaf(
    issuer: Issued,
    *,
    iin: str | None = None,
    bin: str | None = None,
    bin_in: str = "OU",
    cn: str = "ТЕСТОВ ТЕСТ",
    kind: str = "rsa2048",
    key=None,
    key_usage: tuple[str, ...] | None = SIGN_KU,
    eku: tuple[x509.ObjectIdentifier, ...] | None = SIGN_EKU,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    serial: int | None = None,
    signed_by=None,
) -> Issued:
    """A leaf issued by ``issuer`` (``signed_by`` overrides the signing key, to forge a bad signature)."""
    key = key or make_key(kind)
    extensions: list[tuple[x509.ExtensionType, bool]] = [(x509.BasicConstraints(ca=False, path_length=None), True)]
    if key_usage is not None:
        extensions.append((_key_usage(key_usage), True))
    if eku is not None:
        extensions.append((x509.ExtendedKeyUsage(list(eku)), False))
    cert = _build(
        leaf_name(cn=cn, iin=iin, bin=bin, bin_in=bin_in), issuer.cert.subject, key.public_key(),
        signed_by or issuer.key,
        not_before=not_before, not_after=not_after, serial=serial, extensions=extensions,
        issuer_key_for_aki=issuer.key.public_key(),  # type: ignore[attr-defined]
    )  # fmt: skip
    return Issued(cert, key)
