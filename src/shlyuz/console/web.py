"""Serving the console: ``/ui/`` (index.html), the static files of ``static/`` at ``/ui/<file>``, and the console's
API routes. Called from :func:`shlyuz.gateway.wiring.add_feature_routes`."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from shlyuz.console import catalog, journal
from shlyuz.gateway.jsonapi import add_api_routes

STATIC = Path(__file__).resolve().parent / "static"
# aiohttp's static handler guesses types from the platform's tables, which may lack .mjs/.svg or call JS
# application/javascript; module scripts need a JavaScript type, so the console names its own.
TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml",
         ".png": "image/png", ".json": "application/json", ".ico": "image/x-icon"}  # fmt: skip


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Content-Type": "text/html; charset=utf-8",
                                                            "Cache-Control": "no-cache"})  # fmt: skip


async def to_index(request: web.Request) -> web.Response:
    raise web.HTTPFound("/ui/")


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = STATIC / name
    kind = TYPES.get(path.suffix.lower())
    # one flat directory: no separators, no dot files, known types only
    if kind is None or "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
        return web.json_response({"error": {"code": "NOT_FOUND", "message": f"no console file {name!r}"}}, status=404)
    charset = "; charset=utf-8" if kind.startswith("text/") or kind in ("image/svg+xml", "application/json") else ""
    return web.FileResponse(path, headers={"Content-Type": kind + charset, "Cache-Control": "no-cache"})


def add_routes(app: web.Application) -> None:
    app[journal.STREAMS] = {"open": 0}
    app[catalog.DIAGRAMS] = {}
    add_api_routes(app, journal.ROUTES)
    add_api_routes(app, catalog.ROUTES)
    app.router.add_get("/ui", to_index)
    app.router.add_get("/ui/", index)
    app.router.add_get("/ui/{name}", static_file)
