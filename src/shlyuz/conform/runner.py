"""Running scenarios against a gateway over HTTP (the I/O side of ``shlyuz conform``).

Each run of a scenario has its own scope (``X-Shlyuz-Scope: conform-<run>``), sent with every request, so parallel
runs do not see each other's state. SHEP requests are built with :mod:`shlyuz.client` and signed with the test PKI's
fixture identities, then optionally spoiled (``tamper``), exactly as an integrator's client would send them.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from lxml import etree

from shlyuz.client import SendMessage
from shlyuz.conform import asserts
from shlyuz.conform.loader import Loaded
from shlyuz.conform.model import ShepRequest, SignXml, Step
from shlyuz.dsig.signer import signer_for
from shlyuz.errors import ShlyuzError
from shlyuz.pki.store import Pki
from shlyuz.xml import safe

SCOPE_HEADER = "X-Shlyuz-Scope"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
DS = "http://www.w3.org/2000/09/xmldsig#"


@dataclass
class StepOutcome:
    name: str
    action: str
    ok: bool
    failures: list[str] = field(default_factory=list)
    ms: float = 0.0
    request: str = ""  # what was sent (method, path, body), for the report
    status: int | None = None
    response: str = ""


@dataclass
class ScenarioOutcome:
    id: str
    name: str
    file: str
    tags: list[str]
    scope: str
    ok: bool = True
    steps: list[StepOutcome] = field(default_factory=list)
    ms: float = 0.0


class VarError(ValueError):
    pass


def substitute(value: Any, variables: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        def one(m: re.Match[str]) -> str:
            if m.group(1) not in variables:
                raise VarError(f"unknown variable ${{{m.group(1)}}} (known: {', '.join(sorted(variables)) or 'none'})")
            return variables[m.group(1)]

        return _VAR.sub(one, value)
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    return value


def _tamper(body: bytes, how: str, *, within: str | None = "data") -> bytes:
    """Spoil a signed document: strip its signatures, corrupt a SignatureValue, or change the first text inside the
    element named ``within`` (the SHEP ``data``; None: the document's last text outside the signatures)."""
    root = safe.parse(body)
    sigs = root.findall(f".//{{{DS}}}Signature")
    if how == "strip":
        for sig in sigs:
            sig.getparent().remove(sig)
    elif how == "signature":
        for value in root.iter(f"{{{DS}}}SignatureValue"):
            text = (value.text or "").strip()
            value.text = ("A" if text[:1] != "A" else "B") + text[1:]
    else:  # body: change the first non-empty text of the business data
        if within is None:
            # the last text outside the signatures (the first is often a key the server looks up before the signature)
            unsigned = [el for el in root.iter() if isinstance(el.tag, str) and etree.QName(el).namespace != DS]
            target = next((el for el in reversed(unsigned) if el.text and el.text.strip()), None)
        else:
            data = next((el for el in root.iter() if etree.QName(el).localname == within), None)
            target = next((el for el in (data.iter() if data is not None else []) if el.text and el.text.strip()), None)
        if target is None:
            raise VarError(f"tamper: body found no text{f' inside {within}' if within else ''} to change")
        target.text = target.text.strip()[:-1] + ("0" if not target.text.strip().endswith("0") else "1")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


class Runner:
    def __init__(self, base_url: str, *, http: aiohttp.ClientSession, pki: Pki | None,
                 passwords: Mapping[str, str], now: Callable[[], Any] | None = None) -> None:  # fmt: skip
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.pki = pki
        self.passwords = passwords
        self.now = now

    async def run(self, item: Loaded) -> ScenarioOutcome:
        sc = item.scenario
        run_id = uuid.uuid4().hex[:12]
        scope = f"conform-{run_id}"
        out = ScenarioOutcome(id=item.id, name=sc.name, file=str(item.file), tags=list(sc.tags), scope=scope)
        variables = {**sc.vars, "run": run_id, "scope": scope}
        started = time.perf_counter()
        for step in sc.steps:
            result = await self._step(step, variables, scope)
            out.steps.append(result)
            if not result.ok:
                out.ok = False
                break  # later steps depend on earlier ones
        out.ms = round((time.perf_counter() - started) * 1000, 1)
        return out

    async def _step(self, step: Step, variables: dict[str, str], scope: str) -> StepOutcome:
        res = StepOutcome(name=step.name, action=step.action, ok=False)
        t0 = time.perf_counter()
        installed: list[str] = []  # fault rules of this step only, deleted after it
        try:
            concrete = Step.model_validate(substitute(step.model_dump(by_alias=True, exclude_none=True), variables))
            if concrete.faults is not None:
                await self._install_faults(concrete, scope, installed)
            if concrete.action == "faults":  # rules for the rest of the scenario: the installed list is the reply
                raw = json.dumps({"installed": installed}).encode()
                response: asserts.Response | None = asserts.Response(200, {"Content-Type": "application/json"}, raw)
                installed = []
            else:
                response = await self._send(concrete, scope, res)
                if installed:  # the report shows which rules were in force for this request
                    kinds = [rule.fault.kind for rule in concrete.faults or []]
                    res.request = f"fault rules of this step: {', '.join(f'{i} ({k})' for i, k in zip(installed, kinds))}\n" + res.request
            if response is not None:
                res.status, res.response = response.status, response.body.decode("utf-8", "replace")
                res.failures += asserts.check(response, concrete.expect)
            for name, cap in concrete.capture.items() if response is not None else ():
                value, why = asserts.capture(response, name, cap)
                if why:
                    res.failures.append(why)
                else:
                    variables[name] = value or ""
        except VarError as exc:
            res.failures.append(str(exc))
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            res.failures.append(f"no answer from {self.base_url}: {type(exc).__name__}: {exc}")
        except Exception as exc:  # a scenario must never crash the run: it fails, with why
            res.failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            for rule_id in installed:
                await self._remove_fault(rule_id, scope, res)
        res.ok = not res.failures
        res.ms = round((time.perf_counter() - t0) * 1000, 1)
        return res

    async def _send(self, step: Step, scope: str, res: StepOutcome) -> asserts.Response | None:
        """The step's request; None when no reply came and ``expect.transport`` said so (or a failure noted)."""
        method, path, body, headers = self._request(step, scope)
        res.request = f"{method} {path}\n{body.decode('utf-8', 'replace') if body else ''}"
        extra = {"timeout": aiohttp.ClientTimeout(total=step.timeout)} if step.timeout else {}
        expected = step.expect.transport
        try:
            async with self.http.request(method, self.base_url + path, data=body, headers=headers, **extra) as r:
                raw = await r.read()
                response = asserts.Response(r.status, dict(r.headers), raw)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientPayloadError,
                ConnectionResetError, asyncio.TimeoutError) as exc:  # fmt: skip
            if expected is None:
                raise
            got = "timeout" if isinstance(exc, asyncio.TimeoutError) else "reset"
            res.response = f"(no reply: {type(exc).__name__}: {exc})"
            res.failures += asserts.check_transport(expected, got, f"{type(exc).__name__}: {exc}")
            return None
        if expected is not None:
            res.failures += asserts.check_transport(expected, None, f"HTTP {response.status}")
        return response

    async def _install_faults(self, step: Step, scope: str, ids: list[str]) -> None:
        for rule in step.faults or []:
            doc = rule.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"hits"})
            async with self.http.post(self.base_url + "/__admin/faults", json=doc, headers={SCOPE_HEADER: scope}) as r:
                body = await r.read()
                if r.status != 201:
                    raise VarError(f"fault rule not installed: HTTP {r.status} {body.decode('utf-8', 'replace')[:500]}")
                ids.append(json.loads(body)["id"])

    async def _remove_fault(self, rule_id: str, scope: str, res: StepOutcome) -> None:
        try:
            async with self.http.delete(f"{self.base_url}/__admin/faults/{rule_id}", headers={SCOPE_HEADER: scope}) as r:
                await r.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            res.failures.append(f"fault rule {rule_id} not deleted after the step: {type(exc).__name__}: {exc}")

    def _request(self, step: Step, scope: str) -> tuple[str, str, bytes | None, dict[str, str]]:
        headers = {SCOPE_HEADER: scope}
        if step.shep is not None:
            body = self._shep_body(step.shep)
            headers["Content-Type"] = step.shep.content_type
            return "POST", step.shep.endpoint, body, headers
        if step.http is not None:
            h = step.http
            headers.update(h.headers)
            if h.sign_xml is not None:
                headers.setdefault("Content-Type", "application/json")
                doc = {**(h.json_ or {}), h.sign_xml.field: self._sign_xml(h.sign_xml)}
                return h.method, h.path, json.dumps(doc, ensure_ascii=False).encode(), headers
            if h.json_ is not None:
                headers.setdefault("Content-Type", "application/json")
                return h.method, h.path, json.dumps(h.json_, ensure_ascii=False).encode(), headers
            return h.method, h.path, h.body.encode() if h.body is not None else None, headers
        if step.chain is not None:
            headers["Content-Type"] = "application/json"
            return "POST", f"/chains/{step.chain.service}/runs", json.dumps(step.chain.options, ensure_ascii=False).encode(), headers
        assert step.journal is not None
        j = step.journal
        params = {k: v for k, v in {"messageId": j.message_id, "serviceId": j.service_id, "sender": j.sender,
                                    "outcome": j.outcome, "limit": str(j.limit)}.items() if v}  # fmt: skip
        query = "&".join(f"{k}={aiohttp.helpers.quote(str(v), safe='')}" for k, v in params.items())
        return "GET", f"/__admin/journal?{query}", None, headers

    def _sign_xml(self, spec: SignXml) -> str:
        """The document signed as ``spec.identity`` (enveloped, over the root), spoiled if asked."""
        try:
            root = safe.parse(spec.xml.encode("utf-8"))
        except ShlyuzError as exc:
            raise VarError(f"signXml: the document is not well-formed XML: {exc.message}") from None
        self._signer(spec.identity).data(root)
        signed = etree.tostring(root, encoding="UTF-8")
        if spec.tamper:
            signed = _tamper(signed, spec.tamper, within=None)
        return signed.decode("utf-8").removeprefix("<?xml version='1.0' encoding='UTF-8'?>").lstrip()

    def _signer(self, name: str):
        if self.pki is None:
            raise VarError("signing needs the test PKI (run embedded, or give --data-dir of the gateway)")
        if name not in self.pki:
            raise VarError(f"no identity {name!r} in the test PKI (docs/pki.md)")
        return signer_for(self.pki, name)

    def _shep_body(self, s: ShepRequest) -> bytes:
        if s.raw is not None:
            body = s.raw.encode("utf-8")
        else:
            assert s.service is not None
            msg = SendMessage(
                service_id=s.service,
                payload=safe.parse(s.payload.encode("utf-8")) if s.payload else None,
                sender_id=s.sender,
                password=s.password if s.password is not None else self.passwords.get(s.sender),
                escaped=s.escaped,
            )
            if s.message_id:
                msg.message_id = s.message_id
            msg.correlation_id = s.correlation_id
            if s.sign is not None:
                msg.wsse_signer = self._signer(s.sign.wsse) if s.sign.wsse else None
                msg.data_signer = self._signer(s.sign.data) if s.sign.data else None
            body = msg.to_bytes()
            if s.sign is not None and s.sign.tamper:
                body = _tamper(body, s.sign.tamper)
        return (b"\xef\xbb\xbf" + body) if s.prefix_bom else body
