"""Differential test: the hand-written reader and the official SHEP v10 XSDs (libxml2) agree on which requestInfo
blocks are valid — for arbitrary orders, repetitions, omissions and values (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from xml.sax.saxutils import escape

from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.shep.reader import read_sync_request
from xsdcheck import is_valid_sync_body

DATES = ["2026-01-15T10:00:00+05:00", "2026-01-15T10:00:00.123Z", "2026-01-15T10:00:00", "2026-01-15",
         "15.01.2026", "2026-01-15T10:00:00+15:00", "2026-13-01T10:00:00"]
GUIDS = ["{0f8fad5b-d9cb-469f-a165-70867728950e}", "0f8fad5b-d9cb-469f-a165-70867728950e", "{xyz}"]
TEXT = st.text(alphabet="abcXYZ019-_ ", min_size=0, max_size=8).map(str.strip).filter(bool)


def leaf(name: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return values.map(lambda v: f"<{name}>{escape(v)}</{name}>")


sender = st.lists(
    st.one_of(leaf("senderId", TEXT), leaf("password", TEXT), leaf("extra", TEXT)), min_size=0, max_size=3
).map(lambda parts: "<sender>" + "".join(parts) + "</sender>")
prop = st.tuples(
    st.integers(0, 32).map(lambda n: "k" * n), st.sampled_from([0, 3, 500, 501]).map(lambda n: "v" * n)
).map(lambda kv: f"<properties><key>{kv[0]}</key><value>{kv[1]}</value></properties>")
element = st.one_of(
    leaf("messageId", TEXT),
    leaf("correlationId", TEXT),
    leaf("serviceId", TEXT),
    leaf("messageDate", st.sampled_from(DATES)),
    leaf("routeId", TEXT),
    sender,
    prop,
    leaf("sessionId", st.sampled_from(GUIDS)),
    leaf("unknown", TEXT),
)
CANONICAL = [
    "<messageId>m</messageId>", "<serviceId>S</serviceId>", "<messageDate>2026-01-15T10:00:00+05:00</messageDate>",
    "<sender><senderId>a</senderId><password>p</password></sender>",
]


def envelope(info: str) -> bytes:
    return (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        '<ns3:SendMessage xmlns:ns3="http://bip.bee.kz/SyncChannel/v10/Types"><request>'
        f"<requestInfo>{info}</requestInfo><requestData/></request></ns3:SendMessage></soap:Body></soap:Envelope>"
    ).encode()


def reader_accepts(body: bytes) -> bool:
    try:
        read_sync_request(body, "text/xml")
    except ShlyuzError as exc:
        assert exc.code is ErrorCode.SCHEMA_VALIDATION, exc
        return False
    return True


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(element, max_size=10))
def test_reader_agrees_with_official_xsd_on_arbitrary_request_info(parts):
    body = envelope("".join(parts))
    assert reader_accepts(body) == is_valid_sync_body(body)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_reader_agrees_on_mutations_of_a_valid_request_info(data):
    parts = list(CANONICAL)
    for _ in range(data.draw(st.integers(1, 3))):
        op = data.draw(st.sampled_from(["insert", "delete", "swap", "replace"]))
        if op == "insert":
            parts.insert(data.draw(st.integers(0, len(parts))), data.draw(element))
        elif op == "delete" and parts:
            parts.pop(data.draw(st.integers(0, len(parts) - 1)))
        elif op == "swap" and len(parts) > 1:
            i = data.draw(st.integers(0, len(parts) - 2))
            parts[i], parts[i + 1] = parts[i + 1], parts[i]
        elif parts:
            parts[data.draw(st.integers(0, len(parts) - 1))] = data.draw(element)
    body = envelope("".join(parts))
    assert reader_accepts(body) == is_valid_sync_body(body)


def test_the_canonical_request_info_is_valid_for_both():
    body = envelope("".join(CANONICAL))
    assert reader_accepts(body) and is_valid_sync_body(body)
