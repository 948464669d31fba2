"""A minimal strict DER reader and writer: just what OCSP needs beyond ``cryptography``.

``cryptography`` parses OCSP requests with one certificate only, and its response builder stamps ``producedAt``
from the system clock and takes one certificate only; shlyuz's responder answers every certificate of a request
at the time it is given, so it reads requests with more than one certificate and writes responses with this.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import NamedTuple

SEQUENCE, OCTET_STRING, INTEGER, OID, NULL, ENUMERATED, BIT_STRING, BOOLEAN, GENERALIZED_TIME = (
    0x30, 0x04, 0x02, 0x06, 0x05, 0x0A, 0x03, 0x01, 0x18,
)  # fmt: skip


class Tlv(NamedTuple):
    tag: int
    value: bytes
    raw: bytes  # the whole encoding, tag and length included


def read(data: bytes, pos: int = 0) -> tuple[Tlv, int]:
    """One TLV at ``pos``; returns it and the position after it. Raises ValueError on anything but DER."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise ValueError("high tag numbers are not used here")
    first = data[pos + 1]
    i = pos + 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise ValueError("indefinite length is not DER")
    else:
        n = first & 0x7F
        if n > 4 or i + n > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[i : i + n], "big")
        if length < 0x80 or data[i] == 0:
            raise ValueError("non-minimal DER length")
        i += n
    end = i + length
    if end > len(data):
        raise ValueError("truncated DER")
    return Tlv(tag, data[i:end], data[pos:end]), end


def read_one(data: bytes, tag: int | None = None) -> Tlv:
    """Exactly one TLV spanning all of ``data`` (optionally of ``tag``)."""
    tlv, end = read(data)
    if end != len(data):
        raise ValueError("trailing bytes after DER value")
    if tag is not None and tlv.tag != tag:
        raise ValueError(f"expected DER tag 0x{tag:02x}, got 0x{tlv.tag:02x}")
    return tlv


def children(value: bytes) -> list[Tlv]:
    out, pos = [], 0
    while pos < len(value):
        tlv, pos = read(value, pos)
        out.append(tlv)
    return out


def decode_oid(value: bytes) -> str:
    if not value or value[-1] & 0x80:
        raise ValueError("bad OBJECT IDENTIFIER")
    arcs, n = [], 0
    for b in value:
        if n == 0 and b == 0x80:
            raise ValueError("non-minimal OBJECT IDENTIFIER arc")
        n = (n << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(n)
            n = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in (first, arcs[0] - 40 * first, *arcs[1:]))


def decode_int(value: bytes) -> int:
    if not value or (len(value) > 1 and ((value[0] == 0 and not value[1] & 0x80) or (value[0] == 0xFF and value[1] & 0x80))):
        raise ValueError("bad INTEGER")
    return int.from_bytes(value, "big", signed=True)


# --- writing --------------------------------------------------------------------------------------------------


def tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size))) + size + content


def seq(*parts: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(parts))


def explicit(number: int, inner: bytes) -> bytes:
    return tlv(0xA0 | number, inner)


def octets(b: bytes) -> bytes:
    return tlv(OCTET_STRING, b)


def integer(n: int) -> bytes:
    return tlv(INTEGER, n.to_bytes(n.bit_length() // 8 + 1, "big", signed=True))


def enumerated(n: int) -> bytes:
    return tlv(ENUMERATED, n.to_bytes(n.bit_length() // 8 + 1, "big", signed=True))


def null() -> bytes:
    return b"\x05\x00"


def bit_string(b: bytes) -> bytes:
    return tlv(BIT_STRING, b"\x00" + b)


def oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return tlv(OID, bytes(out))


def generalized_time(t: datetime) -> bytes:
    return tlv(GENERALIZED_TIME, t.astimezone(timezone.utc).strftime("%Y%m%d%H%M%SZ").encode("ascii"))
