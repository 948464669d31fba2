"""Validate SHEP SyncChannel bodies against the OFFICIAL SHEP v10 XSDs (and against shlyuz's own set).

Test helper, not a test module. libxml2 honours only the first ``xsd:import`` of a namespace, and the official set
imports the common and Types namespaces one type per file, so it cannot be loaded as published
(shared/reference/README.md). :func:`official_sync_schema` therefore copies the set to a temporary directory,
writes one wrapper schema per namespace that ``xsd:include``s every file of that namespace, points every
``xsd:import`` at the wrapper of its namespace, and compiles the SyncChannel Types wrapper. The published files are
never modified.

API::

    official_sync_schema(extra_xsds=()) -> etree.XMLSchema     # cached per tuple of extra paths
    own_sync_schema(extra_xsds=()) -> etree.XMLSchema          # schemas/shep/sync-v10-types.xsd, same contract
    sync_body(envelope_bytes) -> etree._Element                # SendMessage / SendMessageResponse / fault detail child
    validate_sync_body(envelope_bytes, extra_xsds=(), schema=None) -> None   # AssertionError with libxml2's log
    is_valid_sync_body(envelope_bytes, extra_xsds=(), schema=None) -> bool

``extra_xsds`` are payload schemas (e.g. a GBD FL schema): they are imported next to the SyncChannel types, so that
``xsi:type="ns:Response"`` on ``data`` resolves.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from xml.sax.saxutils import quoteattr

from lxml import etree

XS = "http://www.w3.org/2001/XMLSchema"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SYNC_TYPES = "http://bip.bee.kz/SyncChannel/v10/Types"
REFERENCE_ENV = "SHLYUZ_SHEP_REFERENCE"
REPO = Path(__file__).resolve().parents[1]
OWN_ENTRY = REPO / "schemas" / "shep" / "sync-v10-types.xsd"

_IMPORT = f"{{{XS}}}import"
_INCLUDE = f"{{{XS}}}include"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def reference_dir() -> Path:
    """The official SHEP v10 set: ``$SHLYUZ_SHEP_REFERENCE``, else ``<repo>/../shared/reference/shep-v10``."""
    env = os.environ.get(REFERENCE_ENV)
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared/reference/shep-v10"
    if not (path / "SyncChannel").is_dir():
        raise FileNotFoundError(f"the official SHEP v10 set is not at {path}; set {REFERENCE_ENV}")
    return path


def official_available() -> bool:
    try:
        reference_dir()
    except FileNotFoundError:
        return False
    return True


def _norm(extra_xsds: Iterable[Path | str]) -> tuple[Path, ...]:
    return tuple(Path(p).resolve() for p in extra_xsds)


def _target_ns(path: Path) -> str | None:
    return etree.parse(str(path), _PARSER).getroot().get("targetNamespace")


def _root_schema(entry: Path, extras: tuple[Path, ...], entry_ns: str = SYNC_TYPES) -> etree.XMLSchema:
    """Compile a namespace-less document that imports ``entry`` and every extra payload schema.

    Extras that share a namespace get one wrapper of their own (first-import rule again)."""
    by_ns: dict[str | None, list[Path]] = defaultdict(list)
    for path in extras:
        if not path.is_file():
            raise FileNotFoundError(f"extra XSD {path} does not exist")
        by_ns[_target_ns(path)].append(path)
    with tempfile.TemporaryDirectory(prefix="shlyuz-xsd-") as tmp:
        lines = [f'<xsd:schema xmlns:xsd="{XS}">']
        lines.append(f'<xsd:import namespace="{entry_ns}" schemaLocation={quoteattr(entry.as_uri())}/>')
        for i, (namespace, paths) in enumerate(by_ns.items()):
            if namespace is None:  # a no-namespace schema is included, not imported
                lines += [f"<xsd:include schemaLocation={quoteattr(p.as_uri())}/>" for p in paths]
                continue
            location = paths[0].as_uri()
            if len(paths) > 1:
                wrapper = Path(tmp) / f"extra-{i}.xsd"
                wrapper.write_text(_wrapper_text(namespace, [p.as_uri() for p in paths], {}), encoding="utf-8")
                location = wrapper.as_uri()
            lines.append(f"<xsd:import namespace={quoteattr(namespace)} schemaLocation={quoteattr(location)}/>")
        lines.append("</xsd:schema>")
        root_path = Path(tmp) / "root.xsd"
        root_path.write_text("\n".join(lines), encoding="utf-8")
        return etree.XMLSchema(etree.parse(str(root_path), _PARSER))


def _wrapper_text(namespace: str, includes: list[str], imports: dict[str, str]) -> str:
    lines = [f'<xsd:schema xmlns:xsd="{XS}" targetNamespace={quoteattr(namespace)}>']
    lines += [f"<xsd:include schemaLocation={quoteattr(loc)}/>" for loc in includes]
    lines += [
        f"<xsd:import namespace={quoteattr(ns)} schemaLocation={quoteattr(loc)}/>" for ns, loc in sorted(imports.items())
    ]
    lines.append("</xsd:schema>")
    return "\n".join(lines)


def _build_wrappers(copy: Path) -> dict[str, Path]:
    """Rewrite the copied set in place; return {namespace: wrapper path}."""
    docs: dict[Path, etree._ElementTree] = {}
    by_ns: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(copy.rglob("*.xsd")):
        tree = etree.parse(str(path), _PARSER)
        docs[path] = tree
        by_ns[tree.getroot().get("targetNamespace", "")].append(path)
    wrappers = {ns: copy / f"_wrapper_{i}.xsd" for i, ns in enumerate(sorted(by_ns))}
    needed: dict[str, set[str]] = defaultdict(set)  # namespace -> namespaces its files import
    for path, tree in docs.items():
        root = tree.getroot()
        own_ns = root.get("targetNamespace", "")
        for el in list(root):
            if el.tag == _INCLUDE:  # the wrapper includes every file of the namespace already
                root.remove(el)
            elif el.tag == _IMPORT:
                ns = el.get("namespace", "")
                if ns not in wrappers:
                    raise ValueError(f"{path} imports {ns!r}, which no file of the set declares")
                el.set("schemaLocation", wrappers[ns].as_uri())
                needed[own_ns].add(ns)
        tree.write(str(path), xml_declaration=True, encoding="UTF-8")
    for ns, files in by_ns.items():
        imports = {other: wrappers[other].as_uri() for other in needed[ns]}
        wrappers[ns].write_text(_wrapper_text(ns, [p.as_uri() for p in files], imports), encoding="utf-8")
    return wrappers


@functools.lru_cache(maxsize=16)
def _official(extras: tuple[Path, ...], entry_ns: str = SYNC_TYPES) -> etree.XMLSchema:
    src = reference_dir()
    with tempfile.TemporaryDirectory(prefix="shlyuz-shep-ref-") as tmp:
        copy = Path(tmp) / "shep-v10"
        shutil.copytree(src, copy)
        for path in copy.rglob("*"):  # the published tree is read-only; the copy inherits the modes
            path.chmod(0o755 if path.is_dir() else 0o644)
        copy.chmod(0o755)
        wrappers = _build_wrappers(copy)
        # libxml2 compiles everything in memory: the temporary files are not needed after this.
        return _root_schema(wrappers[entry_ns], extras, entry_ns)


@functools.lru_cache(maxsize=16)
def _own(extras: tuple[Path, ...]) -> etree.XMLSchema:
    return _root_schema(OWN_ENTRY, extras)


def official_sync_schema(extra_xsds: Iterable[Path | str] = ()) -> etree.XMLSchema:
    """The official SyncChannel contract (through per-namespace wrappers), plus payload schemas."""
    return _official(_norm(extra_xsds))


def own_sync_schema(extra_xsds: Iterable[Path | str] = ()) -> etree.XMLSchema:
    """shlyuz's own schema set (schemas/shep/), plus payload schemas."""
    return _own(_norm(extra_xsds))


