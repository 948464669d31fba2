"""The JSON Schema of a service definition, exported from the pydantic model.

``python -m shlyuz.services.schema`` (or ``shlyuz services schema``) writes
``schemas/services/service-definition.schema.json``; ``--check`` exits 1 when the committed file differs.
"""

from __future__ import annotations

import sys
from pathlib import Path

from shlyuz.config import repo_path
from shlyuz.schema_export import SchemaFile
from shlyuz.services.model import Service

SCHEMA_ID = "urn:shlyuz:services:service-definition"
FILE = SchemaFile(
    schema_id=SCHEMA_ID,
    path=lambda: repo_path("schemas") / "services" / "service-definition.schema.json",
    build=Service.model_json_schema,
    module="shlyuz.services.schema",
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
