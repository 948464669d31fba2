"""The automatic provider: configurable rules that decide an inbox item when it arrives (sans-IO).

Rules come from the ``provider`` settings block (:class:`shlyuz.config.ProviderSettings`); the first rule whose every
given condition holds decides — ``approve``, ``refuse`` with a ground code and text, or ``manual`` (the item waits in
the inbox for a decision by hand). No rule matching: ``provider.default``. docs/systems/rshep.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from shlyuz.config import ProviderRule, ProviderSettings
from shlyuz.fixtures.store import FixtureSet

Action = Literal["approve", "refuse", "manual"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the provider decided (by rule or by hand)."""

    action: Action
    rule: str = ""  # the rule's name ("default" when none matched; "" when decided by hand)
    reason_code: str | None = None
    reason: str | None = None


def applicant_tags(item: dict[str, Any], fixtures: FixtureSet) -> set[str]:
    """Tags of the applicant in the fixtures: the person's (IIN) or the organisation's (BIN)."""
    if item.get("applicantIin") and (person := fixtures.persons.get(item["applicantIin"])) is not None:
        return set(person.tags)
    if item.get("applicantBin") and (org := fixtures.organisations.get(item["applicantBin"])) is not None:
        return set(org.tags)
    return set()


def matches(rule: ProviderRule, item: dict[str, Any], tags: set[str]) -> bool:
    if rule.system is not None and rule.system != item.get("system"):
        return False
    if rule.service is not None and rule.service != item.get("service"):
        return False
    if rule.applicant is not None and rule.applicant not in (item.get("applicantIin"), item.get("applicantBin")):
        return False
    if rule.person_tag is not None and rule.person_tag not in tags:
        return False
    if rule.sub_flow is not None and rule.sub_flow != item.get("subFlow"):
        return False
    fields = item.get("fields") or {}
    return all(fields.get(name) == value for name, value in rule.fields.items())


def decide(settings: ProviderSettings, item: dict[str, Any], fixtures: FixtureSet) -> Verdict:
    """The automatic provider's verdict on a new inbox item."""
    tags = applicant_tags(item, fixtures)
    for index, rule in enumerate(settings.rules):
        if matches(rule, item, tags):
            return _verdict(rule.action, rule.name or f"rule {index + 1}", rule.reason_code, rule.reason, settings)
    return _verdict(settings.default, "default", None, None, settings)


def _verdict(action: Action, name: str, code: str | None, text: str | None, settings: ProviderSettings) -> Verdict:
    if action != "refuse":
        return Verdict(action, name)
    return Verdict(action, name, code or settings.default_reason_code, text or settings.default_reason)
