"""Application factory: builds the per-process state (no module-level mutable state) and the routes."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from aiohttp import web

from shlyuz import __version__
from shlyuz.clock import Clock
from shlyuz.config import Settings
from shlyuz.fixtures.models import Sender
from shlyuz.fixtures.store import FixtureSet, load_dirs
from shlyuz.gateway import admin, http
from shlyuz.gateway.pipeline import SyncPipeline
from shlyuz.gateway.wsdl import SchemaDocs
from shlyuz.storage.base import Storage
from shlyuz.storage.sqlite import SqliteStorage
from shlyuz.systems.base import ServiceRegistry
from shlyuz.systems.enis import EnisSystem
from shlyuz.systems.gbdfl import GbdflSystem

log = structlog.get_logger("shlyuz.app")


def default_registry() -> ServiceRegistry:
    """The built-in mocks. A new system is one more ``register`` here."""
    registry = ServiceRegistry()
    registry.register(GbdflSystem())
    registry.register(EnisSystem())
    return registry


@dataclass
class Gateway:
    """Everything one gateway process holds; stored on the aiohttp app under :data:`GATEWAY`."""

    settings: Settings
    fixtures: FixtureSet
    senders: dict[str, Sender]
    registry: ServiceRegistry
    storage: Storage
    clock: Clock
    sync: SyncPipeline
    schemas: SchemaDocs


GATEWAY = web.AppKey("gateway", Gateway)


def build_gateway(
    settings: Settings,
    *,
    storage: Storage | None = None,
    clock: Clock | None = None,
    registry: ServiceRegistry | None = None,
    fixtures: FixtureSet | None = None,
) -> Gateway:
    fixtures = fixtures if fixtures is not None else load_dirs(settings.fixture_dirs)
    senders = {**fixtures.senders, **{s.sender_id: s for s in settings.senders}}
    clock = clock or Clock(settings.tz)
    registry = registry or default_registry()
    storage = storage or SqliteStorage(settings.database_path)
    sync = SyncPipeline(
        registry=registry,
        fixtures=fixtures,
        senders=senders,
        clock=clock,
        limits=settings.limits.xml(),
        journal_bodies=settings.journal_bodies,
    )
    return Gateway(
        settings=settings,
        fixtures=fixtures,
        senders=senders,
        registry=registry,
        storage=storage,
        clock=clock,
        sync=sync,
        schemas=SchemaDocs(settings.schemas_dir),
    )


def create_app(gateway: Gateway) -> web.Application:
    app = web.Application(
        client_max_size=gateway.settings.limits.max_body_bytes + 1,
        middlewares=[http.context_middleware, http.json_error_middleware],
    )
    app[GATEWAY] = gateway

    async def on_startup(app: web.Application) -> None:
        await gateway.storage.open()
        log.info(
            "gateway_started",
            version=__version__,
            services=[sid for sid, _ in gateway.registry],
            persons=len(gateway.fixtures.persons),
            senders=len(gateway.senders),
        )

    async def on_cleanup(app: web.Application) -> None:
        await gateway.storage.close()
        log.info("gateway_stopped")

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    http.add_routes(app)
    admin.add_routes(app)
    return app
