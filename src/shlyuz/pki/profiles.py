"""Constants of shlyuz's test PKI in the style of the National Certification Centre of Kazakhstan (НУЦ РК).

What is confirmed about the real NCA profile is in kz_egov.md §3.1 (decoded NCANode test certificates and
NCANode's source); ``docs/pki.md`` says, item by item, what here is confirmed and what is shlyuz's choice.
Every name carries ``TEST`` and ``(shlyuz)`` so that no certificate of this PKI can be mistaken for a real one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

# --- CA names -----------------------------------------------------------------------------------------------
# The real test hierarchy is "НЕГІЗГІ КО TEST (RSA)" -> "ҰКО 3.0 (RSA TEST)"; production intermediates are
# "ҰЛТТЫҚ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ (RSA|GOST)" (§3.3). shlyuz uses the abbreviation ҰКО (Ұлттық куәландырушы орталық)
# like the real test CA: spelled out, "ҰЛТТЫҚ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ" alone is 52 UTF-8 bytes, and with
# " (RSA) TEST (shlyuz)" it would pass the 64 that cryptography enforces for CN (ub-common-name, counted in bytes).
ROOT_CN = "ҰКО (RSA) TEST ROOT (shlyuz)"
ISSUING_CN = "ҰКО (RSA) TEST (shlyuz)"
UNTRUSTED_CN = "ҰКО (RSA) UNTRUSTED TEST (shlyuz)"  # for bad/untrusted: never a trust anchor


def ca_name(common_name: str) -> x509.Name:
    """``C=KZ, CN=…`` as the NCA CA certificates have it."""
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


ROOT_NAME = ca_name(ROOT_CN)
ISSUING_NAME = ca_name(ISSUING_CN)
UNTRUSTED_NAME = ca_name(UNTRUSTED_CN)

# --- role ("keyUser") OIDs, carried in the ExtendedKeyUsage extension (§3.1, CONFIRMED) ---------------------
ROLE_INDIVIDUAL = ObjectIdentifier("1.2.398.3.3.4.1.1")
ROLE_ORGANISATION = ObjectIdentifier("1.2.398.3.3.4.1.2")
ROLE_CEO = ObjectIdentifier("1.2.398.3.3.4.1.2.1")
ROLE_CAN_SIGN = ObjectIdentifier("1.2.398.3.3.4.1.2.2")
ROLE_CAN_SIGN_FINANCIAL = ObjectIdentifier("1.2.398.3.3.4.1.2.3")
ROLE_HR = ObjectIdentifier("1.2.398.3.3.4.1.2.4")
ROLE_EMPLOYEE = ObjectIdentifier("1.2.398.3.3.4.1.2.5")
ROLE_NCA_PRIVILEGES = ObjectIdentifier("1.2.398.3.3.4.2")
ROLE_IDENTIFICATION = ObjectIdentifier("1.2.398.3.3.4.3")
ROLE_PREFIX = "1.2.398.3.3.4."

ROLE_NAMES: dict[str, str] = {  # NCANode's CertificateKeyUser names
    ROLE_INDIVIDUAL.dotted_string: "INDIVIDUAL",
    ROLE_ORGANISATION.dotted_string: "ORGANIZATION",
    ROLE_CEO.dotted_string: "CEO",
    ROLE_CAN_SIGN.dotted_string: "CAN_SIGN",
    ROLE_CAN_SIGN_FINANCIAL.dotted_string: "CAN_SIGN_FINANCIAL",
    ROLE_HR.dotted_string: "HR",
    ROLE_EMPLOYEE.dotted_string: "EMPLOYEE",
    "1.2.398.3.3.4.2": "NCA_PRIVILEGES",
    "1.2.398.3.3.4.2.1": "NCA_ADMIN",
    "1.2.398.3.3.4.2.2": "NCA_MANAGER",
    "1.2.398.3.3.4.2.3": "NCA_OPERATOR",
    "1.2.398.3.3.4.3": "IDENTIFICATION",
    "1.2.398.3.3.4.3.1": "IDENTIFICATION_CON",
    "1.2.398.3.3.4.3.2": "IDENTIFICATION_REMOTE",
    "1.2.398.3.3.4.3.2.1": "IDENTIFICATION_REMOTE_DIGITAL_ID",
}
ROLE_BY_KEYWORD = {  # for the CLI: --role ceo|can-sign|financial|hr|employee
    "ceo": ROLE_CEO, "can-sign": ROLE_CAN_SIGN, "financial": ROLE_CAN_SIGN_FINANCIAL, "hr": ROLE_HR,
    "employee": ROLE_EMPLOYEE,
}  # fmt: skip

# --- certificate policy OIDs (§3.1 [OBSERVED]; 1.2.398.3.3.2.2 is a GUESS) ------------------------------------
POLICY_CA = ObjectIdentifier("1.2.398.3.3.1.1")
POLICY_LEGAL_SIGN = ObjectIdentifier("1.2.398.3.3.2.1")
POLICY_LEGAL_AUTH = ObjectIdentifier("1.2.398.3.3.2.2")  # [GUESS] by analogy: not seen on a decoded certificate
POLICY_INDIVIDUAL_SIGN = ObjectIdentifier("1.2.398.3.3.2.3")
POLICY_INDIVIDUAL_AUTH = ObjectIdentifier("1.2.398.3.3.2.4")

# --- extended key usages -------------------------------------------------------------------------------------
EKU_CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH  # 1.3.6.1.5.5.7.3.2, NCA AUTH certificates
EKU_EMAIL_PROTECTION = ExtendedKeyUsageOID.EMAIL_PROTECTION  # 1.3.6.1.5.5.7.3.4, NCA SIGN certificates
EKU_SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH  # 1.3.6.1.5.5.7.3.1, TLS servers (shlyuz's own)
EKU_OCSP_SIGNING = ExtendedKeyUsageOID.OCSP_SIGNING  # 1.3.6.1.5.5.7.3.9, delegated OCSP responders

KeyKind = Literal["rsa2048", "ec-p256"]
KEY_KINDS: tuple[str, ...] = ("rsa2048", "ec-p256")


@dataclass(frozen=True)
class Profile:
    """What an end-entity certificate may do: KeyUsage bits, EKU and certificate policies.

    Role OIDs are not part of the profile: they depend on the holder and are passed to
    :func:`shlyuz.pki.ca.issue` as ``extra_eku`` (NCA puts them in the EKU extension).
    """

    name: str
    purpose: Literal["AUTH", "SIGN", "TLS", "OCSP"]
    digital_signature: bool = True
    non_repudiation: bool = False
    key_encipherment: bool = False
    eku: tuple[ObjectIdentifier, ...] = ()
    policies: tuple[ObjectIdentifier, ...] = ()

    def key_usage(self) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=self.digital_signature, content_commitment=self.non_repudiation,
            key_encipherment=self.key_encipherment, data_encipherment=False, key_agreement=False,
            key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
        )  # fmt: skip


# NCA AUTH: digitalSignature + keyEncipherment, EKU clientAuth (+ role OID)            [CONFIRMED §3.1]
AUTH = Profile("auth", "AUTH", key_encipherment=True, eku=(EKU_CLIENT_AUTH,), policies=(POLICY_INDIVIDUAL_AUTH,))
# NCA SIGN: digitalSignature + nonRepudiation, EKU emailProtection (+ role OID)       [CONFIRMED §3.1]
SIGN = Profile("sign", "SIGN", non_repudiation=True, eku=(EKU_EMAIL_PROTECTION,), policies=(POLICY_INDIVIDUAL_SIGN,))
# The same for employees of legal entities and for systems: only the policy differs.
LEGAL_AUTH = Profile("legal-auth", "AUTH", key_encipherment=True, eku=(EKU_CLIENT_AUTH,), policies=(POLICY_LEGAL_AUTH,))
LEGAL_SIGN = Profile("legal-sign", "SIGN", non_repudiation=True, eku=(EKU_EMAIL_PROTECTION,), policies=(POLICY_LEGAL_SIGN,))
# shlyuz's own: the gateway's HTTPS and the NCALayer mock's wss://127.0.0.1:13579 (no NCA policy).
TLS_SERVER = Profile("tls-server", "TLS", key_encipherment=True, eku=(EKU_SERVER_AUTH,))
# A delegated OCSP responder (RFC 6960 §4.2.2.2), for tests of responses not signed by the CA itself.
OCSP_SIGNING = Profile("ocsp-signing", "OCSP", eku=(EKU_OCSP_SIGNING,))

PROFILES: dict[str, Profile] = {p.name: p for p in (AUTH, SIGN, LEGAL_AUTH, LEGAL_SIGN, TLS_SERVER, OCSP_SIGNING)}


def profile_for(purpose: Literal["auth", "sign"], *, legal: bool = False) -> Profile:
    """AUTH or SIGN, for an individual or for a legal entity's employee/system."""
    if purpose == "auth":
        return LEGAL_AUTH if legal else AUTH
    if purpose == "sign":
        return LEGAL_SIGN if legal else SIGN
    raise ValueError(f"unknown purpose {purpose!r}: expected 'auth' or 'sign'")


def key_purpose(cert: x509.Certificate) -> Literal["AUTH", "SIGN", "UNKNOWN"]:
    """NCANode's classification (``CertificateKeyUsage``): digitalSignature and nonRepudiation → SIGN;
    digitalSignature and keyEncipherment → AUTH; anything else (or no KeyUsage) → UNKNOWN."""
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return "UNKNOWN"
    if ku.digital_signature and ku.content_commitment:
        return "SIGN"
    if ku.digital_signature and ku.key_encipherment:
        return "AUTH"
    return "UNKNOWN"


def extended_key_usages(cert: x509.Certificate) -> list[str] | None:
    """Dotted EKU OIDs, or ``None`` when the certificate has no EKU extension (bank and some state CAs;
    NCANode issue #161). Role OIDs are included: NCA puts them there."""
    try:
        return [o.dotted_string for o in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value]
    except x509.ExtensionNotFound:
        return None


def policy_oids(cert: x509.Certificate) -> list[str]:
    try:
        return [p.policy_identifier.dotted_string for p in cert.extensions.get_extension_for_class(x509.CertificatePolicies).value]
    except x509.ExtensionNotFound:
        return []
