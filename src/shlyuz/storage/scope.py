"""The session scope a piece of work belongs to (isolated sessions, docs/sessions.md).

``X-Shlyuz-Scope`` names a request's session; :mod:`shlyuz.gateway.sessions` puts it in :data:`CURRENT_SCOPE` for
the request's asyncio task (and the tasks it starts, which copy the context). Whatever the request stores takes the
scope from here unless the caller names one: the record store's reads and writes, the journal entry
(:class:`~shlyuz.storage.base.ExchangeRecord`), the async messages it sends. Background work that is not a request
(the async channel's delivery loop) runs in ``default`` and names the scope of what it handles explicitly.
"""

from __future__ import annotations

from contextvars import ContextVar

DEFAULT_SCOPE = "default"
# the scope of the request being handled (per asyncio task)
CURRENT_SCOPE: ContextVar[str] = ContextVar("shlyuz_scope", default=DEFAULT_SCOPE)


def current_scope() -> str:
    return CURRENT_SCOPE.get()


def resolve(scope: str | None) -> str:
    """``scope`` when given, else the current request's."""
    return scope if scope is not None else CURRENT_SCOPE.get()
