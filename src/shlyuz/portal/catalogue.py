"""The portal's service catalogue, made from the service definitions (``fixtures/services/*.yaml``, see
docs/services.md): every service, whether the portal accepts it, and where the portal sends it — the system named
in the definition's portal chain (E-sobes or E-licensing) and that system's async serviceId. Sans-IO over the
loaded definitions; :func:`load_definitions` is the only file access.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import structlog

from shlyuz.portal.models import CatalogueEntry

log = structlog.get_logger("shlyuz.portal")

# the system a portal application goes to → the serviceId of its async REQUEST (docs/systems, issue 4's table)
TARGETS = {"esobes": "ESOBES_APPLICATION", "elicensing": "ELICENSING_PERMIT_APPLICATION"}


def _value(x: Any) -> str:
    return getattr(x, "value", x)


def entry_for(service: Any) -> CatalogueEntry:
    """One catalogue entry from a :class:`shlyuz.services.model.Service`."""
    channels = [_value(c.id) for c in service.channels]
    portal = next((c for c in service.channels if _value(c.id) == "portal"), None)
    named = {_value(s) for item in (portal.chain if portal else ()) for s in item.systems}
    named |= {_value(s) for s in service.systems_named}
    system = None
    if portal is not None:
        # a portal chain that names no system goes to E-sobes: it takes the social-protection applications
        system = "elicensing" if "elicensing" in named else "esobes"
    return CatalogueEntry(
        id=service.id,
        name_kk=service.names.kk,
        name_ru=service.names.ru,
        name_en=service.names.en,
        channels=channels,
        portal=portal is not None,
        system=system,
        service_id=TARGETS.get(system or ""),
        applicant="employer" if system == "elicensing" else "person",
    )


def build(services: Iterable[Any]) -> list[CatalogueEntry]:
    return sorted((entry_for(s) for s in services), key=lambda e: e.id)


def load_definitions(fixture_dirs: Iterable[Path]) -> list[Any]:
    """The service definitions of ``<fixture dir>/services/*.yaml`` (a later directory overrides an id), read with
    the services package's safe loader; a definition that does not load is logged and left out."""
    from shlyuz.services.loader import load_service

    found: dict[str, Any] = {}
    for directory in fixture_dirs:
        folder = Path(directory) / "services"
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.yaml")):
            try:
                service = load_service(path)
            except Exception as exc:  # noqa: BLE001 - a broken definition (any error) must not take the portal down
                log.warning("service_definition_skipped", path=str(path), error=str(exc)[:300])
                continue
            found[service.id] = service
    return list(found.values())
