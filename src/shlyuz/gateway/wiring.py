"""What the gateway serves besides the SHEP endpoints, in one place: the inside SHEP participants (E-sobes,
E-licensing, АРМ РШЭП, the State Corporation workstation, the portal) and the JSON APIs of the workstations, the
portal, the chains and the sessions. ``app.py`` calls these two functions; tests may pass their own participants."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from shlyuz.config import Settings
from shlyuz.systems.participants import AsyncParticipant

if TYPE_CHECKING:
    from shlyuz.gateway.app import Gateway
    from shlyuz.gateway.signature import SignatureVerifier


def default_participants(settings: Settings, verifier: SignatureVerifier | None) -> list[AsyncParticipant]:
    from shlyuz.portal.participant import PortalParticipant
    from shlyuz.systems import rshep
    from shlyuz.workstations.con_participant import ConParticipant

    receiving = rshep.participants(verifier=verifier, provider=settings.provider, fixture_dirs=settings.fixture_dirs)
    return [*receiving.values(), ConParticipant(), PortalParticipant()]


def add_feature_routes(app: web.Application, gateway: Gateway) -> None:
    from shlyuz.chains import api as chains_api
    from shlyuz.faults import api as faults_api
    from shlyuz.faults.stage import install_async
    from shlyuz.gateway import sessions
    from shlyuz.gateway.jsonapi import add_api_routes
    from shlyuz.portal import api as portal_api
    from shlyuz.systems.rshep_inbox import ReceivingSystem
    from shlyuz.workstations import con, rshep_api

    add_api_routes(app, sessions.ROUTES)
    add_api_routes(app, faults_api.ROUTES)
    if gateway.async_channel is not None:  # sendMessage meets the session's fault rules too (docs/faults.md)
        install_async(gateway.async_channel.endpoint, gateway.records)
    if gateway.chains is not None:
        app[chains_api.CHAINS] = gateway.chains
        add_api_routes(app, chains_api.ROUTES)
    receiving = {p.participant_id: p for p in gateway.participants if isinstance(p, ReceivingSystem)}
    if receiving:
        rshep_api.add_routes(app, rshep_api.desk_for(gateway, receiving))
    portal_api.add_routes(app)
    con.add_routes(app)
    from shlyuz.console import web as console  # the web console at /ui/ (docs/console.md)

    console.add_routes(app)