def sync_body(envelope_bytes: bytes) -> etree._Element:
    """The element to validate: the single soap:Body child, or for a soap:Fault its detail's single element."""
    root = etree.fromstring(envelope_bytes, _PARSER)
    assert root.tag == f"{{{SOAP11}}}Envelope", f"not a SOAP 1.1 envelope: {root.tag}"
    bodies = root.findall(f"{{{SOAP11}}}Body")
    assert len(bodies) == 1, f"the envelope has {len(bodies)} Body elements"
    children = [c for c in bodies[0] if isinstance(c.tag, str)]
    assert len(children) == 1, f"the Body holds {len(children)} elements"
    body = children[0]
    if body.tag == f"{{{SOAP11}}}Fault":
        detail = body.find("detail")
        assert detail is not None, "the soap:Fault has no detail"
        children = [c for c in detail if isinstance(c.tag, str)]
        assert len(children) == 1, f"the fault detail holds {len(children)} elements"
        body = children[0]
    return body


def validate_sync_body(
    envelope_bytes: bytes, extra_xsds: Iterable[Path | str] = (), schema: etree.XMLSchema | None = None
) -> None:
    """Validate the body element in place (in-scope namespace declarations of the envelope stay visible)."""
    schema = schema if schema is not None else official_sync_schema(extra_xsds)
    body = sync_body(envelope_bytes)
    if not schema.validate(body):
        log = "\n".join(f"  line {e.line}: {e.message}" for e in schema.error_log)
        raise AssertionError(f"{etree.QName(body).localname} is not valid:\n{log}")


