"""The gateway's service catalogue: the definitions of ``<fixture dir>/services/*.yaml`` over every fixture
directory, a later directory replacing a definition of the same id (so an integrator's ``--fixtures DIR`` can add or
override a regulation). A definition that does not load stops the start with its file, place and problem."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from shlyuz.services.loader import ServiceCatalogue, load_service
from shlyuz.services.model import Service


def load_catalogues(fixture_dirs: Iterable[Path]) -> ServiceCatalogue:
    by_id: dict[str, Service] = {}
    for directory in fixture_dirs:
        sub = Path(directory) / "services"
        if sub.is_dir():
            for path in sorted(sub.glob("*.yaml")):
                service = load_service(path)
                by_id[service.id] = service
    return ServiceCatalogue.from_services(by_id.values())
