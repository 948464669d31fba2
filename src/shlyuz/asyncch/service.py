"""The async channel of one gateway process, built from the settings: store, directory, channel, outbox,
delivery engine, endpoint and schemas. :meth:`AsyncService.start`/:meth:`stop` run in the app's startup/cleanup."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from shlyuz.asyncch.channel import AsyncChannel, ChannelOutbox
from shlyuz.asyncch.delivery import DeliveryEngine, DeliverySettings
from shlyuz.asyncch.directory import Directory
from shlyuz.asyncch.endpoint import AsyncEndpoint
from shlyuz.clock import Clock
from shlyuz.config import Settings
from shlyuz.dsig.signer import Signer, signer_for
from shlyuz.fixtures.models import Sender
from shlyuz.fixtures.store import FixtureSet
from shlyuz.gateway.signature import SignatureVerifier
from shlyuz.gateway.wsdl import SHEP_SUBDIR, SchemaDocs, SchemasNotFoundError
from shlyuz.shep.async_states import RetryPolicy
from shlyuz.storage.base import Storage
from shlyuz.storage.messages import MessageStore, SqliteMessages
from shlyuz.storage.records import RecordStore
from shlyuz.systems.participants import AsyncParticipant, ParticipantContext

log = structlog.get_logger("shlyuz.async")
ASYNC_WSDL = "AsyncChannel.wsdl"
ASYNC_SUBDIR = "async"  # schemas/shep/async: a set of its own, so /bip-sync/?xsd= keeps serving the sync set only


def async_schemas_dir(schemas_dir: Path) -> Path:
    """``schemas/shep/async`` (``schemas_dir`` being ``schemas/`` or ``schemas/shep/``)."""
    for candidate in (schemas_dir / SHEP_SUBDIR / ASYNC_SUBDIR, schemas_dir / ASYNC_SUBDIR):
        if (candidate / ASYNC_WSDL).is_file():
            return candidate
    raise SchemasNotFoundError(f"no {SHEP_SUBDIR}/{ASYNC_SUBDIR}/{ASYNC_WSDL} under {schemas_dir}")


class LazySigners(Mapping[str, Signer]):
    """Fixture identity name → :class:`Signer`, each key loaded from the PKI on first use and kept (per process)."""

    def __init__(self, pki: Any) -> None:
        self._pki = pki
        self._loaded: dict[str, Signer] = {}

    def __getitem__(self, name: str) -> Signer:
        if name not in self._loaded:
            if self._pki is None or name not in self._pki:
                raise KeyError(name)
            self._loaded[name] = signer_for(self._pki, name)
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._pki.names() if self._pki is not None else ())

    def __len__(self) -> int:
        return len(self._pki.names()) if self._pki is not None else 0


@dataclass
class AsyncService:
    store: MessageStore
    directory: Directory
    channel: AsyncChannel
    outbox: ChannelOutbox
    engine: DeliveryEngine
    endpoint: AsyncEndpoint
    schemas: SchemaDocs
    run_loop: bool = True

    async def start(self) -> None:
        await self.store.open()
        await self.engine.start(loop=self.run_loop)
        log.info("async_channel_started", services=self.directory.service_ids, loop=self.run_loop)

    async def stop(self) -> None:
        await self.engine.stop()
        await self.store.close()

    def run_due(self):
        """One delivery pass now (tests; the loop does it by itself)."""
        return self.engine.run_due()


def build_async(
    settings: Settings,
    *,
    participants: Sequence[AsyncParticipant],
    senders: dict[str, Sender],
    clock: Clock,
    journal: Storage,
    records: RecordStore,
    fixtures: FixtureSet,
    verifier: SignatureVerifier | None,
    signer: Signer | None,
    pki: Any,
    store: MessageStore | None = None,
) -> AsyncService:
    cfg = settings.async_channel
    store = store or SqliteMessages(settings.database_path, now=clock.now)
    directory = Directory(participants, cfg.participants)
    channel = AsyncChannel(store=store, directory=directory, clock=clock)
    outbox = ChannelOutbox(channel)
    signers = LazySigners(pki)

    def context() -> ParticipantContext:
        return ParticipantContext(fixtures=fixtures, now=clock.now, records=records, outbox=outbox, signers=signers)

    reply_signer = signer.envelope if signer is not None and settings.sign_responses == "always" else None
    push_signer = signer.envelope if signer is not None and settings.sign_responses != "never" else None
    engine = DeliveryEngine(
        channel=channel, clock=clock, journal=journal,
        policy=RetryPolicy(cfg.max_attempts, cfg.backoff_base, cfg.backoff_max, cfg.backoff_jitter),
        settings=DeliverySettings(cfg.lease, cfg.push_timeout, cfg.poll_interval, cfg.batch),
        context=context, sign_envelope=push_signer, journal_bodies=settings.journal_bodies,
    )  # fmt: skip
    channel.on_accept = engine.wake  # an accepted message wakes this process's delivery loop at once
    endpoint = AsyncEndpoint(
        channel=channel, senders=senders, clock=clock, limits=settings.limits.xml(), verifier=verifier,
        sign_envelope=reply_signer, journal_bodies=settings.journal_bodies,
    )  # fmt: skip
    return AsyncService(
        store=store, directory=directory, channel=channel, outbox=outbox, engine=engine, endpoint=endpoint,
        schemas=SchemaDocs(async_schemas_dir(Path(settings.schemas_dir)), ASYNC_WSDL), run_loop=cfg.delivery_loop,
    )  # fmt: skip
