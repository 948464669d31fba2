"""The JSON Schema of a service definition, exported from the pydantic model.

``python -m shlyuz.services.schema`` (or ``shlyuz services schema``) writes
``schemas/services/service-definition.schema.json``; ``--check`` exits 1 when the committed file differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from shlyuz.config import repo_path
from shlyuz.services.model import Service

SCHEMA_ID = "urn:shlyuz:services:service-definition"


def schema_path() -> Path:
    return repo_path("schemas") / "services" / "service-definition.schema.json"


def export_schema() -> dict:
    schema = Service.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def render_schema() -> str:
    return json.dumps(export_schema(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def write_schema(path: Path | None = None) -> Path:
    path = path or schema_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_schema(), encoding="utf-8")
    return path


def check_schema(path: Path | None = None) -> bool:
    path = path or schema_path()
    return path.is_file() and path.read_text(encoding="utf-8") == render_schema()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shlyuz.services.schema", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed schema differs from the model")
    parser.add_argument("--output", type=Path, default=None, help="write here instead of schemas/services/")
    args = parser.parse_args(argv)
    target = args.output or schema_path()
    if args.check:
        if check_schema(target):
            print(f"{target}: up to date")
            return 0
        print(f"{target}: differs from the model; regenerate with: python -m shlyuz.services.schema", file=sys.stderr)
        return 1
    print(write_schema(target))
    return 0


if __name__ == "__main__":
    sys.exit(main())
