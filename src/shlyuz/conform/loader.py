"""Loading scenario files: YAML (safe_load, size-capped), one scenario per file or a ``scenarios:`` list."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from shlyuz.conform.model import Scenario, Suite

MAX_FILE_BYTES = 1024 * 1024


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
