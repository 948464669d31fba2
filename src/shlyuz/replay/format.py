"""The recording format: JSON Lines, one header line then one line per exchange (docs/record-replay.md).

Sans-IO: models (pydantic v2, so ``schemas/replay/recording.schema.json`` is exported from them), a reader that
refuses malformed, oversized or wrong-version lines with the line number and the reason, and the writers.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

FORMAT = "shlyuz-recording"
FORMAT_VERSION = 1
DEFAULT_MAX_LINE_BYTES = 48 * 1024 * 1024  # two bodies at the default 10 MiB cap, JSON-escaped, with room
DEFAULT_MAX_EXCHANGES = 100_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Provenance(_Model):
    """Where the exchanges come from."""

    kind: Literal["record", "journal-export"]
    upstream: str | None = Field(None, description="record: the upstream every request was forwarded to")
    journal: str | None = Field(None, description="journal-export: the database file or gateway URL read")
    filters: dict[str, str] = Field(default_factory=dict, description="journal-export: the filters applied")
    listen: str | None = Field(None, description="record: the address the proxy listened on")


class Header(_Model):
    """The first line of every recording."""

    type: Literal["header"] = "header"
    format: Literal["shlyuz-recording"] = FORMAT
    format_version: int = Field(FORMAT_VERSION, alias="formatVersion")
    created_at: AwareDatetime = Field(alias="createdAt")
    generator: str = Field(description="the program and version that wrote the file, e.g. 'shlyuz 0.1.0'")
    provenance: Provenance


class Message(_Model):
    """One HTTP message. ``body`` is the text as sent (``bodyEncoding`` utf-8) or, for bytes that are not UTF-8,
    base64."""

    content_type: str | None = Field(None, alias="contentType")
    headers: dict[str, str] = Field(default_factory=dict, description="the headers that matter (SOAPAction, ...)")
    body: str
    body_encoding: Literal["utf-8", "base64"] = Field("utf-8", alias="bodyEncoding")

    def raw(self) -> bytes:
        if self.body_encoding == "base64":
            return base64.b64decode(self.body)
        return self.body.encode("utf-8")

    @classmethod
    def of(cls, raw: bytes, content_type: str | None, headers: dict[str, str] | None = None) -> Message:
        try:
            return cls(contentType=content_type, headers=headers or {}, body=raw.decode("utf-8"))
        except UnicodeDecodeError:
            return cls(contentType=content_type, headers=headers or {}, body=base64.b64encode(raw).decode("ascii"),
                       bodyEncoding="base64")  # fmt: skip


class RecordedRequest(Message):
    method: Literal["POST"] = "POST"


class RecordedResponse(Message):
    status: int = Field(ge=100, le=599, description="the HTTP status")


class MessageIds(_Model):
    request: str | None = Field(None, description="requestInfo/messageId")
    correlation: str | None = Field(None, description="requestInfo/correlationId")
    response: str | None = Field(None, description="responseInfo/messageId")


class SignatureFact(_Model):
    """Who signed: the certificate's facts, and the PKI identity name when it was known."""

    identity: str | None = Field(None, description="the PKI identity name, e.g. person/900101300017/sign")
    subject: str | None = None
    issuer: str | None = None
    serial: str | None = Field(None, description="certificate serial number, hexadecimal")
    purpose: Literal["sign", "auth"] | None = Field(None, description="sign: nonRepudiation in the key usage")
    key_ref: str | None = Field(None, alias="keyRef", description="key-identifier, issuer-serial, x509-certificate")
    sha256: str | None = Field(None, description="SHA-256 fingerprint of the certificate, hex")


class Signatures(_Model):
    wsse: SignatureFact | None = Field(None, description="the WS-Security signature over soap:Body")
    data: SignatureFact | None = Field(None, description="the enveloped signature inside requestData/data")
    response_wsse: SignatureFact | None = Field(None, alias="responseWsse")
    response_data: SignatureFact | None = Field(None, alias="responseData")


class Timings(_Model):
    received_at: AwareDatetime | None = Field(None, alias="receivedAt")
    duration_ms: float | None = Field(None, alias="durationMs", description="the whole exchange as journaled")
    upstream_ms: float | None = Field(None, alias="upstreamMs", description="record: the upstream's answer time")
    stages: dict[str, float] = Field(default_factory=dict)


