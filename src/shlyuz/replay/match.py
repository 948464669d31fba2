"""Which recorded exchange answers an incoming request (``shlyuz replay --serve``). Sans-IO.

1. **Exact**: the same endpoint, the same serviceId and the same request body after exclusive C14N with the volatile
   request fields masked, compared by namespace URI and local name (prefixes do not matter) (:data:`~shlyuz.replay.xmldiff.REQUEST_MASKS`: messageId, messageDate, sessionId,
   correlationId, the sender's password, signatures).
2. **Fallback**: the same serviceId and the same payload key fields: every leaf of the business payload by its
   path of local names, except fields named ``messageId``/``messageDate``/``sessionId`` and values that are
   date-times (they change between runs).
Several recorded exchanges with the same key answer in recorded order, the last one repeating.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from shlyuz.errors import ShlyuzError
from shlyuz.replay.format import Exchange
from shlyuz.replay.xmldiff import REQUEST_MASKS, diff, fingerprint, prepare
from shlyuz.shep import ns
from shlyuz.xml.safe import DEFAULT_LIMITS, XmlLimits, parse

VOLATILE_FIELDS = frozenset({"messageId", "messageDate", "sessionId", "requestDate", "responseDate"})
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
SEND_MESSAGE = ns.q(ns.SYNC_TYPES, "SendMessage")


def norm_endpoint(path: str) -> str:
    return "/" + path.strip("/") + "/" if path.strip("/") else "/"


@dataclass(frozen=True)
class RequestKey:
    endpoint: str
    service_id: str | None
    exact: str | None  # sha256 of the masked canonical body (None: not XML)
    fields: tuple[tuple[str, str], ...] | None  # payload key fields (None: no payload)
    canonical: etree._Element | None


def _service_id(root: etree._Element) -> str | None:
    text = root.findtext(f"{{{ns.SOAP11}}}Body/{SEND_MESSAGE}/request/requestInfo/serviceId")
    return text.strip() if text else None


def _payload(root: etree._Element, limits: XmlLimits) -> etree._Element | None:
    data = root.find(f"{{{ns.SOAP11}}}Body/{SEND_MESSAGE}/request/requestData/data")
    if data is None:
        return None
    kids = [c for c in data if isinstance(c.tag, str)]
    if not kids and (data.text or "").lstrip().startswith("<"):
        try:
            return parse(data.text.encode("utf-8"), limits)
        except ShlyuzError:
            return None
    return data


def key_fields(payload: etree._Element) -> tuple[tuple[str, str], ...]:
    out = []
    for el in payload.iter():
        if not isinstance(el.tag, str) or len(el) or el.tag == ns.q(ns.DS, "Signature"):
            continue
        if any(a.tag == ns.q(ns.DS, "Signature") for a in el.iterancestors()):
            continue
        name = etree.QName(el).localname
        value = (el.text or "").strip()
        if name in VOLATILE_FIELDS or _DATETIME.match(value):
            continue
        path = "/".join([etree.QName(a).localname for a in reversed(list(el.iterancestors())) if a is not payload
                         and payload in a.iterancestors()] + [name])  # fmt: skip
        out.append((path, value))
    return tuple(sorted(out))


def request_key(endpoint: str, body: bytes, limits: XmlLimits = DEFAULT_LIMITS) -> RequestKey:
    try:
        root = parse(body, limits)
        canonical = prepare(body, REQUEST_MASKS, limits=limits)
    except ShlyuzError:
        return RequestKey(norm_endpoint(endpoint), None, None, None, None)
    digest = hashlib.sha256(fingerprint(canonical).encode("utf-8")).hexdigest()
    payload = _payload(root, limits)
    fields = key_fields(payload) if payload is not None else None
    return RequestKey(norm_endpoint(endpoint), _service_id(root), digest, fields, canonical)


@dataclass(frozen=True)
class Candidate:
    exchange: Exchange
    differences: int
    first: str | None


@dataclass(frozen=True)
class Match:
    exchange: Exchange
    how: str  # "exact" | "fallback"


class Matcher:
    """The recording indexed for lookups; keeps which of several equal keys answered last (per instance)."""

    def __init__(self, exchanges: Sequence[Exchange], limits: XmlLimits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.keys: list[tuple[Exchange, RequestKey]] = []
        self.exact: dict[tuple, list[Exchange]] = defaultdict(list)
        self.fallback: dict[tuple, list[Exchange]] = defaultdict(list)
        self.served: dict[tuple, int] = defaultdict(int)
        for ex in exchanges:
            key = request_key(ex.endpoint, ex.request.raw(), limits)
            self.keys.append((ex, key))
            if key.exact is not None:
                self.exact[(key.endpoint, key.service_id, key.exact)].append(ex)
            if key.fields is not None:
                self.fallback[(key.service_id, key.fields)].append(ex)

    def _next(self, kind: str, key: tuple, found: list[Exchange]) -> Exchange:
        n = self.served[(kind, key)]
        self.served[(kind, key)] = n + 1
        return found[min(n, len(found) - 1)]

    def find(self, endpoint: str, body: bytes) -> tuple[Match | None, RequestKey]:
        key = request_key(endpoint, body, self.limits)
        if key.exact is not None:
            k = (key.endpoint, key.service_id, key.exact)
            if found := self.exact.get(k):
                return Match(self._next("exact", k, found), "exact"), key
        if key.fields is not None:
            k = (key.service_id, key.fields)
            if found := self.fallback.get(k):
                return Match(self._next("fallback", k, found), "fallback"), key
        return None, key

    def closest(self, key: RequestKey, n: int = 3) -> list[Candidate]:
        """The recorded requests nearest to ``key``: same serviceId first, then fewest differing nodes."""
        scored = []
        for ex, rk in self.keys:
            if key.canonical is not None and rk.canonical is not None:
                found, _ = diff(rk.canonical, key.canonical, limit=50)
                count, first = len(found), (str(found[0]) if found else None)
            else:
                count, first = 50, None
            penalty = (0 if rk.service_id == key.service_id else 1000) + (0 if rk.endpoint == key.endpoint else 100)
            scored.append((penalty + count, ex.seq, Candidate(ex, count, first)))
        scored.sort(key=lambda t: (t[0], t[1]))
        return [c for _, _, c in scored[:n]]
