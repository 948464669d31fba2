"""Read-only JSON (and SVG) of the console: overview, the 15 services and their diagrams, a chain run's sequence
diagram, and the fixtures (persons, organisations, PKI identities, powers of attorney) with a search.

Service diagrams are drawn with Graphviz ``dot`` when it is installed (in a thread, cached per process on the app);
without it ``format=svg`` answers 404 ``NOT_FOUND`` with the reason and the list says ``graphviz: false``, and the
page shows the DOT or Mermaid text instead (``format=dot`` / ``format=mermaid`` always work).
"""

from __future__ import annotations

import asyncio
import re
import shutil
from datetime import date
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from shlyuz import __version__
from shlyuz.console.sequence import participants, sequence_svg
from shlyuz.errors import ErrorCode
from shlyuz.gateway.jsonapi import ApiError, ApiRoute, read_query
from shlyuz.gateway.sessions import CURRENT_SCOPE

DIAGRAMS = web.AppKey("console_diagrams", dict)  # (name) -> SVG bytes, per process
SVG_TYPE = "image/svg+xml"


def _gateway(request: web.Request):
    from shlyuz.gateway.app import GATEWAY

    return request.app[GATEWAY]


def _bad(message: str) -> ApiError:
    return ApiError(ErrorCode.INVALID_PARAMETER, message)


# -- overview -----------------------------------------------------------------------------------------------------
class Overview(BaseModel):
    version: str
    scope: str
    now: str
    journal_rows: int = Field(alias="journalRows")
    services: int
    persons: int
    organisations: int
    powers_of_attorney: int = Field(alias="powersOfAttorney")
    pki: bool
    graphviz: bool


async def overview(request: web.Request) -> Overview:
    gw = _gateway(request)
    stats = await gw.storage.stats()
    return Overview(
        version=__version__, scope=CURRENT_SCOPE.get(), now=gw.clock.now().isoformat(timespec="seconds"),
        journalRows=stats.rows, services=len(gw.services or ()), persons=len(gw.fixtures.persons),
        organisations=len(gw.fixtures.organisations), powersOfAttorney=len(gw.fixtures.powers_of_attorney),
        pki=gw.pki is not None, graphviz=shutil.which("dot") is not None,
    )  # fmt: skip


# -- services -----------------------------------------------------------------------------------------------------
class DiagramRef(BaseModel):
    name: str = Field(description="service--channel--slug, as docs/services/diagrams/ names the files")
    title: str
    channel: str
    kind: str


class ServiceItem(BaseModel):
    id: str
    annex: int
    name_en: str = Field(alias="nameEn")
    name_ru: str = Field(alias="nameRu")
    name_kk: str = Field(alias="nameKk")
    provider: str
    channels: list[str]
    systems: list[str]
    deadlines: list[str]
    diagrams: list[DiagramRef]


class ServiceList(BaseModel):
    graphviz: bool
    services: list[ServiceItem]


def _graphs(service) -> list[Any]:
    from shlyuz.services.graph import graphs

    return graphs(service)


def _diagram_name(service, g) -> str:
    from shlyuz.services.docs import diagram_name

    return diagram_name(service, g)


def _deadline(d) -> str:
    where = d.channel.value + (f" / procedure {d.procedure}" if d.procedure else "")
    regime = f", when {d.regime.value if hasattr(d.regime, 'value') else d.regime}" if d.regime else ""
    return f"{where}: {' + '.join(t.human() for t in d.total)} ({d.basis}{regime})"


async def list_services(request: web.Request) -> ServiceList:
    gw = _gateway(request)
    items = []
    for svc in gw.services or ():
        items.append(ServiceItem(
            id=svc.id, annex=svc.annexes.order_2017.number, nameEn=svc.names.en, nameRu=svc.names.ru,
            nameKk=svc.names.kk, provider=svc.provider.en, channels=[c.id.value for c in svc.channels],
            systems=[s.value for s in svc.systems_named],
            deadlines=[_deadline(d) for d in svc.deadlines][:20],
            diagrams=[DiagramRef(name=_diagram_name(svc, g), title=g.title, channel=g.channel.value, kind=g.kind)
                      for g in _graphs(svc)],
        ))  # fmt: skip
    return ServiceList(graphviz=shutil.which("dot") is not None, services=items)


class DiagramQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["svg", "dot", "mermaid"] = "svg"


