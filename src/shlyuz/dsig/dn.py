"""Distinguished names as they appear in ``ds:X509IssuerName``: Java's RFC 2253 output, OpenSSL's and .NET's
variants. ``cryptography``'s own ``Name.from_rfc4514_string`` refuses common real-world forms (a space after the
comma, ``SERIALNUMBER=``, ``E=``, ``OID.2.5.4.5=``), so this reader is more lenient and returns an ``x509.Name``
that compares equal to the certificate's issuer.
"""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.x509.oid import NameOID

_DN_KEYS = {
    "CN": NameOID.COMMON_NAME, "C": NameOID.COUNTRY_NAME, "L": NameOID.LOCALITY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME, "S": NameOID.STATE_OR_PROVINCE_NAME, "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME, "STREET": NameOID.STREET_ADDRESS, "DC": NameOID.DOMAIN_COMPONENT,
    "UID": NameOID.USER_ID, "SERIALNUMBER": NameOID.SERIAL_NUMBER, "SURNAME": NameOID.SURNAME,
    "GIVENNAME": NameOID.GIVEN_NAME, "G": NameOID.GIVEN_NAME, "E": NameOID.EMAIL_ADDRESS,
    "EMAILADDRESS": NameOID.EMAIL_ADDRESS, "T": NameOID.TITLE, "TITLE": NameOID.TITLE,
}  # fmt: skip
_DN_SPLIT = re.compile(r'((?:[^,+;\\"]|\\.|"[^"]*")+)([,+;]|$)')
_DN_STRING_TAGS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii", 0x14: "latin-1", 0x1E: "utf-16-be"}


def _dn_value(raw: str) -> str:
    raw = raw.strip()
    if raw.startswith("#"):  # BER of a string type (RFC 4514 §2.4), as Java prints unknown attribute types
        der = bytes.fromhex(raw[1:])
        if len(der) < 2 or der[0] not in _DN_STRING_TAGS or der[1] >= 0x80 or der[1] != len(der) - 2:
            raise ValueError("unsupported #hex value")
        return der[2:].decode(_DN_STRING_TAGS[der[0]])
    if raw.startswith('"') and raw.endswith('"'):
        raw = raw[1:-1]
    out, i = bytearray(), 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and re.fullmatch(r"[0-9a-fA-F]{2}", raw[i + 1 : i + 3]):
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        elif ch == "\\" and i + 1 < len(raw):
            out += raw[i + 1].encode()
            i += 2
        else:
            out += ch.encode()
            i += 1
    return out.decode("utf-8")


def parse_dn(text: str) -> x509.Name:
    """An X509IssuerName as written by Java (RFC 2253), OpenSSL or .NET: ``,``/``;`` separate RDNs, ``+`` joins
    multi-valued ones, spaces around separators, case-insensitive keys, dotted OIDs (``OID.`` allowed), ``#hex``."""
    rdns: list[list[x509.NameAttribute]] = [[]]
    pos, text = 0, text.strip()
    while pos < len(text):
        m = _DN_SPLIT.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"cannot read {text[pos:pos + 30]!r}")
        key, eq, value = m.group(1).partition("=")
        key = key.strip()
        if not eq or not key:
            raise ValueError(f"{m.group(1)!r} is not type=value")
        oid = _DN_KEYS.get(key.upper())
        if oid is None:
            dotted = key[4:] if key.upper().startswith("OID.") else key
            if not re.fullmatch(r"\d+(\.\d+)+", dotted):
                raise ValueError(f"unknown attribute type {key!r}")
            oid = x509.ObjectIdentifier(dotted)
        attr_value = _dn_value(value)
        if not attr_value:
            raise ValueError(f"{key}= has an empty value")
        rdns[-1].append(x509.NameAttribute(oid, attr_value))
        if m.group(2) in (",", ";"):
            rdns.append([])
        pos = m.end()
    if not rdns[-1]:
        raise ValueError("empty, or a trailing separator")
    return x509.Name([x509.RelativeDistinguishedName(r) for r in reversed(rdns)])
