"""The JSON Schema of a conformance scenario file, exported from the pydantic model (``shlyuz.conform.model``).

``python -m shlyuz.conform.schema`` writes ``schemas/conform/scenario.schema.json``; ``--check`` exits 1 when the
committed file differs from the model. A file holds one scenario, or a list of them under ``scenarios``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import TypeAdapter

from shlyuz.config import repo_path
from shlyuz.conform.model import Scenario, Suite

SCHEMA_ID = "urn:shlyuz:conform:scenario"


def schema_path() -> Path:
    return repo_path("schemas") / "conform" / "scenario.schema.json"


def export_schema() -> dict:
    schema = TypeAdapter(Suite | Scenario).json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "shlyuz conformance scenario file", **schema}  # fmt: skip


def render_schema() -> str:
    return json.dumps(export_schema(), indent=2, ensure_ascii=False) + "\n"


def write_schema(path: Path | None = None) -> Path:
    path = path or schema_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_schema(), encoding="utf-8")
    return path


def check_schema(path: Path | None = None) -> bool:
    path = path or schema_path()
    return path.is_file() and path.read_text(encoding="utf-8") == render_schema()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shlyuz.conform.schema", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed schema differs from the model")
    parser.add_argument("--output", type=Path, default=None, help="write here instead of schemas/conform/")
    args = parser.parse_args(argv)
    target = args.output or schema_path()
    if args.check:
        if check_schema(target):
            print(f"{target}: up to date")
            return 0
        print(f"{target}: differs from the model; regenerate with: python -m shlyuz.conform.schema", file=sys.stderr)
        return 1
    print(write_schema(target))
    return 0


if __name__ == "__main__":
    sys.exit(main())
