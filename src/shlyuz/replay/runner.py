"""``shlyuz replay FILE``: send every recorded request again and compare the answers with the recorded ones.

The I/O part (HTTP); the work per exchange is sans-IO (:mod:`.refresh`, :mod:`.xmldiff`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp

from shlyuz.gateway.sessions import HEADER as SCOPE_HEADER
from shlyuz.replay.format import Exchange, Recording, SignatureFact
from shlyuz.replay.refresh import RefreshedRequest, refresh_request
from shlyuz.replay.xmldiff import RESPONSE_MASKS, Difference, Mask, compare_bodies
from shlyuz.xml.safe import DEFAULT_LIMITS, XmlLimits

REPLAYED_HEADERS = ("soapaction",)
# (fact, "wsse"|"data") -> Signer, or LookupError saying why there is none. ``signer_for=None`` (``--resign none``):
# signed requests are sent exactly as recorded, old identifiers and signatures included.
SignerFor = Callable[[SignatureFact | None, str], Any]


@dataclass
class Result:
    exchange: Exchange
    differences: list[Difference] = field(default_factory=list)
    namespaces: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # could not be replayed at all (connection refused, no identity, ...)
    http_status: int | None = None
    ms: float = 0.0
    resigned: dict[str, str] = field(default_factory=dict)
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.differences


@dataclass
class Report:
    target: str
    results: list[Result]

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if not r.ok]

    def lines(self) -> list[str]:
        out = []
        for r in self.results:
            ex = r.exchange
            head = f"#{ex.seq} {ex.service_id or '-'} {ex.endpoint} {ex.outcome or ''}".rstrip()
            extra = f" (re-signed: {', '.join(f'{k} as {v}' for k, v in r.resigned.items())})" if r.resigned else ""
            extra += f" ({r.note})" if r.note else ""
            if r.error is not None:
                out.append(f"ERROR {head}: {r.error}")
            elif r.differences:
                out.append(f"FAIL  {head}: {len(r.differences)} difference(s){extra}")
                for d in r.differences:
                    out.append(f"      {d}")
                if r.namespaces:
                    out.append("      namespaces: " + ", ".join(f"{p}={u}" for p, u in sorted(r.namespaces.items())))
            else:
                out.append(f"ok    {head} HTTP {r.http_status} ({r.ms:.1f} ms){extra}")
        failed = len(self.failed)
        out.append(f"{len(self.results)} exchange(s) replayed against {self.target}: {len(self.results) - failed} "
                   f"matched, {failed} with differences or errors")  # fmt: skip
        return out


async def replay(
    recording: Recording,
    base_url: str,
    *,
    now: Callable[[], datetime],
    signer_for: SignerFor | None = None,
    masks: Sequence[Mask] = (),
    limits: XmlLimits = DEFAULT_LIMITS,
    timeout: float = 30.0,
    session: aiohttp.ClientSession | None = None,
    scope: str | None = None,
) -> Report:
    """Replay in recorded order against ``base_url`` (the recorded endpoint's path is appended); with ``scope``,
    every request carries ``X-Shlyuz-Scope: scope`` so the replay runs in that isolated session (docs/sessions.md)."""
    all_masks = tuple(RESPONSE_MASKS) + tuple(masks)
    id_map: dict[str, str] = {}  # recorded messageId -> replayed one (a later correlationId may name it)
    results: list[Result] = []
    own = session is None
    session = session or aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))
    try:
        for ex in recording.exchanges:
            results.append(await _one(ex, base_url, session, now, signer_for, all_masks, limits, id_map, scope))
    finally:
        if own:
            await session.close()
    return Report(base_url, results)


async def _one(ex: Exchange, base_url: str, session: aiohttp.ClientSession, now, signer_for, masks, limits,
               id_map: dict[str, str], scope: str | None = None) -> Result:  # fmt: skip
    result = Result(ex)
    wsse_signer = data_signer = None
    if signer_for is not None:
        try:
            if ex.signatures.wsse is not None:
                wsse_signer = signer_for(ex.signatures.wsse, "wsse")
            if ex.signatures.data is not None:
                data_signer = signer_for(ex.signatures.data, "data")
        except LookupError as exc:
            result.error = str(exc.args[0] if exc.args else exc)
            return result
    signed = ex.signatures.wsse is not None or ex.signatures.data is not None
    if signer_for is None and signed:  # --resign none
        fresh = RefreshedRequest(ex.request.raw(), False, note="signed: sent as recorded (--resign none)")
    elif ex.signatures.wsse is not None and wsse_signer is None:
        who = ex.signatures.wsse.identity or ex.signatures.wsse.subject or "an unknown certificate"
        result.error = (f"the request was signed (WS-Security) by {who}; the replay changes the Body, so it must be "
                        "signed again: give --resign IDENTITY or --resign auto with the PKI (--data-dir)")  # fmt: skip
        return result
    else:
        fresh = refresh_request(ex.request.raw(), now=now(), id_map=id_map, wsse_signer=wsse_signer,
                                data_signer=data_signer, limits=limits)  # fmt: skip
    result.resigned, result.note = fresh.resigned, fresh.note
    if fresh.message_id and ex.message_ids.request:
        id_map[ex.message_ids.request] = fresh.message_id
    # only the headers a SOAP request needs: a recording must not set Host, Content-Length, cookies …
    headers = {k: v for k, v in ex.request.headers.items() if k.lower() in REPLAYED_HEADERS}
    if ex.request.content_type is not None:
        headers["Content-Type"] = ex.request.content_type
    headers.setdefault("SOAPAction", '""')
    if scope is not None:
        headers[SCOPE_HEADER] = scope
    url = base_url.rstrip("/") + ex.endpoint
    t0 = time.perf_counter()
    try:
        async with session.post(url, data=fresh.body, headers=headers) as resp:
            raw = await resp.content.read(limits.max_bytes + 1)
            result.http_status = resp.status
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        result.error = f"{url}: {type(exc).__name__}: {exc}"
        return result
    result.ms = (time.perf_counter() - t0) * 1000
    if len(raw) > limits.max_bytes:
        result.error = f"{url} answered more than {limits.max_bytes} bytes (the cap)"
        return result
    if resp.status != ex.response.status:
        result.differences.append(Difference("HTTP status", "status", str(ex.response.status), str(resp.status)))
    found, namespaces = compare_bodies(ex.response.raw(), raw, masks, substitutions=fresh.substitutions, limits=limits)
    result.differences.extend(found)
    result.namespaces = namespaces if found else {}
    return result
