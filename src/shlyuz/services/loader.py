"""Load service definitions from ``fixtures/services/*.yaml`` safely, and look them up.

Every file is read with a size cap, parsed by a YAML safe loader that also refuses anchors/aliases (no
"billion laughs"), duplicate keys and non-string keys (YAML 1.1 reads a bare ``yes:``/``no:`` key as a boolean),
then validated by :class:`~shlyuz.services.model.Service`. Whatever is wrong, the error names the file, the path
inside it and what is wrong: :class:`ServiceDefinitionError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from shlyuz.config import repo_path
from shlyuz.services.model import RefError, Service

MAX_FILE_BYTES = 512 * 1024  # the largest definition (annex 4) is about 60 KiB
MAX_DEPTH = 32


def services_dir() -> Path:
    """Where the shipped definitions live in a source checkout."""
    return repo_path("fixtures") / "services"


class ServiceDefinitionError(ValueError):
    """A definition file that cannot be loaded: ``file``, ``path`` (dotted, e.g. ``channels[1].chain[4].if_no``)
    and ``problem`` say what and where."""

    def __init__(self, file: Path | str, path: str, problem: str) -> None:
        self.file = str(file)
        self.path = path
        self.problem = problem
        where = f"{self.file}: {path}" if path else self.file
        super().__init__(f"{where}: {problem}")


class _Loader(yaml.SafeLoader):
    """SafeLoader without aliases, duplicate keys, non-string keys or deep nesting."""

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(
                None, None, "YAML aliases (*name) are not allowed in a service definition", event.start_mark
            )
        event = self.peek_event()
        if getattr(event, "anchor", None):
            raise yaml.constructor.ConstructorError(
                None, None, f"YAML anchors (&{event.anchor}) are not allowed in a service definition", event.start_mark
            )
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.constructor.ConstructorError(
                    None, None, f"nesting deeper than {MAX_DEPTH} levels", event.start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:  # type: ignore[override]
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                hint = ""
                if isinstance(key, bool):
                    hint = " (YAML reads a bare yes/no/on/off/true/false key as a boolean: use if_yes / if_no)"
                raise yaml.constructor.ConstructorError(
                    None, None, f"mapping key {key!r} is not a string{hint}", key_node.start_mark
                )
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {seen[key].line + 1})", key_node.start_mark
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def parse_service(data: bytes, file: Path | str = "<bytes>") -> Service:
    """Parse and validate one definition from bytes; raise ServiceDefinitionError on anything wrong."""
    if len(data) > MAX_FILE_BYTES:
        raise ServiceDefinitionError(file, "", f"file is {len(data)} bytes, over the {MAX_FILE_BYTES}-byte cap")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ServiceDefinitionError(file, "", f"not UTF-8: byte {exc.start} ({data[exc.start]:#04x})") from None
    try:
        raw = yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ServiceDefinitionError(file, where, str(exc.problem or exc.context or "invalid YAML")) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise ServiceDefinitionError(file, "", f"invalid YAML: {exc.__class__.__name__}") from None
    except (ValueError, KeyError, TypeError, OverflowError, AttributeError) as exc:  # a constructor's own: 2026-13-45
        problem = f"invalid YAML: a value cannot be read ({type(exc).__name__}: {exc})"[:300]
        raise ServiceDefinitionError(file, "", problem) from None
    if not isinstance(raw, dict):
        raise ServiceDefinitionError(file, "", f"the document must be a mapping, got {type(raw).__name__}")
    try:
        return Service.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        msg = first["msg"].removeprefix("Value error, ")
        path = _loc(first["loc"])
        cause = (first.get("ctx") or {}).get("error")
        if isinstance(cause, RefError):
            path = f"{path}.{cause.path}" if path else cause.path
        raise ServiceDefinitionError(file, path, f"{msg}{more}") from None


def load_service(path: Path) -> Service:
    """Load one file; its name must be ``<id>.yaml``."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ServiceDefinitionError(path, "", f"cannot read: {exc.strerror}") from None
    service = parse_service(data, path)
    if path.stem != service.id:
        raise ServiceDefinitionError(path, "id", f"id {service.id!r} does not match the file name {path.name!r}")
    return service


@dataclass(frozen=True)
class ServiceCatalogue:
    """The loaded definitions, with lookups by id and by annex number (of the 2017 or the 2015 resolution)."""

    services: tuple[Service, ...]
    _by_id: dict[str, Service] = field(init=False, repr=False, compare=False)
    _by_annex: dict[tuple[int, int], Service] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_id: dict[str, Service] = {}
        by_annex: dict[tuple[int, int], Service] = {}
        for s in self.services:
            if s.id in by_id:
                raise ServiceDefinitionError(s.id, "id", "two definitions have the same id")
            by_id[s.id] = s
            for year, annex in ((2017, s.annexes.order_2017), (2015, s.annexes.order_2015)):
                other = by_annex.get((year, annex.number))
                if other is not None:
                    raise ServiceDefinitionError(
                        s.id, f"annexes.order_{year}", f"annex {annex.number} of {year} is also {other.id!r}"
                    )
                by_annex[(year, annex.number)] = s
        object.__setattr__(self, "_by_id", by_id)
        object.__setattr__(self, "_by_annex", by_annex)

    @classmethod
    def load(cls, directory: Path | None = None) -> ServiceCatalogue:
        directory = directory or services_dir()
        if not directory.is_dir():
            raise ServiceDefinitionError(directory, "", "not a directory")
        files = sorted(directory.glob("*.yaml"))
        return cls.from_services(load_service(f) for f in files)

    @classmethod
    def from_services(cls, services: Iterable[Service]) -> ServiceCatalogue:
        return cls(tuple(sorted(services, key=lambda s: s.annexes.order_2017.number)))

    def __iter__(self) -> Iterator[Service]:
        return iter(self.services)

    def __len__(self) -> int:
        return len(self.services)

    def get(self, service_id: str) -> Service:
        try:
            return self._by_id[service_id]
        except KeyError:
            known = ", ".join(sorted(self._by_id))
            raise KeyError(f"no service {service_id!r}; known: {known}") from None

    def by_annex(self, number: int, *, order: int = 2017) -> Service:
        """The service of annex ``number`` of the 2017 resolution (No. 4/499) or, with order=2015, of No. 3/539."""
        if order not in (2015, 2017):
            raise ValueError(f"order must be 2017 or 2015, not {order}")
        try:
            return self._by_annex[(order, number)]
        except KeyError:
            raise KeyError(f"no service is annex {number} of the {order} resolution") from None

    def find(self, key: str) -> Service:
        """By id, or by a 2017 annex number given as digits (the CLI accepts both)."""
        if key.isdigit():
            return self.by_annex(int(key))
        return self.get(key)