class Exchange(_Model):
    """One request and the response it got."""

    type: Literal["exchange"] = "exchange"
    seq: int = Field(ge=1, description="1, 2, ... in the file's order")
    journal_id: int | None = Field(None, alias="journalId")
    endpoint: str = Field(min_length=1, max_length=2000, pattern=r"^/[^\s#]*$",
                          description="the request path (and query), e.g. /bip-sync/; appended to the replay's base URL")
    upstream: str | None = None
    service_id: str | None = Field(None, alias="serviceId")
    sender_id: str | None = Field(None, alias="senderId")
    message_ids: MessageIds = Field(default_factory=MessageIds, alias="messageIds")
    session_id: str | None = Field(None, alias="sessionId")
    outcome: str | None = Field(None, description="SCSS001, SCSE001 or a fault's error code")
    request: RecordedRequest
    response: RecordedResponse
    signatures: Signatures = Field(default_factory=Signatures)
    timings: Timings = Field(default_factory=Timings)

    @property
    def label(self) -> str:
        return f"#{self.seq} {self.service_id or '-'} {self.endpoint}"


class RecordingError(Exception):
    """A recording that cannot be read; the message names the line and what is wrong with it."""

    def __init__(self, line: int | None, message: str) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


@dataclass(frozen=True)
class Recording:
    header: Header
    exchanges: tuple[Exchange, ...]


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "the line"
    return f"{where}: {first['msg']}"


def _lines(stream: BinaryIO, max_line_bytes: int) -> Iterator[tuple[int, bytes]]:
    number = 0
    while True:
        line = stream.readline(max_line_bytes + 1)
        if not line:
            return
        number += 1
        if len(line) > max_line_bytes:
            raise RecordingError(number, f"the line is longer than the cap of {max_line_bytes} bytes")
        if line.strip():
            yield number, line


def _json(number: int, line: bytes) -> dict[str, Any]:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordingError(number, f"not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordingError(number, f"not JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise RecordingError(number, "not JSON this reader accepts: nested too deeply") from None
    if not isinstance(value, dict):
        raise RecordingError(number, f"a line must be a JSON object, this one is a {type(value).__name__}")
    return value


def read_header(number: int, value: dict[str, Any]) -> Header:
    if value.get("type") != "header":
        raise RecordingError(number, f"the first line must be the header (type 'header'), found type {value.get('type')!r}")
    if value.get("format") != FORMAT:
        raise RecordingError(number, f"format {value.get('format')!r} is not {FORMAT!r}")
    version = value.get("formatVersion")
    if version != FORMAT_VERSION:
        raise RecordingError(
            number, f"formatVersion {version!r} is not supported: this shlyuz reads formatVersion {FORMAT_VERSION}"
        )
    try:
        return Header.model_validate(value)
    except ValidationError as exc:
        raise RecordingError(number, f"bad header: {_first_error(exc)}") from None


def read_exchange(number: int, value: dict[str, Any]) -> Exchange:
    if value.get("type") != "exchange":
        raise RecordingError(number, f"expected an exchange line (type 'exchange'), found type {value.get('type')!r}")
    try:
        exchange = Exchange.model_validate(value)
    except ValidationError as exc:
        raise RecordingError(number, f"bad exchange: {_first_error(exc)}") from None
    for which in (exchange.request, exchange.response):
        if which.body_encoding == "base64":
            try:
                base64.b64decode(which.body, validate=True)
            except (binascii.Error, ValueError):
                raise RecordingError(number, "a body declared base64 is not base64") from None
    return exchange


def read_recording(
    stream: BinaryIO, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, max_exchanges: int = DEFAULT_MAX_EXCHANGES
) -> Recording:
    """Read a whole recording, raising :class:`RecordingError` at the first line that is not right."""
    lines = _lines(stream, max_line_bytes)
    first = next(lines, None)
    if first is None:
        raise RecordingError(None, "the recording is empty: it needs a header line")
    header = read_header(first[0], _json(*first))
    exchanges: list[Exchange] = []
    for number, line in lines:
        if len(exchanges) >= max_exchanges:
            raise RecordingError(number, f"more than {max_exchanges} exchanges (the cap)")
        exchange = read_exchange(number, _json(number, line))
        exchanges.append(exchange)
    return Recording(header, tuple(exchanges))


def dump_line(model: BaseModel) -> str:
    data = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"


def new_header(provenance: Provenance, now: datetime) -> Header:
    from shlyuz import __version__

    return Header(createdAt=now, generator=f"shlyuz {__version__}", provenance=provenance)


def write_recording(header: Header, exchanges: Iterable[Exchange]) -> Iterator[str]:
    yield dump_line(header)
    for exchange in exchanges:
        yield dump_line(exchange)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of one line: a header or an exchange (``schemas/replay/recording.schema.json``)."""
    from typing import Annotated

    from pydantic import TypeAdapter

    line = TypeAdapter(Annotated[Header | Exchange, Field(discriminator="type")])
    schema = line.json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://shlyuz.example/schemas/replay/recording.schema.json"
    schema["title"] = f"shlyuz recording line (formatVersion {FORMAT_VERSION})"
    schema["description"] = (
        "A recording is JSON Lines: the first line is a Header, every following line an Exchange. "
        "See docs/record-replay.md."
    )
    return schema