async def service_diagram(request: web.Request) -> web.Response:
    from shlyuz.services import dot, mermaid

    query = read_query(request, DiagramQuery)
    assert isinstance(query, DiagramQuery)
    gw = _gateway(request)
    sid, name = request.match_info["service"], request.match_info["name"]
    svc = next((s for s in gw.services or () if s.id == sid), None)
    if svc is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no service {sid!r}")
    graph = next((g for g in _graphs(svc) if _diagram_name(svc, g) == name), None)
    if graph is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"service {sid!r} has no diagram {name!r}")
    if query.format == "dot":
        return web.Response(text=dot.dot_source(graph), content_type="text/vnd.graphviz", charset="utf-8")
    if query.format == "mermaid":
        return web.Response(text=mermaid.flowchart(graph), content_type="text/plain", charset="utf-8")
    cache = request.app[DIAGRAMS]
    if name not in cache:
        try:
            cache[name] = await asyncio.to_thread(dot.render, dot.dot_source(graph), "svg", timeout=30.0)
        except dot.DotError as exc:
            raise ApiError(ErrorCode.NOT_FOUND, f"no SVG: {exc}; ask format=dot or format=mermaid") from None
    return web.Response(body=cache[name], content_type=SVG_TYPE)


# -- chain runs ---------------------------------------------------------------------------------------------------
class Participant(BaseModel):
    id: str
    label: str


class RunDiagramInfo(BaseModel):
    id: str
    status: str
    participants: list[Participant]


async def _run(request: web.Request) -> dict[str, Any]:
    gw = _gateway(request)
    if gw.chains is None:
        raise ApiError(ErrorCode.NOT_FOUND, "chains are not enabled on this gateway")
    run_id = request.match_info["run"]
    record = await gw.chains.get(run_id, scope=CURRENT_SCOPE.get())
    if record is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no chain run {run_id}")
    return record


async def run_sequence(request: web.Request) -> web.Response:
    record = await _run(request)
    return web.Response(text=sequence_svg(record), content_type=SVG_TYPE, charset="utf-8",
                        headers={"Cache-Control": "no-store"})  # fmt: skip


async def run_participants(request: web.Request) -> RunDiagramInfo:
    record = await _run(request)
    lanes = participants(record.get("trace") or {})
    return RunDiagramInfo(id=str(record.get("id")), status=str(record.get("status")),
                          participants=[Participant(id=i, label=label) for i, label in lanes])  # fmt: skip


# -- fixtures -----------------------------------------------------------------------------------------------------
class FixtureQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(None, max_length=200, description="words that must all occur (IIN, BIN, name, tag, number)")
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=100_000)


class Page(BaseModel):
    total: int = Field(description="matching records")
    offset: int
    items: list[dict[str, Any]]


def _match(q: str | None, *fields: Any) -> bool:
    if not q:
        return True
    hay = " ".join(str(f) for f in fields if f is not None).lower()
    return all(word in hay for word in q.lower().split())


