"""Publishing the SyncChannel WSDL and its XSDs (``?wsdl`` / ``?xsd=name``), sans I/O.

:class:`SchemaDocs` reads shlyuz's own schema set (``schemas/shep/``) once and serves it with the gateway's address
filled in: ``soap:address/@location`` becomes ``{base_url}{endpoint_path}`` and every ``xsd:import`` /
``xsd:include`` ``schemaLocation`` becomes ``{base_url}{endpoint_path}?xsd={filename}``, so a client (zeep,
wsimport, SoapUI) that fetches ``?wsdl`` can follow every reference back to the gateway. XSD names are looked up in
an allow-list of the files in the directory: a name is never used as a path.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from lxml import etree

from shlyuz.xml.safe import parse

SCHEMAS_ENV = "SHLYUZ_SCHEMAS_DIR"
SHEP_SUBDIR = "shep"
WSDL_NAME = "SyncChannel.wsdl"
DEFAULT_ENDPOINT_PATH = "/bip-sync/"

XS = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP11 = "http://schemas.xmlsoap.org/wsdl/soap/"
_SCHEMA_REFS = (f"{{{XS}}}import", f"{{{XS}}}include", f"{{{XS}}}redefine")
_SOAP_ADDRESS = f"{{{WSDL_SOAP11}}}address"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\.xsd")
_BASE_URL_RE = re.compile(r"https?://[^\s\"'<>\\?#]+", re.IGNORECASE)
_PATH_RE = re.compile(r"/[^\s\"'<>\\?#]*")


class SchemasNotFoundError(FileNotFoundError):
    """The schema directory could not be located."""


def schemas_dir() -> Path:
    """The ``schemas/`` directory: ``$SHLYUZ_SCHEMAS_DIR`` if set, else the repository's ``schemas/``."""
    env = os.environ.get(SCHEMAS_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise SchemasNotFoundError(f"{SCHEMAS_ENV}={env!r} is not a directory")
        return path.resolve()
    # src/shlyuz/gateway/wsdl.py -> parents[1] is the package, parents[3] the repository root
    path = Path(__file__).resolve().parents[1] / ".." / ".." / "schemas"
    if not path.is_dir():
        raise SchemasNotFoundError(
            f"the schema directory {path.resolve()} does not exist; set {SCHEMAS_ENV} to the directory that holds "
            f"{SHEP_SUBDIR}/{WSDL_NAME}"
        )
    return path.resolve()


def _service_url(base_url: str, endpoint_path: str) -> str:
    if not _BASE_URL_RE.fullmatch(base_url):
        raise ValueError(f"base_url {base_url!r} must be an http(s) URL without query, fragment or spaces")
    if not _PATH_RE.fullmatch(endpoint_path):
        raise ValueError(f"endpoint_path {endpoint_path!r} must start with '/' and hold no query or spaces")
    return base_url.rstrip("/") + endpoint_path


def is_safe_name(name: str) -> bool:
    """A plain ``*.xsd`` file name: no directory part, no ``..``, no backslash."""
    return "/" not in name and "\\" not in name and ".." not in name and bool(_NAME_RE.fullmatch(name))


class SchemaDocs:
    """The WSDL and XSD files of the SyncChannel, read once and served with rewritten locations.

    ``directory`` is either the ``schemas/`` root (as returned by :func:`schemas_dir`) or its ``shep/`` directory.
    """

    def __init__(self, directory: Path, wsdl_name: str = WSDL_NAME) -> None:
        directory = Path(directory)
        if not (directory / wsdl_name).is_file() and (directory / SHEP_SUBDIR / wsdl_name).is_file():
            directory = directory / SHEP_SUBDIR
        wsdl_path = directory / wsdl_name
        if not wsdl_path.is_file():
            raise SchemasNotFoundError(f"{wsdl_path} does not exist")
        self.directory = directory
        self.wsdl_name = wsdl_name
        self._wsdl = wsdl_path.read_bytes()
        self._xsds: dict[str, bytes] = {
            p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file() and is_safe_name(p.name)
        }
        # Every reference must point at a file we serve, or a client would be sent somewhere we do not answer.
        for name, raw in [(wsdl_name, self._wsdl), *self._xsds.items()]:
            for ref in self._references(parse(raw)):
                if ref not in self._xsds:
                    raise ValueError(f"{name} references {ref!r}, which is not an XSD in {directory}")

    @property
    def xsd_names(self) -> frozenset[str]:
        """The allow-list: the XSD file names that :meth:`xsd` serves."""
        return frozenset(self._xsds)

    def raw(self, name: str) -> bytes | None:
        """The file as stored (the WSDL, ``SyncChannel.wsdl`` by default, or an allow-listed XSD), or ``None``."""
        if name == self.wsdl_name:
            return self._wsdl
        return self._xsds.get(name) if is_safe_name(name) else None

    def wsdl(self, base_url: str, endpoint_path: str = DEFAULT_ENDPOINT_PATH) -> bytes:
        """The WSDL with ``soap:address`` set to ``base_url + endpoint_path`` and schemaLocations to ``?xsd=``."""
        url = _service_url(base_url, endpoint_path)
        root = parse(self._wsdl)
        for address in root.iter(_SOAP_ADDRESS):
            address.set("location", url)
        self._rewrite(root, url)
        return _serialize(root)

    def xsd(self, name: str, base_url: str, endpoint_path: str = DEFAULT_ENDPOINT_PATH) -> bytes | None:
        """The XSD ``name`` (a bare file name from :attr:`xsd_names`) with rewritten schemaLocations, or ``None``."""
        if not isinstance(name, str) or not is_safe_name(name) or name not in self._xsds:
            return None
        url = _service_url(base_url, endpoint_path)
        root = parse(self._xsds[name])
        self._rewrite(root, url)
        return _serialize(root)

    @staticmethod
    def _references(root: etree._Element) -> list[str]:
        return [
            Path(el.get("schemaLocation", "")).name
            for el in root.iter(*_SCHEMA_REFS)
            if el.get("schemaLocation")
        ]

    def _rewrite(self, root: etree._Element, url: str) -> None:
        for el in root.iter(*_SCHEMA_REFS):
            location = el.get("schemaLocation")
            if location:
                el.set("schemaLocation", f"{url}?xsd={Path(location).name}")


def _serialize(root: etree._Element) -> bytes:
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")
