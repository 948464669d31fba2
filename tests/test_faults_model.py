"""Fault injection, sans-IO: the rule format's validation, matching, choosing with probabilities, and the latency
distributions sampled with a seeded ``random.Random``."""

from __future__ import annotations

import random
import statistics

import pytest
from pydantic import ValidationError

from shlyuz.faults.model import (
    KINDS,
    MAX_LATENCY_MS,
    Decision,
    FaultRule,
    FaultRuleIn,
    Fixed,
    Lognormal,
    MalformedFault,
    Percentiles,
    Point,
    RevocationFault,
    Target,
    TruncatedFault,
    Uniform,
    candidates,
    choose,
    decide,
    matches,
    wire_body,
)  # fmt: skip

T = Target(service_id="GBDFL_UniversalServiceSync", sender="shlyuz-demo", endpoint="/bip-sync/")


def rule(**kw) -> FaultRule:
    return FaultRule.model_validate({"id": "r", "fault": {"kind": "shep-fault"}, **kw})


def test_fixed_latency_is_always_its_value():
    rng = random.Random(1)
    assert {Fixed(ms=25).sample(rng) for _ in range(20)} == {25}


def test_uniform_latency_stays_within_bounds_and_is_reproducible_with_a_seed():
    d = Uniform(minMs=10, maxMs=20)
    a = [d.sample(random.Random(7)) for _ in range(3)]
    b = [d.sample(random.Random(7)) for _ in range(3)]
    assert a == b
    rng = random.Random(3)
    values = [d.sample(rng) for _ in range(1000)]
    assert all(10 <= v <= 20 for v in values)
    assert 14 < statistics.mean(values) < 16


def test_lognormal_latency_has_its_median_and_is_capped():
    rng = random.Random(42)
    d = Lognormal(medianMs=50, sigma=0.5)
    values = [d.sample(rng) for _ in range(4000)]
    assert 45 < statistics.median(values) < 55
    capped = Lognormal(medianMs=50, sigma=3, maxMs=80)
    assert max(capped.sample(rng) for _ in range(2000)) == 80
    assert Lognormal(medianMs=30, sigma=0).sample(rng) == pytest.approx(30)


def test_percentile_table_interpolates_between_points():
    d = Percentiles(points=[Point(p=50, ms=20), Point(p=90, ms=100), Point(p=99, ms=400)])
    assert d.at(0) == 20 and d.at(50) == 20
    assert d.at(70) == pytest.approx(60)
    assert d.at(94.5) == pytest.approx(250)
    assert d.at(100) == 400
    rng = random.Random(5)
    values = sorted(d.sample(rng) for _ in range(5000))
    assert values[2500] == pytest.approx(20, abs=2)  # the median is p50
    assert 85 < values[4500] < 115  # p90
    assert max(values) <= 400


def test_percentile_table_must_increase():
    with pytest.raises(ValidationError, match="increasing p"):
        Percentiles(points=[Point(p=90, ms=10), Point(p=50, ms=20)])
    with pytest.raises(ValidationError, match="increasing p"):
        Percentiles(points=[Point(p=50, ms=30), Point(p=90, ms=20)])


def test_latency_bounds_and_uniform_order_are_validated():
    with pytest.raises(ValidationError):
        Fixed(ms=MAX_LATENCY_MS + 1)
    with pytest.raises(ValidationError, match="greater than maxMs"):
        Uniform(minMs=30, maxMs=10)


def test_every_kind_parses_with_its_defaults():
    for kind in KINDS:
        extra = {"latency": {"type": "fixed", "ms": 1}} if kind == "latency" else {}
        r = FaultRuleIn.model_validate({"fault": {"kind": kind}, **extra})
        assert r.fault.kind == kind


def test_rule_validation_errors():
    with pytest.raises(ValidationError, match="needs the rule's latency"):
        FaultRuleIn.model_validate({"fault": {"kind": "latency"}})
    with pytest.raises(ValidationError):
        FaultRuleIn.model_validate({"fault": {"kind": "explode"}})
    with pytest.raises(ValidationError):
        FaultRuleIn.model_validate({"fault": {"kind": "timeout", "seconds": 10_000}})
    with pytest.raises(ValidationError):
        FaultRuleIn.model_validate({"fault": {"kind": "shep-fault"}, "probability": 1.5})
    with pytest.raises(ValidationError):
        FaultRuleIn.model_validate({"fault": {"kind": "shep-fault"}, "times": 0})
    with pytest.raises(ValidationError):
        FaultRuleIn.model_validate({"fault": {"kind": "shep-fault"}, "surprise": 1})


