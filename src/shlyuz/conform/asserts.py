"""Checking a step's response against its ``expect``, and capturing values (sans-IO: bytes and models in, messages out).

Every failed expectation is one message that says what was expected, what came, and where.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from shlyuz.conform.model import Capture, Expect, JsonCheck, XPathCheck
from shlyuz.shep import ns
from shlyuz.shep.events import SyncResponse
from shlyuz.shep.responses import Fault, read_sync_reply
from shlyuz.xml import safe

# prefixes every XPath may use without declaring them
DEFAULT_NS = {
    "soap": ns.SOAP11,
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
    "sync": ns.SYNC_TYPES,
}
_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(-?\d+)\]")


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    json_body: Any = None
    _xml: etree._Element | None = field(default=None, repr=False)

    def xml(self) -> etree._Element:
        if self._xml is None:
            self._xml = safe.parse(self.body)
        return self._xml

    def as_json(self) -> Any:
        if self.json_body is None:
            self.json_body = json.loads(self.body.decode("utf-8"))
        return self.json_body


def json_path(data: Any, path: str) -> tuple[bool, Any]:
    """``(found, value)`` for a dotted path with list indexes: ``trace.steps[0].ref``, ``runs[-1]``."""
    cur = data
    for name, index in _PATH_TOKEN.findall(path):
        if name:
            if not isinstance(cur, dict) or name not in cur:
                return False, None
            cur = cur[name]
        else:
            i = int(index)
            if not isinstance(cur, list) or not -len(cur) <= i < len(cur):
                return False, None
            cur = cur[i]
    return True, cur


def _xpath(resp: Response, path: str, nsmap: dict[str, str]) -> list[Any]:
    result = resp.xml().xpath(path, namespaces={**DEFAULT_NS, **nsmap})
    if isinstance(result, list):
        return result
    return [result]


def _text(node: Any) -> str:
    if isinstance(node, etree._Element):
        return "".join(node.itertext())
    return str(node)


def check_xpath(resp: Response, c: XPathCheck) -> list[str]:
    try:
        nodes = _xpath(resp, c.path, c.ns)
    except etree.XPathError as exc:
        return [f"xpath {c.path}: not a valid XPath ({exc})"]
    except Exception as exc:  # the body is not XML
        return [f"xpath {c.path}: the response is not XML ({type(exc).__name__}: {exc})"]
    out = []
    texts = [_text(n) for n in nodes if n is not False]
    if c.count is not None and len(texts) != c.count:
        out.append(f"xpath {c.path}: expected {c.count} node(s), found {len(texts)}")
    if c.exists is not None and bool(texts) != c.exists:
        out.append(f"xpath {c.path}: expected {'a match' if c.exists else 'no match'}, found {len(texts)}")
    if c.equals is not None and (not texts or texts[0] != c.equals):
        out.append(f"xpath {c.path}: expected {c.equals!r}, found {texts[0]!r}" if texts else f"xpath {c.path}: expected {c.equals!r}, found nothing")
    if c.contains is not None and not any(c.contains in t for t in texts):
        out.append(f"xpath {c.path}: expected text containing {c.contains!r}, found {texts[:3]!r}")
    return out


def check_json(resp: Response, c: JsonCheck) -> list[str]:
    try:
        data = resp.as_json()
    except (ValueError, UnicodeDecodeError):
        return [f"json {c.path}: the response is not JSON"]
    found, value = json_path(data, c.path)
    out = []
    if c.exists is not None and found != c.exists:
        out.append(f"json {c.path}: expected it {'present' if c.exists else 'absent'}")
    if c.equals is not None and (not found or value != c.equals):
        out.append(f"json {c.path}: expected {c.equals!r}, found {value!r}" if found else f"json {c.path}: expected {c.equals!r}, not present")
    if c.contains is not None and (not found or c.contains not in json.dumps(value, ensure_ascii=False)):
        out.append(f"json {c.path}: expected it to contain {c.contains!r}, found {value!r}")
    if c.length is not None and (not found or not hasattr(value, "__len__") or len(value) != c.length):
        out.append(f"json {c.path}: expected length {c.length}, found {len(value) if found and hasattr(value, '__len__') else value!r}")
    return out


def check(resp: Response, expect: Expect) -> list[str]:
    out: list[str] = []
    if expect.http is not None and resp.status != expect.http:
        out.append(f"HTTP status: expected {expect.http}, got {resp.status}")
    if expect.status or expect.fault or expect.fault_contains:
        try:
            reply = read_sync_reply(resp.body)
        except Exception as exc:
            return out + [f"the response is not a SHEP reply: {type(exc).__name__}: {exc}"]
        if isinstance(reply, Fault):
            code = reply.error.error_code if reply.error else reply.faultcode
            message = reply.error.error_message if reply.error else reply.faultstring
            if expect.status:
                out.append(f"expected SHEP status {expect.status}, got the fault {code}: {message}")
            if expect.fault and code != expect.fault:
                out.append(f"expected the fault {expect.fault}, got {code}: {message}")
            if expect.fault_contains and expect.fault_contains not in (message or ""):
                out.append(f"expected the fault message to contain {expect.fault_contains!r}, got {message!r}")
        else:
            assert isinstance(reply, SyncResponse)
            if expect.fault or expect.fault_contains:
                out.append(f"expected a fault{' ' + expect.fault if expect.fault else ''}, got status {reply.status.value}")
            elif expect.status and reply.status.value != expect.status:
                out.append(f"expected SHEP status {expect.status}, got {reply.status.value}: {reply.status_message}")
    if expect.malformed is not None:
        try:
            resp.xml()
            well_formed = True
        except Exception:
            well_formed = False
        if expect.malformed == well_formed:
            out.append(f"expected the body {'not ' if expect.malformed else ''}to be well-formed XML, "
                       f"got {len(resp.body)} bytes: {resp.body[:80]!r}")  # fmt: skip
    for name, value in expect.header.items():
        got = resp.headers.get(name)
        if got != value:
            out.append(f"header {name}: expected {value!r}, got {got!r}")
    for c in expect.xpath:
        out.extend(check_xpath(resp, c))
    for c in expect.json_:
        out.extend(check_json(resp, c))
    return out


def check_transport(expected: str, got: str | None, detail: str) -> list[str]:
    """``expect.transport``: ``got`` is what happened instead of a reply (reset, timeout) or None (a reply came)."""
    if got == expected:
        return []
    happened = "a reply" if got is None else ("the connection closed unanswered" if got == "reset" else "a timeout")
    wanted = "the connection closed or reset unanswered" if expected == "reset" else "the step's timeout to pass"
    return [f"expected {wanted}, got {happened} ({detail})"]


def capture(resp: Response, name: str, c: Capture) -> tuple[str | None, str | None]:
    """``(value, None)`` or ``(None, why it could not be captured)``."""
    try:
        if c.header is not None:
            value = resp.headers.get(c.header)
            return (value, None) if value is not None else (None, f"capture {name}: no header {c.header}")
        if c.xpath is not None:
            nodes = _xpath(resp, c.xpath, c.ns)
            texts = [_text(n) for n in nodes if n is not False]
            return (texts[0], None) if texts else (None, f"capture {name}: xpath {c.xpath} matched nothing")
        found, value = json_path(resp.as_json(), c.json_ or "")
        if not found:
            return None, f"capture {name}: json {c.json_} not present"
        return (value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)), None
    except Exception as exc:
        return None, f"capture {name}: {type(exc).__name__}: {exc}"
