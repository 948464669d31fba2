"""The fault rules as data, and the pure decisions over them: does a rule match a request, which rule fires, how long
the latency is. Randomness is a ``random.Random`` passed in (seed it in tests); nothing here sleeps or does I/O.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_LATENCY_MS = 60_000.0  # one minute: a sampled latency never exceeds this
MAX_TIMEOUT_SECONDS = 300.0  # a "timeout" fault holds a request at most five minutes
MAX_RULES = 200  # per scope


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --- latency distributions --------------------------------------------------------------------------------------


class Fixed(_Model):
    """Always ``ms`` milliseconds."""

    type: Literal["fixed"] = "fixed"
    ms: float = Field(ge=0, le=MAX_LATENCY_MS)

    def sample(self, rng: random.Random) -> float:
        return self.ms


class Uniform(_Model):
    """Uniformly between ``minMs`` and ``maxMs``."""

    type: Literal["uniform"] = "uniform"
    min_ms: float = Field(alias="minMs", ge=0, le=MAX_LATENCY_MS)
    max_ms: float = Field(alias="maxMs", ge=0, le=MAX_LATENCY_MS)

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.min_ms > self.max_ms:
            raise ValueError(f"minMs ({self.min_ms}) is greater than maxMs ({self.max_ms})")
        return self

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.min_ms, self.max_ms)


class Lognormal(_Model):
    """Log-normal with median ``medianMs`` and shape ``sigma`` (the standard deviation of the log), capped at
    ``maxMs``: most answers near the median, a long tail of slow ones."""

    type: Literal["lognormal"] = "lognormal"
    median_ms: float = Field(alias="medianMs", gt=0, le=MAX_LATENCY_MS)
    sigma: float = Field(0.5, ge=0, le=5)
    max_ms: float = Field(MAX_LATENCY_MS, alias="maxMs", gt=0, le=MAX_LATENCY_MS)

    def sample(self, rng: random.Random) -> float:
        return min(rng.lognormvariate(math.log(self.median_ms), self.sigma), self.max_ms)


class Point(_Model):
    p: float = Field(ge=0, le=100, description="percentile, 0-100")
    ms: float = Field(ge=0, le=MAX_LATENCY_MS)


class Percentiles(_Model):
    """A percentile table, e.g. p50 = 20 ms, p90 = 80 ms, p99 = 400 ms: a uniform draw of the percentile, then
    linear interpolation between the points (flat below the first point and above the last)."""

    type: Literal["percentiles"] = "percentiles"
    points: list[Point] = Field(min_length=1, max_length=50)

    @field_validator("points")
    @classmethod
    def _increasing(cls, points: list[Point]) -> list[Point]:
        for a, b in pairwise(points):
            if not (b.p > a.p and b.ms >= a.ms):
                raise ValueError("points must have increasing p and non-decreasing ms")
        return points

    def sample(self, rng: random.Random) -> float:
        return self.at(rng.uniform(0.0, 100.0))

    def at(self, p: float) -> float:
        pts = self.points
        if p <= pts[0].p:
            return pts[0].ms
        for a, b in pairwise(pts):
            if p <= b.p:
                return a.ms + (b.ms - a.ms) * (p - a.p) / (b.p - a.p)
        return pts[-1].ms


Distribution = Annotated[Fixed | Uniform | Lognormal | Percentiles, Field(discriminator="type")]


# --- fault kinds -------------------------------------------------------------------------------------------------

CrlMode = Literal["ok", "stale", "unavailable"]
_CRL_FIELD = Field("ok", description="what the CRL fallback finds: ok (a fresh CRL), stale (nextUpdate in the past), unavailable")


class LatencyFault(_Model):
    """Only the rule's ``latency`` (required for this kind); the request then goes on normally."""

    kind: Literal["latency"] = "latency"


class ShepFault(_Model):
    """A SOAP fault (HTTP 500) with this errorCode and message, instead of calling the system."""

    kind: Literal["shep-fault"] = "shep-fault"
    code: str = Field("PROVIDER_ERROR", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
                      description="ErrorInfo/errorCode: one of shlyuz's codes (docs/errors.md) or any other")  # fmt: skip
    message: str = Field("fault injected", min_length=1, max_length=2000)
    faultcode: Literal["Client", "Server"] | None = Field(
        None, description="SOAP faultcode; default: the code's own (docs/errors.md), Server for other codes"
    )


