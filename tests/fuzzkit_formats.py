"""Fuzz inputs for the formats beside SOAP (test helper, not a test module): scenario and service-definition YAML,
the AsyncChannel's requests, and the JSON APIs' bodies. Used by tests/test_fuzz.py and bench/fuzz_long.py. API::

    fuzzed_yaml(data, seeds) -> bytes           YAML text/structure/byte mutations; scenario_seeds(), service_seeds()
    async_seeds() -> (server, client)           AsyncChannel requests to SHEP and pushes from it
    fuzzed_json_body(data, body) -> bytes       JSON API bodies; JSON_ROUTES (method, path, parameter, token, body)
"""

from __future__ import annotations

import copy
import functools
import json

import yaml
from conftest import GATEWAY_NOW, REPO
from fuzzkit import APPLICANT, JSON_VALUES, XML_TEXT, mutate_bytes, mutate_json
from hypothesis import strategies as st
from lxml import etree

from shlyuz.fixtures.generate import DEMO_IINS, DEMO_POAS
from shlyuz.shep import ns
from shlyuz.shep.events import DataKind, ErrorInfo

# --- YAML (scenario and service-definition files) -------------------------------------------------------------------

YAML_TOKENS = ("2026-13-45", "2026-02-30 25:61:00", "!!int abc", "!!float x", "!!bool maybe", "!!timestamp x",
               "!!python/object:os.system x", "!!python/name:os.system", "!!python/object/apply:os.system [x]",
               "!!binary 'ab$c'", "!!binary aGk=", "!!set {a, b}", "!!omap [a]", "!!pairs [a]", "!!map [a]",
               "!!seq {a: 1}", "!!str {a: 1}", "!!null x", "!local x", "~", "null", ".inf", "-.inf", ".nan", "0x1F",
               "0o17", "0b1", "1_000", "1e400", "190:20:30", "yes", "no", "on", "=", "<<", "'", '"\\x"', "*nope",
               "&a", "&a *a", "[", "{", "- ", "? a", "|", ">-", "%TAG ! x", "---", "...", "@", "`", "\t",
               "1" * 5000, "-" + "9" * 4400, "0." + "1" * 5000)  # fmt: skip
YAML_VALUES = JSON_VALUES | st.sampled_from(YAML_TOKENS) | st.dates() | st.datetimes() | st.binary(max_size=20)


def _laughs(depth: int) -> list:
    """A "billion laughs": ``depth`` levels of 10 references to the level below (dumped with anchors and aliases)."""
    level: list = ["lol"] * 10
    for _ in range(depth):
        level = [level] * 10
    return level


def _yaml_value(data: st.DataObject):
    how = data.draw(st.sampled_from(["any", "laughs", "deep", "huge", "self"]))
    if how == "laughs":
        return _laughs(data.draw(st.integers(1, 9)))
    if how == "deep":
        value: object = data.draw(st.sampled_from(["x", 1, None]))
        for _ in range(data.draw(st.sampled_from([10, 31, 32, 33, 150]))):  # safe_dump recurses: deeper is in the text
            value = [value] if data.draw(st.booleans()) else {"a": value}
        return value
    if how == "huge":
        return data.draw(st.sampled_from(["x", "я", "${run}"])) * data.draw(st.sampled_from([300, 5000, 100_000]))
    if how == "self":
        value = []
        value.append(value)
        return value
    return data.draw(YAML_VALUES)


def _mutate_structure(data: st.DataObject, value):
    """``mutate_json`` with YAML's extra types, shared and recursive references, deep nesting and huge scalars."""
    if isinstance(value, (list, dict)) and value and data.draw(st.integers(0, 3)):
        key = data.draw(st.sampled_from(range(len(value)) if isinstance(value, list) else sorted(value, key=str)))
        value[key] = _mutate_structure(data, value[key])
        return value
    op = data.draw(st.sampled_from(["replace", "drop", "add", "type"]))
    if op == "drop" and isinstance(value, dict) and value:
        del value[data.draw(st.sampled_from(sorted(value, key=str)))]
        return value
    if op == "add" and isinstance(value, dict):
        value[data.draw(XML_TEXT | st.sampled_from([1, True, None, 2.5]))] = _yaml_value(data)
        return value
    if op == "type":  # the same content as another type
        return {"x": value} if isinstance(value, list) else [value] if isinstance(value, dict) else str(value)
    return _yaml_value(data)


LAUGHS_TEXT = "lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 10))  # fmt: skip


