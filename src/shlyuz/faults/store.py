"""The rules of each session scope in the record store (kind ``fault``, one document per scope), so every worker
process sees the same rules and a session's reset deletes them with the rest of its records.

Firing a rule is a conditional write (the document's version), so ``times`` holds across processes: two requests
racing for the last firing cannot both get it.
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import ValidationError

from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.faults.model import (
    MAX_RULES,
    Decision,
    FaultRule,
    FaultRuleIn,
    Target,
    candidates,
    choose,
    decide,
)
from shlyuz.storage.records import RecordStore, VersionConflict

KIND, KEY = "fault", "rules"
ID_SEQUENCE = "fault-id"


def _parse(data: dict[str, Any] | None) -> list[FaultRule]:
    if not data:
        return []
    try:
        return [FaultRule.model_validate(r) for r in data.get("rules", [])]
    except ValidationError:  # a document written by an older format: ignore it rather than fail every request
        return []


def _dump(rules: list[FaultRule]) -> dict[str, Any]:
    return {"rules": [r.model_dump(mode="json", by_alias=True, exclude_none=True) for r in rules]}


async def load(records: RecordStore, scope: str) -> list[FaultRule]:
    rec = await records.get(KIND, KEY, scope=scope)
    return _parse(rec.data if rec is not None else None)


async def _assign(records: RecordStore, scope: str, rule: FaultRuleIn, taken: set[str]) -> FaultRule:
    rule_id = rule.id
    if rule_id is not None and rule_id in taken:
        raise ShlyuzError(ErrorCode.CONFLICT, f"a fault rule with id {rule_id!r} exists already in scope {scope!r}")
    while rule_id is None or rule_id in taken:
        rule_id = f"f{await records.next_number(ID_SEQUENCE, scope=scope)}"
    taken.add(rule_id)
    return FaultRule.model_validate({**rule.model_dump(by_alias=True, exclude_none=True), "id": rule_id, "hits": 0})


async def add(records: RecordStore, scope: str, rule: FaultRuleIn) -> FaultRule:
    for _ in range(64):
        rec = await records.get(KIND, KEY, scope=scope)
        rules = _parse(rec.data if rec is not None else None)
        if len(rules) >= MAX_RULES:
            raise ShlyuzError(ErrorCode.CONFLICT, f"scope {scope!r} has {MAX_RULES} fault rules already")
        new = await _assign(records, scope, rule, {r.id for r in rules})
        try:
            await records.put(KIND, KEY, _dump([*rules, new]), scope=scope, expect=rec.version if rec else 0)
            return new
        except VersionConflict:
            continue
    raise ShlyuzError(ErrorCode.CONFLICT, "the fault rules kept changing; try again")


async def replace(records: RecordStore, scope: str, rules_in: list[FaultRuleIn]) -> list[FaultRule]:
    taken: set[str] = set()
    given = [r.id for r in rules_in if r.id is not None]
    if len(given) != len(set(given)):
        raise ShlyuzError(ErrorCode.INVALID_PARAMETER, "two rules have the same id")
    taken.update(given)
    rules: list[FaultRule] = []
    for r in rules_in:
        if r.id is not None:
            taken.discard(r.id)
        rules.append(await _assign(records, scope, r, taken))
    await records.put(KIND, KEY, _dump(rules), scope=scope)
    return rules


async def remove(records: RecordStore, scope: str, rule_id: str) -> bool:
    for _ in range(64):
        rec = await records.get(KIND, KEY, scope=scope)
        rules = _parse(rec.data if rec is not None else None)
        kept = [r for r in rules if r.id != rule_id]
        if rec is None or len(kept) == len(rules):
            return False
        try:
            await records.put(KIND, KEY, _dump(kept), scope=scope, expect=rec.version)
            return True
        except VersionConflict:
            continue
    raise ShlyuzError(ErrorCode.CONFLICT, "the fault rules kept changing; try again")


async def find(records: RecordStore, scope: str, rule_id: str) -> FaultRule | None:
    return next((r for r in await load(records, scope) if r.id == rule_id), None)


async def clear(records: RecordStore, scope: str) -> int:
    rules = await load(records, scope)
    await records.delete(KIND, KEY, scope=scope)
    return len(rules)


async def fire(
    records: RecordStore, scope: str, target: Target, rng: random.Random, kinds: frozenset[str] | None = None
) -> Decision | None:
    """The rule that fires on this request, its ``hits`` counted — or None. One read when no rule matches.
    ``kinds``: only rules of these kinds can fire (the AsyncChannel's)."""
    for _ in range(64):
        rec = await records.get(KIND, KEY, scope=scope)
        if rec is None:
            return None
        rules = _parse(rec.data)
        if not candidates(rules, target, kinds):
            return None
        i = choose(rules, target, rng, kinds)
        if i is None:
            return None
        fired = rules[i].model_copy(update={"hits": rules[i].hits + 1})
        rules[i] = fired
        try:
            await records.put(KIND, KEY, _dump(rules), scope=scope, expect=rec.version)
        except VersionConflict:
            continue  # another request fired a rule meanwhile: decide again on what is there now
        return decide(fired, rng)
    return None
