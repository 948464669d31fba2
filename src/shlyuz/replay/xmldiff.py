"""Compare two SOAP messages: exclusive C14N, volatile fields masked, differences reported by XPath.

Sans-IO. :func:`prepare` parses (through :mod:`shlyuz.xml.safe`), unfolds escaped XML strings in ``data``, maps the
identifiers the replay changed back to the recorded ones, applies the masks and canonicalises (exclusive C14N);
:func:`diff` walks two prepared trees by namespace URI and local name (prefixes never matter, nor attribute order,
nor ``xsi:type`` prefixes) and returns every differing node with its XPath.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from lxml import etree

from shlyuz.errors import ShlyuzError
from shlyuz.shep import ns
from shlyuz.xml.safe import DEFAULT_LIMITS, XmlLimits, parse

MASKED = "\u2039masked\u203a"  # ‹masked›
NAMESPACES: dict[str, str] = {
    "soap": ns.SOAP11,
    "sync": ns.SYNC_TYPES,
    "wsse": ns.WSSE,
    "wsu": ns.WSU,
    "ds": ns.DS,
    "xsi": ns.XSI,
    "xs": ns.XS,
}
XSI_TYPE = ns.q(ns.XSI, "type")


@dataclass(frozen=True)
class Mask:
    """An XPath 1.0 expression (elements, attributes or text nodes) whose matches are not compared."""

    xpath: str
    namespaces: Mapping[str, str] = field(default_factory=dict)
    why: str = "user mask"

    def compile(self) -> etree.XPath:
        try:
            return etree.XPath(self.xpath, namespaces={**NAMESPACES, **self.namespaces})
        except etree.XPathSyntaxError as exc:
            raise ValueError(f"mask {self.xpath!r} is not a valid XPath: {exc}") from None


# The volatile fields of a SyncChannel reply (docs/record-replay.md, "Masking").
RESPONSE_MASKS: tuple[Mask, ...] = (
    Mask("//*[local-name()='messageId']", why="messageId: new on every exchange"),
    Mask("//*[local-name()='responseDate' or local-name()='messageDate' or local-name()='errorDate']", why="dates"),
    Mask("//*[local-name()='sessionId']", why="sessionId: new on every exchange"),
    Mask("//ds:Signature", why="signatures: new value on every exchange"),
    Mask("//wsse:Security", why="WS-Security header: new on every exchange"),
    Mask("//@wsu:Id", why="the signed Body's wsu:Id"),
)
# What the matcher of `replay --serve` ignores in a request.
REQUEST_MASKS: tuple[Mask, ...] = (
    Mask("/soap:Envelope/soap:Body/sync:SendMessage/request/requestInfo/messageId"),
    Mask("/soap:Envelope/soap:Body/sync:SendMessage/request/requestInfo/messageDate"),
    Mask("/soap:Envelope/soap:Body/sync:SendMessage/request/requestInfo/sessionId"),
    Mask("/soap:Envelope/soap:Body/sync:SendMessage/request/requestInfo/correlationId"),
    Mask("/soap:Envelope/soap:Body/sync:SendMessage/request/requestInfo/sender/password"),
    Mask("//ds:Signature"),
    Mask("//wsse:Security"),
    Mask("//@wsu:Id"),
)


@dataclass(frozen=True)
class Difference:
    xpath: str
    kind: str  # "text", "attribute", "element", "missing", "extra", "status", "body"
    expected: str | None
    actual: str | None

    def __str__(self) -> str:
        return f"{self.xpath}: expected {_show(self.expected)}, got {_show(self.actual)}"


def _show(value: str | None, limit: int = 120) -> str:
    if value is None:
        return "nothing"
    return repr(value if len(value) <= limit else value[:limit] + "…")


def _unfold_escaped(root: etree._Element, limits: XmlLimits) -> None:
    """``<data xsi:type="xs:string">&lt;…&gt;</data>`` → the parsed document as the element's child, so masks and
    differences reach inside it. Text that is not XML stays text."""
    for el in list(root.iter()):
        if not isinstance(el.tag, str) or len(el) or not (el.text or "").lstrip().startswith("<"):
            continue
        value = el.get(XSI_TYPE)
        if value is None:
            continue
        prefix, _, local = value.strip().rpartition(":")
        if local != "string" or el.nsmap.get(prefix or None) != ns.XS:
            continue
        try:
            inner = parse(el.text.encode("utf-8"), limits)
        except ShlyuzError:
            continue
        el.text = None
        el.append(inner)


def _substitute(root: etree._Element, substitutions: Mapping[str, str]) -> None:
    if not substitutions:
        return
    for el in root.iter():
        if isinstance(el.tag, str) and el.text is not None and not len(el):
            new = substitutions.get(el.text.strip())
            if new is not None:
                el.text = new


def apply_masks(root: etree._Element, masks: Iterable[Mask]) -> None:
    for mask in masks:
        for hit in mask.compile()(root):
            if isinstance(hit, etree._Element):
                if not isinstance(hit.tag, str):
                    continue
                for child in list(hit):
                    hit.remove(child)
                for key in list(hit.attrib):
                    del hit.attrib[key]
                hit.text = MASKED
            elif isinstance(hit, etree._ElementUnicodeResult):
                parent = hit.getparent()
                if parent is None:
                    continue
                if hit.is_attribute:
                    parent.set(hit.attrname, MASKED)
                elif hit.is_tail:
                    parent.tail = MASKED
                elif hit.is_text:
                    parent.text = MASKED


def prepare(
    body: bytes,
    masks: Sequence[Mask] = RESPONSE_MASKS,
    *,
    substitutions: Mapping[str, str] | None = None,
    limits: XmlLimits = DEFAULT_LIMITS,
) -> etree._Element:
    """Parse, unfold, substitute, mask, canonicalise. Raises :class:`ShlyuzError` for XML that is not safe or
    well-formed."""
    root = parse(body, limits)
    _unfold_escaped(root, limits)
    _substitute(root, substitutions or {})
    apply_masks(root, masks)
    canonical = etree.tostring(root, method="c14n", exclusive=True, with_comments=False)
    return parse(canonical, limits)


class _Namer:
    """XPath steps with prefixes: the well-known ones, then those the expected document declares."""

    def __init__(self, extra: Mapping[str, str]) -> None:
        self.prefix_of: dict[str, str] = {}
        self.used: dict[str, str] = {}
        for prefix, uri in {**NAMESPACES, **extra}.items():
            self.prefix_of.setdefault(uri, prefix)

    def step(self, tag: str) -> str:
        q = etree.QName(tag)
        if not q.namespace:
            return q.localname
        prefix = self.prefix_of.get(q.namespace)
        if prefix is None:  # a namespace only the actual document has
            taken = set(self.prefix_of.values())
            prefix = next(f"ns{n}" for n in range(1, len(taken) + 2) if f"ns{n}" not in taken)
            self.prefix_of[q.namespace] = prefix
        self.used[prefix] = q.namespace
        return f"{prefix}:{q.localname}"


def _doc_namespaces(root: etree._Element) -> dict[str, str]:
    out: dict[str, str] = {}
    for el in root.iter():
        if isinstance(el.tag, str):
            for prefix, uri in el.nsmap.items():
                if prefix and prefix not in out and uri not in NAMESPACES.values():
                    out[prefix] = uri
    return out


def _attr_value(el: etree._Element, key: str, value: str) -> str:
    if key == XSI_TYPE:  # a QName in text: compare it by namespace, not prefix
        prefix, _, local = value.strip().rpartition(":")
        uri = el.nsmap.get(prefix or None)
        return f"{{{uri}}}{local}" if uri else local
    return value


def _text(el: etree._Element) -> str:
    text = el.text or ""
    return text.strip() if len(el) else text


def diff(expected: etree._Element, actual: etree._Element, *, limit: int = 200) -> tuple[list[Difference], dict[str, str]]:
    """Every difference between two prepared trees (at most ``limit``), and the namespace map their XPaths use."""
    namer = _Namer(_doc_namespaces(expected))
    out: list[Difference] = []

    def add(path: str, kind: str, e: str | None, a: str | None) -> None:
        if len(out) < limit:
            out.append(Difference(path, kind, e, a))

    def walk(e: etree._Element, a: etree._Element, path: str) -> None:
        if e.tag != a.tag:
            add(path, "element", etree.QName(e).text, etree.QName(a).text)
            return
        e_attrs = {k: _attr_value(e, k, v) for k, v in e.attrib.items()}
        a_attrs = {k: _attr_value(a, k, v) for k, v in a.attrib.items()}
        for key in sorted(set(e_attrs) | set(a_attrs)):
            if e_attrs.get(key) != a_attrs.get(key):
                add(f"{path}/@{namer.step(key)}", "attribute", e_attrs.get(key), a_attrs.get(key))
        if _text(e) != _text(a):
            add(f"{path}/text()", "text", _text(e), _text(a))
        e_kids = [c for c in e if isinstance(c.tag, str)]
        a_kids = [c for c in a if isinstance(c.tag, str)]
        order: list[str] = []
        for c in e_kids + a_kids:
            if c.tag not in order:
                order.append(c.tag)
        for tag in order:
            es = [c for c in e_kids if c.tag == tag]
            as_ = [c for c in a_kids if c.tag == tag]
            many = max(len(es), len(as_)) > 1
            for i in range(max(len(es), len(as_))):
                step = namer.step(tag) + (f"[{i + 1}]" if many else "")
                child_path = f"{path}/{step}"
                if i >= len(as_):
                    add(child_path, "missing", _summary(es[i]), None)
                elif i >= len(es):
                    add(child_path, "extra", None, _summary(as_[i]))
                else:
                    walk(es[i], as_[i], child_path)

    walk(expected, actual, "/" + namer.step(expected.tag))
    used = {p: u for p, u in namer.used.items() if any(f"/{p}:" in d.xpath or f"@{p}:" in d.xpath for d in out)}
    return out, used


def fingerprint(root: etree._Element) -> str:
    """A prefix-free serialisation of a prepared tree (Clark names, attributes sorted, ``xsi:type`` resolved, text
    between elements ignored): equal for documents :func:`diff` finds no difference in."""
    parts: list[str] = []

    def walk(el: etree._Element) -> None:
        attrs = sorted((k, _attr_value(el, k, v)) for k, v in el.attrib.items())
        parts.append(f"<{el.tag}{attrs!r}{_text(el)!r}")
        for child in el:
            if isinstance(child.tag, str):
                walk(child)
        parts.append(">")

    walk(root)
    return "".join(parts)


_XMLNS = re.compile(r'\s+xmlns(?::[\w.-]+)?="[^"]*"')


def _summary(el: etree._Element, limit: int = 200) -> str:
    """The element as XML, without the namespace declarations lxml repeats on a detached subtree."""
    text = _XMLNS.sub("", etree.tostring(el, encoding="unicode", with_tail=False))
    return text if len(text) <= limit else text[:limit] + "…"


def compare_bodies(
    expected: bytes,
    actual: bytes,
    masks: Sequence[Mask] = RESPONSE_MASKS,
    *,
    substitutions: Mapping[str, str] | None = None,
    limits: XmlLimits = DEFAULT_LIMITS,
) -> tuple[list[Difference], dict[str, str]]:
    """Differences between a recorded and an actual body; bodies that are not XML are compared as text."""
    try:
        e = prepare(expected, masks, limits=limits)
    except ShlyuzError:
        e = None
    try:
        a = prepare(actual, masks, substitutions=substitutions, limits=limits)
    except ShlyuzError as exc:
        if e is None:
            same = expected == actual
            return ([] if same else [Difference("body", "body", _clip(expected), _clip(actual))]), {}
        return [Difference("body", "body", "an XML document", f"not XML the safe parser accepts: {exc}")], {}
    if e is None:
        return [Difference("body", "body", _clip(expected), "an XML document")], {}
    return diff(e, a)


def _clip(raw: bytes, limit: int = 200) -> str:
    text = raw.decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[:limit] + "…"
