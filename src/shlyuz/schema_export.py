"""Exporting a JSON Schema from a pydantic model to a committed file under ``schemas/``, and checking it.

Each published format has a small module (``shlyuz.services.schema``, ``shlyuz.conform.schema``) that names its
model, file and ``$id`` through a :class:`SchemaFile`; this module holds what they share: rendering, writing,
checking the committed file against the model, and the ``python -m … [--check] [--output FILE]`` command.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DRAFT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class SchemaFile:
    """``build`` returns the model's JSON Schema; ``path`` is where it is committed; ``module`` regenerates it."""

    schema_id: str
    path: Callable[[], Path]
    build: Callable[[], dict[str, Any]]
    module: str
    title: str | None = None

    def export(self) -> dict[str, Any]:
        head: dict[str, Any] = {"$schema": DRAFT, "$id": self.schema_id}
        if self.title:
            head["title"] = self.title
        return {**head, **self.build()}

    def render(self) -> str:
        return json.dumps(self.export(), indent=2, ensure_ascii=False) + "\n"

    def write(self, path: Path | None = None) -> Path:
        path = path or self.path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.render(), encoding="utf-8")
        return path

    def check(self, path: Path | None = None) -> bool:
        path = path or self.path()
        return path.is_file() and path.read_text(encoding="utf-8") == self.render()

    def main(self, argv: list[str] | None = None, *, description: str = "") -> int:
        parser = argparse.ArgumentParser(prog=f"python -m {self.module}", description=description)
        parser.add_argument("--check", action="store_true", help="exit 1 if the committed schema differs from the model")
        parser.add_argument("--output", type=Path, default=None, help=f"write here instead of {self.path()}")
        args = parser.parse_args(argv)
        target = args.output or self.path()
        if args.check:
            if self.check(target):
                print(f"{target}: up to date")
                return 0
            print(f"{target}: differs from the model; regenerate with: python -m {self.module}", file=sys.stderr)
            return 1
        print(self.write(target))
        return 0
