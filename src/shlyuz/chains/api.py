"""``/chains`` JSON API: run a service's chain, read a run, decide a waiting run's human step."""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from shlyuz.chains.driver import ChainDriver, DecisionIn, RunOptions
from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.gateway.jsonapi import ApiError, ApiRoute
from shlyuz.gateway.sessions import CURRENT_SCOPE

CHAINS = web.AppKey("chains", ChainDriver)
log = structlog.get_logger("shlyuz.chains")


class RunOut(BaseModel):
    """A chain run as stored: its options, its answers so far, and its trace."""

    model_config = ConfigDict(extra="allow")

    id: str
    service: str
    status: str = Field(description="running | waiting (for a person's decision) | done")
    waiting_for: str | None = Field(None, alias="waitingFor")
    trace: dict[str, Any]


class RunList(BaseModel):
    runs: list[RunOut]


def _scope(request: web.Request) -> str:
    return CURRENT_SCOPE.get()  # set from X-Shlyuz-Scope by gateway.sessions


def _out(record: dict[str, Any]) -> RunOut:
    return RunOut.model_validate(record)


async def _call(coro):
    try:
        return await coro
    except ApiError:
        raise
    except ShlyuzError as exc:
        status = {ErrorCode.NOT_FOUND: 404, ErrorCode.CONFLICT: 409}.get(exc.code, 400)
        raise ApiError(exc.code, exc.message, status=status) from None


async def start_run(request: web.Request, body: RunOptions) -> RunOut:
    driver = request.app[CHAINS]
    return _out(await _call(driver.start(request.match_info["service"], body, scope=_scope(request))))


async def get_run(request: web.Request) -> RunOut:
    driver = request.app[CHAINS]
    record = await driver.get(request.match_info["run"], scope=_scope(request))
    if record is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no chain run {request.match_info['run']}")
    return _out(await _call(driver.reconcile(record, scope=_scope(request))))


async def decide_run(request: web.Request, body: DecisionIn) -> RunOut:
    driver = request.app[CHAINS]
    return _out(await _call(driver.decide(request.match_info["run"], body, scope=_scope(request))))


async def list_runs(request: web.Request) -> RunList:
    status = request.query.get("status")
    where = {"status": status} if status else None
    records = await request.app[CHAINS].gateway.records.find("chain-run", scope=_scope(request), where=where, limit=200)
    return RunList(runs=[_out(r.data) for r in records])


async def resume_linked_run(app: web.Application, item: dict[str, Any]) -> dict[str, Any] | None:
    """The inbox decided ``item``: resume the chain run linked to it (chains/link.py), in the request's session.
    The decision stands whatever happens to the run: a failure to resume is logged, and the run stays waiting."""
    driver = app.get(CHAINS)
    if driver is None:
        return None
    try:
        return await driver.resume_linked(item, scope=CURRENT_SCOPE.get())
    except ShlyuzError as exc:
        log.warning("chain_run_not_resumed", number=item.get("number"), code=exc.code.value, error=exc.message)
        return None


ROUTES = [
    ApiRoute("POST", "/chains/{service}/runs", start_run, "Run a service's chain on a channel", "chains",
             body=RunOptions, response=RunOut, status=201, errors=(ErrorCode.NOT_FOUND, ErrorCode.CONFLICT)),
    ApiRoute("GET", "/chains/runs", list_runs, "List chain runs (newest last)", "chains", response=RunList),
    ApiRoute("GET", "/chains/runs/{run}", get_run, "A chain run and its trace", "chains", response=RunOut,
             errors=(ErrorCode.NOT_FOUND,)),
    ApiRoute("POST", "/chains/runs/{run}/decision", decide_run, "Decide the human step a run waits for", "chains",
             body=DecisionIn, response=RunOut, errors=(ErrorCode.NOT_FOUND, ErrorCode.CONFLICT)),
]  # fmt: skip
