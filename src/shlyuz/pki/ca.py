"""Certificate authority operations over ``cryptography`` objects: no files, no clock.

Every function takes the time it needs (``now``, ``not_before``/``not_after``) explicitly, so the gateway clock —
or a test's fixed clock — decides what is valid. Signatures are SHA-256 (``sha256WithRSAEncryption`` as the NCA
RSA hierarchy, §3.2; ``ecdsa-with-SHA256`` for EC keys).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ObjectIdentifier

from shlyuz.pki.profiles import ISSUING_NAME, KEY_KINDS, POLICY_CA, ROOT_NAME, Profile

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

CA_BACKDATE = timedelta(days=730)  # CAs start two years before they are made: room for expired/backdated leaves


def make_key(kind: str = "rsa2048") -> PrivateKey:
    """A new private key: ``rsa2048`` (NCA RSA; ~40-100 ms) or ``ec-p256`` (well under 1 ms)."""
    if kind == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unknown key kind {kind!r}: expected one of {', '.join(KEY_KINDS)}")


def key_kind_of(key: PrivateKey | PublicKey) -> str:
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return f"rsa{key.key_size}"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return {"secp256r1": "ec-p256"}.get(key.curve.name, f"ec-{key.curve.name}")
    return type(key).__name__


def generate_keys_der(kind: str, count: int) -> list[bytes]:
    """``count`` new keys as unencrypted PKCS#8 DER: the unit of work of the key-generation process pool."""
    return [
        make_key(kind).private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())  # fmt: skip
        for _ in range(count)
    ]


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    return t.astimezone(timezone.utc).replace(microsecond=0)


def _hash_for(key: PrivateKey) -> hashes.HashAlgorithm:
    return hashes.SHA256()


def _ski(public_key: PublicKey) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(public_key)


def _aki(ca_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key())  # type: ignore[arg-type]


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
    )  # fmt: skip


def _distribution(builder: x509.CertificateBuilder, crl_url: str | None, ocsp_url: str | None,
                  ca_issuers_url: str | None) -> x509.CertificateBuilder:  # fmt: skip
    if crl_url:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    access = []
    if ocsp_url:
        access.append(x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)))
    if ca_issuers_url:
        access.append(x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS,
                                             x509.UniformResourceIdentifier(ca_issuers_url)))  # fmt: skip
    if access:
        builder = builder.add_extension(x509.AuthorityInformationAccess(access), critical=False)
    return builder


def make_root(
    key: PrivateKey, now: datetime, years: int = 20, *, name: x509.Name = ROOT_NAME, serial: int | None = None,
    backdate: timedelta = CA_BACKDATE,
) -> x509.Certificate:
    """A self-signed root CA (``C=KZ, CN=… TEST ROOT (shlyuz)``), valid from ``now - backdate`` to ``now + years``."""
    start = _utc(now) - backdate
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(public)
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(start).not_valid_after(_utc(now) + timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(_ski(public), critical=False)
    )  # fmt: skip
    return builder.sign(key, _hash_for(key))


def make_issuing(
    root_key: PrivateKey, root_cert: x509.Certificate, key: PrivateKey, now: datetime, years: int = 10, *,
    name: x509.Name = ISSUING_NAME, serial: int | None = None, backdate: timedelta = CA_BACKDATE,
    crl_url: str | None = None, ca_issuers_url: str | None = None,
) -> x509.Certificate:
    """The issuing CA (``C=KZ, CN=ҰЛТТЫҚ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ (RSA) TEST (shlyuz)``) under ``root_cert``: pathLen 0,
    policy ``1.2.398.3.3.1.1``; ``crl_url``/``ca_issuers_url`` point at the root's CRL and certificate."""
    start = max(_utc(now) - backdate, root_cert.not_valid_before_utc)
    end = min(_utc(now) + timedelta(days=365 * years), root_cert.not_valid_after_utc)
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(root_cert.subject).public_key(public)
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(_ski(public), critical=False)
        .add_extension(_aki(root_cert), critical=False)
        .add_extension(x509.CertificatePolicies([x509.PolicyInformation(POLICY_CA, None)]), critical=False)
    )  # fmt: skip
    builder = _distribution(builder, crl_url, None, ca_issuers_url)
    return builder.sign(root_key, _hash_for(root_key))


def issue(
    ca_key: PrivateKey, ca_cert: x509.Certificate, subject: x509.Name, public_key: PublicKey, profile: Profile, *,
    serial: int, not_before: datetime, not_after: datetime, crl_url: str | None, ocsp_url: str | None,
    ca_issuers_url: str | None, extra_eku: Sequence[ObjectIdentifier] | None = None, omit_eku: bool = False,
    san: Sequence[x509.GeneralName] | None = None,
) -> x509.Certificate:
    """An end-entity certificate for ``subject`` under ``profile``.

    Extensions: BasicConstraints(cA=false), KeyUsage (critical) from the profile, ExtendedKeyUsage = the profile's
    EKU + ``extra_eku`` (role OIDs; the whole extension is left out with ``omit_eku``), CertificatePolicies,
    SKI, AKI, CRLDistributionPoints, AuthorityInformationAccess (OCSP + caIssuers), SubjectAltName if ``san``.
    """
    if serial <= 0 or serial.bit_length() > 159:
        raise ValueError("serial must be positive and at most 20 octets")
    start, end = _utc(not_before), _utc(not_after)
    if end <= start:
        raise ValueError("not_after must be after not_before")
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(ca_cert.subject).public_key(public_key)
        .serial_number(serial).not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(profile.key_usage(), critical=True)
        .add_extension(_ski(public_key), critical=False)
        .add_extension(_aki(ca_cert), critical=False)
    )  # fmt: skip
    ekus = [*profile.eku, *(o for o in extra_eku or () if o not in profile.eku)]
    if ekus and not omit_eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    if profile.policies:
        policies = x509.CertificatePolicies([x509.PolicyInformation(p, None) for p in profile.policies])
        builder = builder.add_extension(policies, critical=False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(san)), critical=False)
    builder = _distribution(builder, crl_url, ocsp_url, ca_issuers_url)
    return builder.sign(ca_key, _hash_for(ca_key))


def verify_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True if ``issuer``'s key signed ``cert`` and the names chain (no validity or extension checks)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # InvalidSignature, ValueError (names differ), UnsupportedAlgorithm (GOST keys) ...
        return False
    return True