class StatusError(_Model):
    """A well-formed SyncChannel reply with status SCSE001 and this message, instead of calling the system."""

    kind: Literal["status-error"] = "status-error"
    message: str = Field("Failed to process message", min_length=1, max_length=2000)


class TimeoutFault(_Model):
    """Hold the request ``seconds`` (the exchange runs and is journaled), then close the connection unanswered."""

    kind: Literal["timeout"] = "timeout"
    seconds: float = Field(30.0, gt=0, le=MAX_TIMEOUT_SECONDS)


class ResetFault(_Model):
    """Abort the connection (TCP RST) instead of answering; the exchange runs and is journaled."""

    kind: Literal["reset"] = "reset"


class MalformedFault(_Model):
    """Answer ``body`` (not XML) with the status the exchange had, Content-Type text/xml."""

    kind: Literal["malformed"] = "malformed"
    body: str = Field("<html><body>502 Bad Gateway</body>", max_length=100_000)


class TruncatedFault(_Model):
    """Answer only the first ``fraction`` of the reply's bytes (the XML cut in the middle)."""

    kind: Literal["truncated"] = "truncated"
    fraction: float = Field(0.5, gt=0, lt=1)


class OcspUnavailable(_Model):
    """The OCSP responder cannot be reached; the gateway falls back to the CRL (``crl``)."""

    kind: Literal["ocsp-unavailable"] = "ocsp-unavailable"
    crl: CrlMode = _CRL_FIELD


class OcspTryLater(_Model):
    """The OCSP responder answers ``tryLater`` (RFC 6960); the gateway falls back to the CRL (``crl``)."""

    kind: Literal["ocsp-try-later"] = "ocsp-try-later"
    crl: CrlMode = _CRL_FIELD


class OcspUnknown(_Model):
    """The OCSP responder answers, signed, that the certificate's status is ``unknown``; the gateway falls back to
    the CRL (``crl``)."""

    kind: Literal["ocsp-unknown"] = "ocsp-unknown"
    crl: CrlMode = _CRL_FIELD


class CrlStale(_Model):
    """OCSP unreachable and the CRL stale (its nextUpdate in the past): the status cannot be known."""

    kind: Literal["crl-stale"] = "crl-stale"


Fault = Annotated[
    LatencyFault | ShepFault | StatusError | TimeoutFault | ResetFault | MalformedFault | TruncatedFault
    | OcspUnavailable | OcspTryLater | OcspUnknown | CrlStale,
    Field(discriminator="kind"),
]
KINDS = ("latency", "shep-fault", "status-error", "timeout", "reset", "malformed", "truncated",
         "ocsp-unavailable", "ocsp-try-later", "ocsp-unknown", "crl-stale")  # fmt: skip
TRANSPORT_KINDS = frozenset({"timeout", "reset", "malformed", "truncated"})
REVOCATION_KINDS = frozenset({"ocsp-unavailable", "ocsp-try-later", "ocsp-unknown", "crl-stale"})
# what a rule can do to the AsyncChannel's sendMessage (no SCSE001 there; its signatures are not faulted)
ASYNC_KINDS = frozenset({"latency", "shep-fault", *TRANSPORT_KINDS})


# --- rules -------------------------------------------------------------------------------------------------------


class Match(_Model):
    """Which requests a rule applies to; an absent field matches anything."""

    service_id: str | None = Field(None, alias="serviceId", min_length=1, max_length=200)
    sender: str | None = Field(None, min_length=1, max_length=200)
    endpoint: str | None = Field(None, pattern=r"^/", max_length=200,
                                 description="a SHEP endpoint path, e.g. /bip-sync/ (a trailing slash does not matter)")  # fmt: skip


