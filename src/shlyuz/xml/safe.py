"""Safe XML parsing: no DTD, no entities, no network, bounded size and depth.

Every XML byte string that reaches shlyuz from outside goes through :func:`parse`. A DOCTYPE is refused outright
(that covers XXE, billion laughs and external DTDs in one rule); libxml2's own limits stay on (no ``huge_tree``), and
depth and element count are capped on top.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from shlyuz.errors import ErrorCode, ShlyuzError


@dataclass(frozen=True, slots=True)
class XmlLimits:
    max_bytes: int = 10 * 1024 * 1024
    max_depth: int = 64
    max_elements: int = 100_000


DEFAULT_LIMITS = XmlLimits()


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
        collect_ids=False,
    )


def parse(data: bytes | str, limits: XmlLimits = DEFAULT_LIMITS) -> etree._Element:
    """Parse ``data`` into its document element, or raise :class:`ShlyuzError` with a precise code."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not data.strip():
        raise ShlyuzError(ErrorCode.EMPTY_BODY, "the document is empty")
    if len(data) > limits.max_bytes:
        raise ShlyuzError(
            ErrorCode.BODY_TOO_LARGE, f"the document is {len(data)} bytes; the cap is {limits.max_bytes} bytes"
        )
    if _has_doctype(data):
        raise ShlyuzError(
            ErrorCode.XML_DTD_FORBIDDEN,
            "the document has a DOCTYPE; DTDs, entity declarations and external entities are never processed",
        )
    # A parser object is not thread-safe and keeps state between calls: make one per call (cheap).
    parser = _parser()
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        msg = str(exc)
        if "depth" in msg.lower():
            raise ShlyuzError(ErrorCode.XML_TOO_DEEP, f"nesting exceeds the parser's limit: {msg}") from None
        if "DOCTYPE" in msg or "network entity" in msg or "failed to load" in msg:
            raise ShlyuzError(ErrorCode.XML_DTD_FORBIDDEN, f"DTDs and entities are not allowed: {msg}") from None
        raise ShlyuzError(ErrorCode.MALFORMED_XML, f"not well-formed XML: {msg}") from None
    except ValueError as exc:  # e.g. a str with an encoding declaration
        raise ShlyuzError(ErrorCode.MALFORMED_XML, f"not well-formed XML: {exc}") from None
    if root is None:
        raise ShlyuzError(ErrorCode.MALFORMED_XML, "not well-formed XML: no document element")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise ShlyuzError(
            ErrorCode.XML_DTD_FORBIDDEN,
            "the document has a DOCTYPE; DTDs, entity declarations and external entities are never processed",
        )
    _check_shape(root, limits)
    return root


_PROLOG_ITEM = re.compile(rb"\s+|<\?.*?\?>|<!--.*?-->", re.S)


def _has_doctype(data: bytes) -> bool:
    """True when the prolog (before the document element) holds ``<!DOCTYPE``."""
    pos = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    end = min(len(data), 64 * 1024)
    while pos < end:
        m = _PROLOG_ITEM.match(data, pos)
        if m is None or m.end() == pos:
            break
        pos = m.end()
    return data.startswith(b"<!DOCTYPE", pos) or data.startswith(b"<!doctype", pos)


def _check_shape(root: etree._Element, limits: XmlLimits) -> None:
    count = 0
    max_depth = limits.max_depth
    # iterate with explicit depth tracking; iterwalk gives start/end events without recursion
    depth = 0
    for event, _el in etree.iterwalk(root, events=("start", "end")):
        if event == "start":
            depth += 1
            count += 1
            if depth > max_depth:
                raise ShlyuzError(
                    ErrorCode.XML_TOO_DEEP, f"elements are nested {depth} deep; the cap is {max_depth}"
                )
            if count > limits.max_elements:
                raise ShlyuzError(
                    ErrorCode.XML_TOO_LARGE, f"the document has more than {limits.max_elements} elements"
                )
        else:
            depth -= 1
