"""Who is on the async channel and how each participant receives its messages (pure data, built once)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shlyuz.config import AsyncParticipantSettings, ConfigError
from shlyuz.systems.participants import AsyncParticipant

INSIDE, PUSH, PULL = "inside", "push", "pull"


@dataclass(frozen=True, slots=True)
class Route:
    participant_id: str
    mode: str  # inside | push | pull
    push_url: str | None = None


class Directory:
    """Inside participants (``on_message``) and outside ones from ``async_channel.participants`` (push or pull).

    A senderId that is neither (any registered sender may send a REQUEST) receives its answers by pulling them."""

    def __init__(
        self, inside: Sequence[AsyncParticipant] = (), outside: Sequence[AsyncParticipantSettings] = ()
    ) -> None:
        self.inside: dict[str, AsyncParticipant] = {}
        self._routes: dict[str, Route] = {}
        self._services: dict[str, str] = {}
        for p in inside:
            self._add(p.participant_id, Route(p.participant_id, INSIDE), p.service_ids)
            self.inside[p.participant_id] = p
        for o in outside:
            self._add(o.participant_id, Route(o.participant_id, PUSH if o.push_url else PULL, o.push_url), o.service_ids)

    def _add(self, pid: str, route: Route, service_ids: Sequence[str]) -> None:
        if pid in self._routes:
            raise ConfigError(f"async participant {pid!r} is declared twice")
        self._routes[pid] = route
        for sid in service_ids:
            if sid in self._services:
                raise ConfigError(f"serviceId {sid!r} is served by both {self._services[sid]!r} and {pid!r}")
            self._services[sid] = pid

    def serving(self, service_id: str) -> str | None:
        """The participant REQUESTs to ``service_id`` go to."""
        return self._services.get(service_id)

    def route(self, participant_id: str) -> Route:
        return self._routes.get(participant_id) or Route(participant_id, PULL)

    def push_url(self, participant_id: str) -> str | None:
        return self.route(participant_id).push_url

    @property
    def service_ids(self) -> dict[str, str]:
        return dict(self._services)