def is_valid_sync_body(
    envelope_bytes: bytes, extra_xsds: Iterable[Path | str] = (), schema: etree.XMLSchema | None = None
) -> bool:
    try:
        validate_sync_body(envelope_bytes, extra_xsds, schema)
    except AssertionError:
        return False
    return True


# -- AsyncChannel v10 -------------------------------------------------------------------------------------------
ASYNC_TYPES = "http://bip.bee.kz/AsyncChannel/v10/Types"
ASYNC_CLIENT = "http://bip.bee.kz/AsyncChannel/v10/Types/Client"


def official_async_schema(extra_xsds: Iterable[Path | str] = (), *, client: bool = False) -> etree.XMLSchema:
    """The official AsyncChannel contract: IAsyncChannel.xsd (SHEP's operations), or with ``client=True``
    IAsyncChannelClient.xsd (what SHEP sends to a participant's endpoint and what it answers)."""
    return _official(_norm(extra_xsds), ASYNC_CLIENT if client else ASYNC_TYPES)


@functools.lru_cache(maxsize=4)
def _own_async(client: bool) -> etree.XMLSchema:
    entry = REPO / "schemas" / "shep" / "async" / ("async-v10-client-types.xsd" if client else "async-v10-types.xsd")
    return _root_schema(entry, (), ASYNC_CLIENT if client else ASYNC_TYPES)


def own_async_schema(*, client: bool = False) -> etree.XMLSchema:
    """shlyuz's own AsyncChannel schemas (schemas/shep/async-v10-*.xsd)."""
    return _own_async(client)


def validate_async_body(envelope_bytes: bytes, *, client: bool = False, schema: etree.XMLSchema | None = None) -> None:
    """Validate an AsyncChannel body (operation element, or a fault's detail element) against the official XSDs.
    The client side (``client=True``) is chosen by the element's namespace when not given."""
    body = sync_body(envelope_bytes)
    if schema is None:
        client = client or etree.QName(body).namespace == ASYNC_CLIENT
        schema = official_async_schema(client=client)
    if not schema.validate(body):
        log = "\n".join(f"  line {e.line}: {e.message}" for e in schema.error_log)
        raise AssertionError(f"{etree.QName(body).localname} is not valid:\n{log}")