def test_matching_by_service_sender_and_endpoint():
    assert matches(rule(), T)
    assert matches(rule(match={"serviceId": "GBDFL_UniversalServiceSync"}), T)
    assert not matches(rule(match={"serviceId": "ENIS_GetPowerOfAttorney"}), T)
    assert matches(rule(match={"sender": "shlyuz-demo", "endpoint": "/bip-sync"}), T)  # the trailing slash is moot
    assert not matches(rule(match={"sender": "someone-else"}), T)
    assert not matches(rule(match={"endpoint": "/bip-sync-wss-gost/"}), T)


def test_an_expired_rule_is_no_candidate():
    rules = [rule(id="a", times=2, hits=2), rule(id="b", times=2, hits=1)]
    assert rules[0].expired and not rules[1].expired
    assert candidates(rules, T) == [1]


def test_the_first_matching_rule_fires():
    rules = [rule(id="other", match={"serviceId": "X"}), rule(id="a"), rule(id="b")]
    assert choose(rules, T, random.Random(0)) == 1


def test_probability_is_drawn_from_the_given_random():
    rules = [rule(id="half", probability=0.5)]
    fired = sum(choose(rules, T, random.Random(i)) == 0 for i in range(2000))
    assert 900 < fired < 1100
    assert choose([rule(probability=0)], T, random.Random(1)) is None
    # a rule that does not fire lets the next one try
    assert choose([rule(id="never", probability=0), rule(id="always")], T, random.Random(1)) == 1


def test_decide_draws_the_latency_and_the_verdict_says_so():
    r = rule(id="slow", latency={"type": "uniform", "minMs": 5, "maxMs": 6})
    d = decide(r, random.Random(9))
    assert 5 <= d.latency_ms <= 6
    assert d.verdict() == {"id": "slow", "kind": "shep-fault", "latencyMs": round(d.latency_ms, 3)}
    assert decide(rule(id="x"), random.Random(9)).verdict() == {"id": "x", "kind": "shep-fault"}


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"kind": "ocsp-unavailable"}, RevocationFault("unavailable", "ok")),
        ({"kind": "ocsp-try-later", "crl": "unavailable"}, RevocationFault("tryLater", "unavailable")),
        ({"kind": "ocsp-unknown", "crl": "stale"}, RevocationFault("unknown", "stale")),
        ({"kind": "crl-stale"}, RevocationFault("unavailable", "stale")),
        ({"kind": "reset"}, None),
    ],
)
def test_revocation_kinds_say_what_ocsp_and_the_crl_do(fault, expected):
    assert decide(rule(fault=fault), random.Random(0)).revocation == expected


def test_malformed_and_truncated_bodies():
    body = b"<?xml version='1.0'?><a><b>text</b></a>"
    assert wire_body(MalformedFault(), body) == b"<html><body>502 Bad Gateway</body>"
    cut = wire_body(TruncatedFault(fraction=0.5), body)
    assert cut == body[: len(body) // 2] and len(cut) < len(body)
    assert wire_body(TruncatedFault(fraction=0.01), body) == body[:1]  # never empty


def test_decision_kind():
    assert Decision("a", MalformedFault()).kind == "malformed"


def test_a_kinds_filter_leaves_other_rules_alone():
    """The AsyncChannel lets only its kinds fire: an SCSE001 rule first in the list does not shadow the next one."""
    from shlyuz.faults.model import ASYNC_KINDS

    rules = [rule(id="sync-only", fault={"kind": "status-error"}), rule(id="both", fault={"kind": "reset"})]
    assert candidates(rules, T, ASYNC_KINDS) == [1]
    assert choose(rules, T, random.Random(0), ASYNC_KINDS) == 1
    assert choose(rules, T, random.Random(0)) == 0