def mutate_yaml_text(data: st.DataObject, text: str) -> str:
    """Line-level YAML mutations: values replaced by tags, bad timestamps, aliases, anchors, flow openers, deep or
    huge scalars; a billion laughs before the document; lines dropped, duplicated, re-indented; documents added."""
    lines = text.splitlines() or [""]
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(lines) - 1))
        op = data.draw(st.sampled_from(["value", "value", "laughs", "deep", "huge", "drop", "dup", "indent", "tab",
                                        "document", "key"]))  # fmt: skip
        head, sep, _ = lines[i].partition(": ")
        if op == "value":
            lines[i] = (head + sep if sep else lines[i] + " ") + data.draw(st.sampled_from(YAML_TOKENS) | XML_TEXT)
        elif op == "laughs":
            lines[0:0] = LAUGHS_TEXT.splitlines()
            if sep:
                lines[i + 10] = head + sep + f"*l{data.draw(st.integers(0, 9))}"
        elif op == "deep":
            n = data.draw(st.sampled_from([31, 32, 33, 100, 1000, 5000, 50_000]))
            opener, closer = data.draw(st.sampled_from([("[", "]"), ("{a: ", "}"), ("- ", "")]))
            lines[i] = (head + sep if sep else "x: ") + opener * n + "x" + closer * n
        elif op == "huge":
            lines[i] = (head + sep if sep else "x: ") + "x" * data.draw(st.sampled_from([5000, 100_000, 1_100_000]))
        elif op == "drop":
            del lines[i]
            lines = lines or [""]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "indent":
            lines[i] = " " * data.draw(st.integers(1, 4)) + lines[i]
        elif op == "tab":
            lines[i] = "\t" + lines[i]
        elif op == "document":
            lines.insert(i, data.draw(st.sampled_from(["---", "...", "--- !!map", "%YAML 1.1", "%YAML 2.0"])))
        elif op == "key":
            lines.insert(i, data.draw(st.sampled_from(["yes: 1", "1: x", "? [a]\n: 1", "<<: *l0", "x: &a 1",
                                                       "y: *a", "id: dup", "name: dup", "!!python/object:x {}: 1"])))
    return "\n".join(lines) + "\n"


def fuzzed_yaml(data: st.DataObject, seeds: tuple[str, ...]) -> bytes:
    """A seed mutated as text or as a structure (dumped again, with anchors for shared parts), then maybe as bytes;
    or arbitrary bytes."""
    how = data.draw(st.sampled_from(["arbitrary", "text", "structure", "structure"]))
    if how == "arbitrary":
        return data.draw(st.binary(max_size=500) | st.text(max_size=300).map(str.encode))
    seed = data.draw(st.sampled_from(seeds))
    if how == "text":
        raw = mutate_yaml_text(data, seed).encode()
    else:
        value = _mutate_structure(data, copy.deepcopy(_parsed_yaml(seed)))
        width = data.draw(st.sampled_from([80, 10**6]))
        raw = yaml.safe_dump(value, allow_unicode=True, sort_keys=False, width=width).encode()
    return mutate_bytes(data, raw) if data.draw(st.integers(0, 3)) == 0 else raw


@functools.cache
def _parsed_yaml(seed: str):
    return yaml.safe_load(seed)


@functools.cache
def scenario_seeds() -> tuple[str, ...]:
    """The small conformance files as they are, and the first two scenarios of each larger one."""
    seeds = []
    for path in sorted((REPO / "conformance").rglob("*.yaml")):
        text = path.read_text()
        if len(text) <= 4000:
            seeds.append(text)
        else:
            doc = yaml.safe_load(text)
            seeds.append(yaml.safe_dump({"scenarios": doc["scenarios"][:2]} if "scenarios" in doc else doc,
                                        allow_unicode=True, sort_keys=False))  # fmt: skip
    return tuple(seeds)


@functools.cache
def service_seeds() -> tuple[str, ...]:
    """The five smallest service definitions of fixtures/services (each is a whole, valid definition)."""
    paths = sorted((REPO / "fixtures" / "services").glob("*.yaml"), key=lambda p: (p.stat().st_size, p.name))
    return tuple(p.read_text() for p in paths[:5])


# --- async channel ------------------------------------------------------------------------------------------------


