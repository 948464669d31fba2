"""Loading scenario files: YAML (safe_load, capped in size and in what its aliases expand to), one scenario per file
or a ``scenarios:`` list."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from shlyuz.conform.model import Scenario, Suite

MAX_FILE_BYTES = 1024 * 1024
# Anchors and aliases are allowed (a payload written once, used twice), but the runner copies every value it
# substitutes ${vars} in: a file may not expand past this many values ("billion laughs", or an alias to itself).
# A file without aliases never does: 1 MiB holds at most ~500,000 values ("[1,1,…]").
MAX_VALUES = 1_000_000


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file, the place and the problem."""


@dataclass(frozen=True)
class Loaded:
    scenario: Scenario
    file: Path

    @property
    def id(self) -> str:
        return f"{self.file.stem}::{self.scenario.name}"


def _where(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def _expanded_size(data: object) -> int:
    """How many values ``data`` holds with every alias expanded, counting no further than MAX_VALUES + 1."""
    count, stack = 0, [data]
    while stack and count <= MAX_VALUES:
        value = stack.pop()
        count += 1
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return count


def load_file(path: Path) -> list[Loaded]:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ScenarioError(f"{path}: {size} bytes exceeds the cap of {MAX_FILE_BYTES}")
    try:
        data = yaml.safe_load(path.read_bytes())
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    except RecursionError:
        raise ScenarioError(f"{path}: nested too deeply") from None
    except (ValueError, KeyError, TypeError, OverflowError, AttributeError) as exc:  # a constructor's own: 2026-13-45
        problem = f"a value cannot be read ({type(exc).__name__}: {exc})"[:300]
        raise ScenarioError(f"{path}: not valid YAML: {problem}") from None
    if _expanded_size(data) > MAX_VALUES:
        raise ScenarioError(f"{path}: its aliases expand to more than {MAX_VALUES:,} values (or refer to themselves)")
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a mapping (one scenario, or 'scenarios:' with a list)")
    try:
        scenarios = Suite.model_validate(data).scenarios if "scenarios" in data else [Scenario.model_validate(data)]
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ScenarioError(f"{path}: {_where(first['loc'])}: {first['msg']}{more}") from None
    names = [s.name for s in scenarios]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ScenarioError(f"{path}: scenario name(s) used twice: {', '.join(dup)}")
    return [Loaded(s, path) for s in scenarios]


def discover(paths: Iterable[Path]) -> list[Loaded]:
    out: list[Loaded] = []
    for p in paths:
        files = sorted(p.rglob("*.yaml")) + sorted(p.rglob("*.yml")) if p.is_dir() else [p]
        if not files:
            raise ScenarioError(f"{p}: no scenario files (*.yaml)")
        for f in files:
            if not f.exists():
                raise ScenarioError(f"{f}: no such file")
            out.extend(load_file(f))
    ids = [x.id for x in out]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ScenarioError(f"scenario id(s) used twice: {', '.join(dup)}")
    return out


def select(loaded: list[Loaded], pattern: str | None) -> list[Loaded]:
    """``-k``: a tag (exactly), or a substring or glob of ``file::name``; ``not X`` excludes."""
    if not pattern:
        return loaded
    negate = pattern.startswith("not ")
    pat = pattern[4:].strip() if negate else pattern

    def hit(x: Loaded) -> bool:
        if pat in x.scenario.tags:  # a tag matches exactly
            return True
        return pat in x.id or fnmatch.fnmatch(x.id, pat)

    return [x for x in loaded if hit(x) != negate]
