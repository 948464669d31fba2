"""The JSON Schema of a conformance scenario file, exported from the pydantic model (``shlyuz.conform.model``).

``python -m shlyuz.conform.schema`` writes ``schemas/conform/scenario.schema.json``; ``--check`` exits 1 when the
committed file differs from the model. A file holds one scenario, or a list of them under ``scenarios``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import TypeAdapter

from shlyuz.config import repo_path
from shlyuz.conform.model import Scenario, Suite
from shlyuz.schema_export import SchemaFile

SCHEMA_ID = "urn:shlyuz:conform:scenario"
FILE = SchemaFile(
    schema_id=SCHEMA_ID,
    path=lambda: repo_path("schemas") / "conform" / "scenario.schema.json",
    build=lambda: TypeAdapter(Suite | Scenario).json_schema(by_alias=True),
    module="shlyuz.conform.schema",
    title="shlyuz conformance scenario file",
)
schema_path, export_schema, render_schema = FILE.path, FILE.export, FILE.render


def write_schema(path: Path | None = None) -> Path:
    return FILE.write(path)


def check_schema(path: Path | None = None) -> bool:
    return FILE.check(path)


def main(argv: list[str] | None = None) -> int:
    return FILE.main(argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