@functools.cache
def async_seeds() -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """(what a participant sends to SHEP: sendMessage with a string, inline and empty data, getMessages,
    getMessageStatus, sendDeliveryNotification; what SHEP pushes to a participant: sendMessage in both namespaces,
    changeMassageStatusNotification) — built with shlyuz's writer as tests/test_async_protocol.py does."""
    from shlyuz.shep import async_events as ae
    from shlyuz.shep import async_writer as aw
    from shlyuz.shep.events import Property, SenderInfo

    now, session = GATEWAY_NOW, "{f0774397-4fcd-484a-9434-f71535ee4326}"
    doc = (b'<app:Application xmlns:app="urn:shlyuz:egov:application:1.0"><app:service>x &amp; y</app:service>'
           b"</app:Application>")
    sender = SenderInfo("shlyuz-demo", "demo-password")

    def info(**kw) -> ae.AsyncMessageInfo:
        base = {"service_id": "ESOBES_APPLICATION", "message_type": ae.MessageType.REQUEST, "message_date": now,
                "sender": sender, "properties": (Property("k", "v"),)}  # fmt: skip
        return ae.AsyncMessageInfo(**{**base, **kw})

    error = ErrorInfo("X", "bad document", now, session_id=session)
    status = ae.DeliveryStatusInfo(ae.ReceiveStatus.MESSAGE_NOT_ACCEPTED, now, ae.ResendMessage.RESEND, error)
    server = (
        aw.write_send_message(ae.WireMessage(info(message_id="m-1"), DataKind.STRING, doc)),
        aw.write_send_message(ae.WireMessage(info(session_id=session), DataKind.XML, etree.fromstring(doc))),
        aw.write_send_message(ae.WireMessage(info(message_type=ae.MessageType.RESPONSE, correlation_id="c"),
                                             DataKind.EMPTY)),
        aw.write_get_messages(ae.GetMessagesRequest("ESOBES_APPLICATION", sender, correlation_id="c",
                                                    request_date=now, amount=5)),
        aw.write_get_message_status(ae.GetMessageStatusRequest("m-1", now, sender)),
        aw.write_send_delivery_notification(ae.SendDeliveryNotificationRequest(
            ae.DeliveryNotification("m-1", "ESOBES_APPLICATION", now, status), now, sender)),
    )  # fmt: skip
    pushed = ae.WireMessage(info(message_id="m", correlation_id="m"), DataKind.STRING, doc)
    client = (
        aw.write_push(pushed),
        aw.write_push(ae.WireMessage(info(), DataKind.EMPTY), namespace=ns.ASYNC_TYPES),
        aw.write_change_status_notification(ae.ChangeStatusNotifyRequest(
            ae.ChangeStatusNotification("n", "m", now, ae.MessageState.NOT_DELIVERED,
                                        ae.MessageStatusInfo("NOT_DELIVERED", "gave up", now), error),
            now, session)),
    )  # fmt: skip
    return server, client


# --- JSON APIs ----------------------------------------------------------------------------------------------------

OPERATOR = "890512397971"  # a State Corporation employee (tests/test_con_workstation.py)
SPECIALIST = "820731486029"  # a provider employee (tests/test_rshep.py)
PORTAL_PASSWORD = "Qwerty2026x"
# (method, path with {} for the path parameter, its usual value, the token it needs, a valid body); the inbox item and
# the chain run waiting for a decision are made by tests/test_fuzz.py json_api_state
JSON_ROUTES = (
    ("POST", "/portal/register", None, None, {"iin": DEMO_IINS["applicant"], "password": PORTAL_PASSWORD}),
    ("POST", "/portal/auth/login", None, None, {"iin": DEMO_IINS["applicant"], "password": PORTAL_PASSWORD}),
    ("POST", "/portal/auth/eds", None, None, {"signedXml": "<a/>"}),
    ("POST", "/portal/applications", None, "portal", {"document": "<a/>"}),  # the signed Application: json_seeds()
    ("POST", "/con/auth/login", None, None, {"login": OPERATOR, "password": f"tson-{OPERATOR}"}),
    ("POST", "/con/applications", None, "con", {
        "service": "disabled-children-home-education", "applicant": {"iin": APPLICANT},
        "fields": [{"name": "childIin", "value": DEMO_IINS["minor"]}],
        "documents": [{"code": "MED_CONCLUSION", "name": "Заключение ПМПК"}],
        "representative": {"iin": DEMO_IINS["attorney"],
                           "poa": {"number": DEMO_POAS["valid"], "notarised": True}}}),
    ("POST", "/rshep/login", None, None, {"iin": SPECIALIST, "password": f"rshep-{SPECIALIST}"}),
    ("POST", "/rshep/items/{}/decide", "RSH-2026-000001", "rshep",
     {"decision": "refuse", "reasonCode": "DOCUMENTS_INCOMPLETE", "reason": "нет справки"}),
    ("POST", "/chains/{}/runs", "child-allowance", None, {"channel": "provider", "applicant": APPLICANT,
                                                         "decisions": {"procedure main step 5": "approve"}}),
    ("POST", "/chains/runs/{}/decision", "RUN-000001", None, {"approve": False, "reason": "x", "ground": "G1"}),
    ("PUT", "/__admin/sessions/{}/clock", "fuzz", None, {"at": "2026-03-20T11:00:00+05:00"}),
)  # fmt: skip
PATH_VALUES = st.sampled_from(["", "x", "..", "%2e%2e", "RSH-2026-999999", "RUN-999999", "wheelchairs", "default",
                               "a" * 300, "%00", "я", "1"]) | st.text(st.characters(exclude_categories=("Cs",)),
                                                                     max_size=20)  # fmt: skip


