"""Application factory: builds the per-process state (no module-level mutable state) and the routes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from aiohttp import web

from shlyuz import __version__
from shlyuz.clock import Clock
from shlyuz.config import Settings
from shlyuz.fixtures.models import Sender
from shlyuz.fixtures.store import FixtureSet, load_dirs
from shlyuz.gateway import admin, http, pki_routes
from shlyuz.gateway.pipeline import SyncPipeline
from shlyuz.gateway.revocation import RevocationChecker
from shlyuz.dsig.signer import Signer, signer_for
from shlyuz.gateway.signature import SignatureVerifier, TrustStore
from shlyuz.pki.store import Pki, PkiUrls
from shlyuz.gateway.wsdl import SchemaDocs
from shlyuz.storage.base import Storage
from shlyuz.storage.records import RecordStore, SqliteRecords
from shlyuz.storage.sqlite import SqliteStorage
from shlyuz.systems.base import ServiceRegistry
from shlyuz.systems.elicensing import PermitRegistrySystem
from shlyuz.systems.enis import EnisSystem
from shlyuz.systems.esobes import EsobesStatusSystem
from shlyuz.systems.external import UpstreamHttp, plug_external_systems
from shlyuz.systems.gbdfl import GbdflSystem
from shlyuz.asyncch import http as async_http  # SHEP AsyncChannel v10 (/bip-async/)
from shlyuz.asyncch.service import AsyncService, build_async
from shlyuz.systems.participants import AsyncParticipant, Outbox
from shlyuz.chains.driver import ChainDriver
from shlyuz.gateway import sessions  # X-Shlyuz-Scope: isolated sessions (docs/sessions.md)
from shlyuz.gateway import wiring  # inside participants and JSON APIs
from shlyuz.services.catalogues import load_catalogues
from shlyuz.services.loader import ServiceCatalogue

log = structlog.get_logger("shlyuz.app")


def default_registry() -> ServiceRegistry:
    """The built-in mocks. A new system is one more ``register`` here."""
    registry = ServiceRegistry()
    registry.register(GbdflSystem())
    registry.register(EnisSystem())
    registry.register(EsobesStatusSystem())  # ESOBES_APPLICATION_STATUS (the record store comes in HandlerContext)
    registry.register(PermitRegistrySystem())  # ELICENSING_PERMIT_REGISTRY (the record store comes in HandlerContext)
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
    records: RecordStore
    pki: Pki | None = None
    revocation: RevocationChecker | None = None
    upstream: UpstreamHttp | None = None  # the HTTP client of the external systems (systems.external), if any
    # -- async channel (src/shlyuz/asyncch, docs/async.md) --
    participants: tuple[AsyncParticipant, ...] = ()  # inside participants (E-sobes, E-licensing, workstations, portal)
    outbox: Outbox | None = None  # how inside participants send (ChannelOutbox)
    async_channel: AsyncService | None = None  # store, routing, delivery loop, /bip-async/ endpoint
    # -- the 15 regulations (fixtures/services) and their chain runs (src/shlyuz/chains) --
    services: ServiceCatalogue | None = None
    chains: ChainDriver | None = None


GATEWAY = web.AppKey("gateway", Gateway)
STOP_TIMEOUT_S = 15.0  # per part of the gateway at shutdown


def build_gateway(
    settings: Settings,
    *,
    storage: Storage | None = None,
    clock: Clock | None = None,
    registry: ServiceRegistry | None = None,
    fixtures: FixtureSet | None = None,
    pki: Pki | None = None,
    records: RecordStore | None = None,
    participants: Sequence[AsyncParticipant] | None = None,
) -> Gateway:
    fixtures = fixtures if fixtures is not None else load_dirs(settings.fixture_dirs)
    senders = {**fixtures.senders, **{s.sender_id: s for s in settings.senders}}
    clock = clock or Clock(settings.tz)
    registry = registry or default_registry()
    journal = settings.journal
    storage = storage or SqliteStorage(
        settings.database_path, retention=journal.retention(), now=clock.now,
        sweep_interval=journal.sweep_interval, sweep_batch=journal.sweep_batch,
    )  # fmt: skip
    verifier = revocation = response_signer = None
    data_signers: dict[str, Signer] = {}
    if settings.pki.enabled:
        pki = pki or open_pki(settings, clock, fixtures)
        revocation = RevocationChecker(
            now=clock.now, pki=pki, ttl=settings.pki.revocation_cache_ttl, timeout=settings.pki.revocation_timeout
        )
        verifier = SignatureVerifier(
            trust=TrustStore.build(pki, settings.pki.trust_ca),
            revocation=revocation,
            now=clock.now,
            policies=settings.services,
            allow_sha1=settings.pki.allow_sha1,
            require_eku=settings.pki.require_eku,
            wsse_purposes={"any": ("sign", "auth"), "sign": ("sign",), "auth": ("auth",)}[settings.pki.wsse_purpose],
        )
        response_signer = _signer(pki, "gateway")
        if settings.systems_sign_data:
            for _, system in registry:
                name = getattr(system, "signing_identity", None)
                if name and name not in data_signers and (signer := _signer(pki, name)) is not None:
                    data_signers[name] = signer
    upstream = None
    if settings.systems.external:  # a serviceId served by an integrator's own implementation replaces the mock
        upstream = UpstreamHttp()
        plug_external_systems(
            registry, settings.systems.external, http=upstream, limits=settings.limits.xml(), verifier=verifier,
            request_signer=response_signer, journal=storage.append_exchange, journal_bodies=settings.journal_bodies,
        )  # fmt: skip
    records = records if records is not None else SqliteRecords(settings.database_path, now=clock.now)
    sync = SyncPipeline(
        records=records,
        registry=registry,
        fixtures=fixtures,
        senders=senders,
        clock=clock,
        limits=settings.limits.xml(),
        journal_bodies=settings.journal_bodies,
        verifier=verifier,
        response_signer=response_signer,
        data_signers=data_signers,
        sign_responses=settings.sign_responses,
    )
    gateway = Gateway(
        settings=settings,
        fixtures=fixtures,
        senders=senders,
        registry=registry,
        storage=storage,
        clock=clock,
        sync=sync,
        schemas=SchemaDocs(settings.schemas_dir),
        records=records,
        pki=pki if settings.pki.enabled else None,
        revocation=revocation,
        upstream=upstream,
    )
    # -- async channel: participants, outbox, delivery (src/shlyuz/asyncch) --
    if participants is None:
        participants = wiring.default_participants(settings, verifier)
    gateway.participants = tuple(participants)
    gateway.async_channel = build_async(
        settings, participants=gateway.participants, senders=senders, clock=clock, journal=storage,
        records=gateway.records, fixtures=fixtures, verifier=verifier, signer=response_signer, pki=gateway.pki,
    )  # fmt: skip
    gateway.outbox = gateway.async_channel.outbox
    gateway.services = load_catalogues(settings.fixture_dirs)
    gateway.chains = ChainDriver(gateway, {s.id: s for s in gateway.services})
    return gateway


def pki_base_url(settings: Settings) -> str:
    return settings.pki.public_base_url or f"http://{settings.host}:{settings.port or 8080}"


def open_pki(settings: Settings, clock: Clock, fixtures: FixtureSet) -> Pki:
    """The test PKI in DATA_DIR/pki: created with every fixture identity on first start, reopened in ~0.1 s later."""
    started = time.perf_counter()
    pki = Pki.open(settings.data_dir / "pki", now=clock.now(), urls=PkiUrls(pki_base_url(settings)))
    if settings.pki.issue_fixture_identities:
        pki.ensure_fixture_identities(fixtures, now=clock.now())
    log.info("pki_ready", directory=str(pki.directory), ms=round((time.perf_counter() - started) * 1000, 1))
    return pki


def _signer(pki: Pki, name: str) -> Signer | None:
    if name not in pki:
        log.warning("signing_identity_missing", identity=name)
        return None
    return signer_for(pki, name)


def create_app(gateway: Gateway) -> web.Application:
    app = web.Application(
        client_max_size=gateway.settings.limits.max_body_bytes + 1,
        middlewares=[http.context_middleware, http.json_error_middleware, sessions.session_middleware],
    )
    app[GATEWAY] = gateway

    async def on_startup(app: web.Application) -> None:
        await gateway.storage.open()
        await gateway.records.open()
        if gateway.async_channel is not None:  # async channel: message store + delivery loop
            await gateway.async_channel.start()
        if gateway.upstream is not None:
            await gateway.upstream.open()
        log.info(
            "gateway_started",
            version=__version__,
            services=[sid for sid, _ in gateway.registry],
            persons=len(gateway.fixtures.persons),
            senders=len(gateway.senders),
        )

    async def on_cleanup(app: web.Application) -> None:
        # each part gets a bounded time to stop, so that one stuck part cannot hold the whole shutdown forever;
        # a part that overruns is named in the log (the journal, last, still commits what it accepted)
        parts = [
            ("chains", gateway.chains.close() if gateway.chains is not None else None),
            ("revocation", gateway.revocation.close() if gateway.revocation is not None else None),
            ("upstream", gateway.upstream.close() if gateway.upstream is not None else None),
            ("async_channel", gateway.async_channel.stop() if gateway.async_channel is not None else None),
            ("records", gateway.records.close()),
            ("journal", gateway.storage.close()),
        ]
        for name, closing in parts:
            if closing is None:
                continue
            try:
                await asyncio.wait_for(closing, STOP_TIMEOUT_S)
            except TimeoutError:
                log.error("stop_timed_out", part=name, seconds=STOP_TIMEOUT_S)
        log.info("gateway_stopped")

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    http.add_routes(app, wss=gateway.pki is not None)
    admin.add_routes(app)
    if gateway.async_channel is not None:
        async_http.add_routes(app)
    if gateway.pki is not None:
        pki_routes.add_routes(app)
    wiring.add_feature_routes(app, gateway)
    return app
