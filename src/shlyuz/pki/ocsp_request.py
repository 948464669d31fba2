"""OCSP request parsing and CertID matching (RFC 6960 §4.1.1), pure.

Split from :mod:`shlyuz.pki.revocation`, which re-exports :class:`CertId`, :class:`OcspRequestInfo`,
:func:`parse_ocsp_request` and :func:`issuer_hashes`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp
from cryptography.x509.oid import OCSPExtensionOID

from shlyuz.pki import _der as der

_HASH_OIDS = {"1.3.14.3.2.26": "sha1", "2.16.840.1.101.3.4.2.4": "sha224", "2.16.840.1.101.3.4.2.1": "sha256",
              "2.16.840.1.101.3.4.2.2": "sha384", "2.16.840.1.101.3.4.2.3": "sha512"}  # fmt: skip
_HASH_BY_NAME = {v: k for k, v in _HASH_OIDS.items()}
_NONCE = OCSPExtensionOID.NONCE.dotted_string


@dataclass(frozen=True)
class CertId:
    hash_oid: str
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial: int


@dataclass(frozen=True)
class OcspRequestInfo:
    cert_ids: tuple[CertId, ...]
    nonce_value: bytes | None = None  # the nonce extension's extnValue as sent (normally a DER OCTET STRING)


def _hash_name(algorithm: hashes.HashAlgorithm) -> str:
    return algorithm.name.replace("-", "")


def parse_ocsp_request(data: bytes) -> OcspRequestInfo:
    """The certificate IDs and the nonce of a DER OCSPRequest; ValueError if malformed.

    One-certificate requests (all real clients: NCANode, Java, OpenSSL with one ``-cert``) are parsed by
    ``cryptography``; requests with several certificates, which it refuses, by the small DER reader. The nonce is
    always taken as raw extnValue bytes from the DER reader, so that it is echoed byte for byte even when a client
    sends it without the OCTET STRING wrapping (``cryptography`` would normalise it, and the client's comparison
    of the echo would fail).
    """
    try:
        req = ocsp.load_der_ocsp_request(data)
    except NotImplementedError:  # "OCSP request contains more than one request"
        return _parse_request_der(data)
    try:
        hash_oid = _HASH_BY_NAME[_hash_name(req.hash_algorithm)]
    except (UnsupportedAlgorithm, KeyError) as exc:
        raise ValueError(f"unsupported CertID hash algorithm: {exc}") from None
    ids = (CertId(hash_oid, req.issuer_name_hash, req.issuer_key_hash, req.serial_number),)
    return OcspRequestInfo(ids, _parse_request_der(data).nonce_value)


def _parse_request_der(data: bytes) -> OcspRequestInfo:
    outer = der.children(der.read_one(data, der.SEQUENCE).value)
    if not outer or outer[0].tag != der.SEQUENCE or any(t.tag != 0xA0 for t in outer[1:]) or len(outer) > 2:
        raise ValueError("bad OCSPRequest")
    tbs = der.children(outer[0].value)
    while tbs and tbs[0].tag in (0xA0, 0xA1):  # version, requestorName
        tbs = tbs[1:]
    if not tbs or tbs[0].tag != der.SEQUENCE:
        raise ValueError("no requestList")
    ids = []
    for request in der.children(tbs[0].value):
        parts = der.children(der.read_one(request.raw, der.SEQUENCE).value)
        cid = der.children(parts[0].value)
        if len(cid) != 4 or [t.tag for t in cid] != [der.SEQUENCE, der.OCTET_STRING, der.OCTET_STRING, der.INTEGER]:
            raise ValueError("bad CertID")
        algorithm = der.children(cid[0].value)
        ids.append(CertId(der.decode_oid(algorithm[0].value), cid[1].value, cid[2].value, der.decode_int(cid[3].value)))
    if not ids:
        raise ValueError("empty requestList")
    nonce = None
    for ext_block in tbs[1:]:
        if ext_block.tag != 0xA2:
            raise ValueError("unexpected element in TBSRequest")
        for ext in der.children(der.read_one(ext_block.value, der.SEQUENCE).value):
            fields = der.children(ext.value)
            if der.decode_oid(fields[0].value) == _NONCE:
                nonce = fields[-1].value
    return OcspRequestInfo(tuple(ids), nonce)


def _name_and_key(cert: x509.Certificate) -> tuple[bytes, bytes]:
    """The issuer's subject DER and its subjectPublicKey bits, exactly as in the certificate."""
    tbs = der.children(der.read_one(cert.tbs_certificate_bytes, der.SEQUENCE).value)
    if tbs[0].tag == 0xA0:
        tbs = tbs[1:]
    subject, spki = tbs[4], tbs[5]  # serial, signature, issuer, validity, subject, subjectPublicKeyInfo
    return subject.raw, der.children(spki.value)[1].value[1:]


def issuer_hashes(issuer: x509.Certificate, hash_oid: str) -> tuple[bytes, bytes] | None:
    name = _HASH_OIDS.get(hash_oid)
    if name is None:
        return None
    subject, key = _name_and_key(issuer)
    return hashlib.new(name, subject).digest(), hashlib.new(name, key).digest()