class FaultRuleIn(_Model):
    """A rule as a client gives it (``id`` and ``hits`` are the server's; an ``id`` given is kept if unused)."""

    id: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    description: str | None = Field(None, max_length=500)
    match: Match = Field(default_factory=Match)
    fault: Fault
    latency: Distribution | None = Field(None, description="a delay before the fault (any kind; required for latency)")
    times: int | None = Field(None, ge=1, le=1_000_000, description="fire this many times, then expire")
    probability: float | None = Field(None, ge=0, le=1, description="chance of firing on a matching request (default 1)")
    hits: int = Field(0, ge=0, description="ignored on input: how many times the rule fired")

    @model_validator(mode="after")
    def _latency_kind_has_latency(self) -> FaultRuleIn:
        if self.fault.kind == "latency" and self.latency is None:
            raise ValueError("a fault of kind latency needs the rule's latency (a distribution)")
        return self


class FaultRule(FaultRuleIn):
    """A stored rule: it has its ``id``."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # type: ignore[assignment]

    @property
    def expired(self) -> bool:
        return self.times is not None and self.hits >= self.times


class RuleSet(_Model):
    rules: list[FaultRuleIn] = Field(max_length=MAX_RULES)


class RulesOut(BaseModel):
    scope: str
    rules: list[FaultRule]


@dataclass(frozen=True, slots=True)
class Target:
    """What a rule is matched against."""

    service_id: str | None
    sender: str | None
    endpoint: str


def _path(p: str) -> str:
    return p.rstrip("/") or "/"


def matches(rule: FaultRule, target: Target) -> bool:
    m = rule.match
    return (
        (m.service_id is None or m.service_id == target.service_id)
        and (m.sender is None or m.sender == target.sender)
        and (m.endpoint is None or _path(m.endpoint) == _path(target.endpoint))
    )


def candidates(rules: list[FaultRule], target: Target, kinds: frozenset[str] | None = None) -> list[int]:
    """Indexes of the rules that could fire on ``target`` (matching, not expired, of one of ``kinds`` if given)."""
    return [i for i, r in enumerate(rules)
            if not r.expired and matches(r, target) and (kinds is None or r.fault.kind in kinds)]  # fmt: skip


def choose(rules: list[FaultRule], target: Target, rng: random.Random, kinds: frozenset[str] | None = None) -> int | None:
    """The index of the rule that fires: the first candidate, in order, whose probability draw succeeds."""
    for i in candidates(rules, target, kinds):
        p = rules[i].probability
        if p is None or p >= 1 or rng.random() < p:
            return i
    return None


@dataclass(frozen=True, slots=True)
class RevocationFault:
    """What the revocation check meets: OCSP ``unavailable`` / ``tryLater`` / ``unknown``, and the CRL fallback."""

    ocsp: Literal["unavailable", "tryLater", "unknown"]
    crl: CrlMode = "ok"


@dataclass(frozen=True, slots=True)
class Decision:
    """A rule that fired on one request, with its latency drawn."""

    rule_id: str
    fault: LatencyFault | ShepFault | StatusError | TimeoutFault | ResetFault | MalformedFault | TruncatedFault | OcspUnavailable | OcspTryLater | OcspUnknown | CrlStale
    latency_ms: float | None = None

    @property
    def kind(self) -> str:
        return self.fault.kind

    @property
    def revocation(self) -> RevocationFault | None:
        f = self.fault
        if isinstance(f, OcspUnavailable):
            return RevocationFault("unavailable", f.crl)
        if isinstance(f, OcspTryLater):
            return RevocationFault("tryLater", f.crl)
        if isinstance(f, OcspUnknown):
            return RevocationFault("unknown", f.crl)
        if isinstance(f, CrlStale):
            return RevocationFault("unavailable", "stale")
        return None

    def verdict(self) -> dict[str, object]:
        out: dict[str, object] = {"id": self.rule_id, "kind": self.kind}
        if self.latency_ms is not None:
            out["latencyMs"] = round(self.latency_ms, 3)
        return out


def decide(rule: FaultRule, rng: random.Random) -> Decision:
    latency = rule.latency.sample(rng) if rule.latency is not None else None
    return Decision(rule.id, rule.fault, latency)


def wire_body(fault: MalformedFault | TruncatedFault, body: bytes) -> bytes:
    """The bytes a malformed or truncated fault sends instead of ``body``."""
    if isinstance(fault, MalformedFault):
        return fault.body.encode("utf-8")
    return body[: max(1, int(len(body) * fault.fraction))] if body else b""