def _page(request: web.Request, rows: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> Page:
    query = read_query(request, FixtureQuery)
    assert isinstance(query, FixtureQuery)
    hits = [item for hay, item in rows if _match(query.q, *hay)]
    return Page(total=len(hits), offset=query.offset, items=hits[query.offset : query.offset + query.limit])


def _name(p) -> str:
    return " ".join(x for x in (p.surname, p.name, p.patronymic) if x)


async def fixture_persons(request: web.Request) -> Page:
    gw = _gateway(request)
    rows = []
    for p in gw.fixtures.persons.values():
        item = {"iin": p.iin, "name": _name(p), "birthDate": p.birth_date.isoformat(), "gender": p.gender.name_ru,
                "lifeStatus": p.life_status.name_ru, "tags": list(p.tags), "disability": p.disability.group if p.disability else None,
                "documents": [f"{d.type.name_ru} {d.number} ({d.status.name_ru})" for d in p.documents],
                "address": f"{p.reg_address.city}, {p.reg_address.street} {p.reg_address.building}" if p.reg_address else None}  # fmt: skip
        rows.append(((p.iin, item["name"], p.eng_surname, p.eng_first_name, " ".join(p.tags), p.birth_date), item))
    return _page(request, rows)


async def fixture_organisations(request: web.Request) -> Page:
    gw = _gateway(request)
    rows = []
    for o in gw.fixtures.organisations.values():
        item = {"bin": o.bin, "nameRu": o.name_ru, "nameKz": o.name_kz, "kind": o.kind, "headIin": o.head_iin,
                "employees": len(o.employee_iins), "registrationDate": o.registration_date.isoformat(), "tags": list(o.tags)}  # fmt: skip
        rows.append(((o.bin, o.name_ru, o.name_kz, o.kind, " ".join(o.tags), o.head_iin), item))
    return _page(request, rows)


def _poa_status(poa, today: date) -> str:
    if poa.revoked:
        return "REVOKED"
    if today < poa.valid_from:
        return "NOT_YET_VALID"
    if today > poa.valid_to:
        return "EXPIRED"
    return "VALID"


async def fixture_poas(request: web.Request) -> Page:
    gw = _gateway(request)
    today = gw.clock.now().date()
    rows = []
    for poa in gw.fixtures.powers_of_attorney.values():
        item = {"number": poa.number, "principal": poa.principal_iin or poa.principal_bin, "attorneyIin": poa.attorney_iin,
                "notarised": poa.notarised, "validFrom": poa.valid_from.isoformat(), "validTo": poa.valid_to.isoformat(),
                "revoked": poa.revoked, "status": _poa_status(poa, today), "powers": [p.name_ru for p in poa.powers],
                "tags": list(poa.tags)}  # fmt: skip
        rows.append(((poa.number, item["principal"], poa.attorney_iin, item["status"], " ".join(poa.tags)), item))
    return _page(request, rows)


def _owner(name: str, subject: str) -> dict[str, str | None]:
    """IIN and BIN of an identity: from its name (person/<IIN>/…, org/<BIN>/<IIN>/…), else from its subject."""
    parts = name.split("/")
    if parts[0] == "person" and len(parts) >= 2:
        return {"iin": parts[1], "bin": None}
    if parts[0] == "org" and len(parts) >= 3:
        return {"iin": parts[2], "bin": parts[1]}
    iin = re.search(r"SERIALNUMBER=IIN(\d{12})", subject)
    bin_ = re.search(r"BIN(\d{12})", subject.replace("SERIALNUMBER=IIN", ""))
    return {"iin": iin.group(1) if iin else None, "bin": bin_.group(1) if bin_ else None}


async def fixture_identities(request: web.Request) -> Page:
    from shlyuz.pki.fixture_ids import BAD

    gw = _gateway(request)
    if gw.pki is None:
        return _page(request, [])
    now = gw.clock.now()
    rows = []
    for rec in gw.pki.records():
        if rec.revoked_at is not None and rec.revoked_at <= now:
            state = "revoked"
        elif now > rec.not_after:
            state = "expired"
        elif now < rec.not_before:
            state = "not yet valid"
        elif rec.issuer != "issuing":
            state = "untrusted issuer"
        else:
            state = "valid"
        item = {"name": rec.name, "subject": rec.subject, **_owner(rec.name, rec.subject), "profile": rec.profile,
                "keyKind": rec.key_kind, "issuer": rec.issuer, "serial": f"{rec.serial:X}",
                "notBefore": rec.not_before.isoformat(), "notAfter": rec.not_after.isoformat(), "state": state,
                "revokedAt": rec.revoked_at.isoformat() if rec.revoked_at else None, "revocationReason": rec.revocation_reason,
                "bad": BAD.get(rec.name), "tags": list(rec.tags)}  # fmt: skip
        rows.append(((rec.name, rec.subject, state, item["bad"], " ".join(rec.tags), rec.profile), item))
    return _page(request, rows)


ROUTES = [
    ApiRoute("GET", "/ui/api/overview", overview, "The console's overview: version, clock, counts", "console",
             response=Overview),
    ApiRoute("GET", "/ui/api/services", list_services, "The services and their diagrams", "console", response=ServiceList),
    ApiRoute("GET", "/ui/api/services/{service}/diagrams/{name}", service_diagram,
             "A service's flowchart: SVG (Graphviz), DOT or Mermaid text", "console", query=DiagramQuery,
             errors=(ErrorCode.NOT_FOUND,)),
    ApiRoute("GET", "/ui/api/chains/runs/{run}/sequence.svg", run_sequence, "A chain run as a sequence diagram (SVG)",
             "console", errors=(ErrorCode.NOT_FOUND,)),
    ApiRoute("GET", "/ui/api/chains/runs/{run}/participants", run_participants,
             "The systems a run's sequence diagram draws", "console", response=RunDiagramInfo, errors=(ErrorCode.NOT_FOUND,)),
    ApiRoute("GET", "/ui/api/fixtures/persons", fixture_persons, "Fixture persons (search)", "console",
             query=FixtureQuery, response=Page),
    ApiRoute("GET", "/ui/api/fixtures/organisations", fixture_organisations, "Fixture organisations (search)", "console",
             query=FixtureQuery, response=Page),
    ApiRoute("GET", "/ui/api/fixtures/identities", fixture_identities, "Test PKI identities (search)", "console",
             query=FixtureQuery, response=Page),
    ApiRoute("GET", "/ui/api/fixtures/powers-of-attorney", fixture_poas, "Powers of attorney (search)", "console",
             query=FixtureQuery, response=Page),
]  # fmt: skip