JSON_FIELDS = ("iin", "password", "signedXml", "document", "login", "service", "applicant", "fields", "documents",
               "representative", "poa", "number", "notarised", "decision", "reasonCode", "reason", "channel",
               "procedure", "signer", "signAs", "portalPassword", "decide", "decisions", "ground", "start", "clock",
               "speed", "changes", "feePaidAfterWorkingDays", "pickedUp", "missingDocuments", "subflow", "extraChecks",
               "approve", "decidedBy", "at", "advanceSeconds", "offsetSeconds", "name", "value", "code")  # fmt: skip
JSON_FIELD_VALUES = JSON_VALUES | st.sampled_from([
    APPLICANT, DEMO_IINS["minor"], DEMO_IINS["deceased"], "000000000000", "1" * 12, "", " ", "a" * 5000, "я" * 300,
    "2026-01-15T10:00:00+05:00", "2026-02-30T10:00:00", "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00Z",
    "approve", "refuse", "wait", "virtual", "accelerated", "portal", "state-corp", "provider", "wheelchairs",
    "procedure main step 5", True, 0, -1, 1e308, -1e308, 2**63, 10**400, None, [], {}, "\x00", "<a/>", "${run}",
    "<!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>", DEMO_POAS["expired"], DEMO_POAS["revoked"]])  # fmt: skip


def _field_value(data: st.DataObject):
    """A copy: sampled_from hands out the same [] and {} every time, and a later mutation must not change them."""
    return copy.deepcopy(data.draw(JSON_FIELD_VALUES))


def mutate_json_body(data: st.DataObject, body: dict) -> dict:
    """1-3 edits of a JSON object: a field given another value (of any type, or one of the plausible ones), dropped,
    added (a field of another route), or mutated deeper (``mutate_json``)."""
    for _ in range(data.draw(st.integers(1, 3))):
        op = data.draw(st.sampled_from(["value", "value", "drop", "add", "deeper"]))
        if op == "drop" and body:
            del body[data.draw(st.sampled_from(sorted(body)))]
        elif op == "add":
            body[data.draw(st.sampled_from(JSON_FIELDS) | XML_TEXT)] = _field_value(data)
        elif op == "deeper":
            body = mutate_json(data, body)
        elif body:
            body[data.draw(st.sampled_from(sorted(body)))] = _field_value(data)
        if not isinstance(body, dict):
            break
    return body


def fuzzed_json_body(data: st.DataObject, body: dict) -> bytes:
    """A valid body as is or with field edits (most of the time), mutated as bytes, a bare JSON value, nesting deep
    (100 to 100,000), a large body, or arbitrary bytes."""
    how = data.draw(st.sampled_from(["fields"] * 6 + ["seed", "bytes", "value", "deep", "large", "arbitrary"]))
    if how == "seed":
        return json.dumps(body, ensure_ascii=False).encode()
    if how == "fields":
        return json.dumps(mutate_json_body(data, copy.deepcopy(body)), ensure_ascii=False).encode()
    if how == "bytes":
        return mutate_bytes(data, json.dumps(body, ensure_ascii=False).encode())
    if how == "value":
        return json.dumps(data.draw(JSON_VALUES)).encode()
    if how == "deep":
        n = data.draw(st.sampled_from([100, 1000, 100_000]))
        opener, closer = data.draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        return ('{"x": ' + opener * n + "1" + closer * n + "}").encode()
    if how == "large":  # around the 1 MiB cap
        return json.dumps({**body, "x": "a" * data.draw(st.sampled_from([1 << 19, (1 << 20) - 200, 1 << 20]))}).encode()
    return data.draw(st.binary(max_size=300))
