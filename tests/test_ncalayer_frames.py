"""Malformed and hostile frames to the NCALayer emulator over a real WebSocket: each gets exactly one answer in
NCALayer's own error shape, saying what was wrong, and the connection stays usable. Then hypothesis feeds random
frames (random JSON, random arguments to the real methods, random text) and checks the same."""

from __future__ import annotations

import base64
import json

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.ncalayer import protocol as p
from shlyuz.ncalayer.server import NcaLayer, start

BASE = f"person/{DEMO_IINS['applicant']}"
COMMON, BASICS = p.COMMON, p.BASICS
MISMATCH = "java.lang.IllegalArgumentException: argument type mismatch. Method: "


class Conn:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def call(self, frame: str | bytes | dict) -> dict:
        if isinstance(frame, bytes):
            await self.ws.send_bytes(frame)
        else:
            await self.ws.send_str(frame if isinstance(frame, str) else json.dumps(frame))
        msg = await self.ws.receive(timeout=60)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg  # an answer, not a close
        answer = json.loads(msg.data)
        assert isinstance(answer, dict)
        return answer


@pytest.fixture
async def conn(session_pki):
    state = NcaLayer.build(session_pki, BASE)
    running = await start(state, port=0)
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(f"ws://127.0.0.1:{running.port}/") as ws:
            assert json.loads((await ws.receive(timeout=30)).data) == {"result": {"version": "1.4"}}
            yield Conn(ws)
    finally:
        await running.close()


def common(method, args) -> dict:
    return {"module": COMMON, "method": method, "args": args}


def basics(args, method="sign") -> dict:
    return {"module": BASICS, "method": method, "args": args}


CASES = [
    ("not json", {"code": "500"}, "the frame is not JSON"),
    ("[1, 2]", {"code": "500"}, "must be a JSON object with module, method and args; got an array"),
    ('{"method": "getKeyInfo"}', {"code": "500"}, "names no module"),
    ('{"module": 7, "method": "x"}', {"code": "500"}, "module must be a string, got the number 7"),
    ('{"module": "kz.gov.pki.knca.commonUtils"}', {"code": "500"}, "no method"),
    ({"module": "kz.gov.pki.knca.basics"}, {"status": False, "code": "INVOCATION_ERROR"}, "must name a method"),
    ({"module": "kz.example.nothing", "method": "x"}, {"success": False, "errorCode": "MODULE_NOT_FOUND"}, "kz.example.nothing"),
    ({"module": "kz.digiflow.mobile.extensions", "method": "getVersion"}, {"errorCode": "MODULE_NOT_FOUND"}, "no module"),
    (common("getKeyInfo", [None]), {"code": "500"}, MISMATCH + "getKeyInfo (shlyuz: args[0] (storage) must be a string, got null)"),
    (common("getKeyInfo", [1]), {"code": "500"}, MISMATCH + "getKeyInfo (shlyuz: args[0] (storage) must be a string, got the number 1)"),
    (common("getKeyInfo", {"storage": "PKCS12"}), {"code": "500"}, MISMATCH + "getKeyInfo (shlyuz: args must be an array"),
    (common("createCAdESFromBase64", ["AKKaztokenStore", 123, "MTEK", False]), {"code": "500"}, MISMATCH + "createCAdESFromBase64 (shlyuz: args[1]"),
    (common("createCAdESFromBase64", ["PKCS12", "SIGNATURE", "MTEK", "yes"]), {"code": "500"}, "args[3] (attach) must be a boolean"),
    (common("createCAdESFromBase64", ["PKCS12", "SIGNATURE", "not base64!", False]), {"code": "500"}, "args[2] is not base64"),
    (common("createCAdESFromBase64Hash", ["PKCS12", "SIGNATURE", "MTEK"]), {"code": "500"}, "precomputed hash is not supported"),
    (common("signXml", ["AKKaztokenStore", "123", 555, "", ""]), {"code": "500"}, MISMATCH + "signXml (shlyuz: args[2] (the XML document)"),
    (common("signXml", ["PKCS12", "SIGNATURE", "<a/>"]), {"code": "500"}, "wrong number of arguments. Method: signXml (shlyuz: expected 5, got 3)"),
    (common("signXmls", ["PKCS12", "SIGNATURE", "<a/>", "", ""]), {"code": "500"}, "args[2] must be an array of XML strings"),
    (common("deleteEverything", []), {"code": "500"}, "java.lang.NoSuchMethodException: deleteEverything"),
    ({**common("getActiveTokens", []), "uuid": "u-1"}, {"code": "200", "uuid": "u-1", "responseObject": []}, None),
    (basics({}, method="verify"), {"status": False, "code": "INVOCATION_ERROR"}, "has no method 'verify'"),
    (basics([1]), {"status": False, "code": "INVALID_SIGNING_PARAMS"}, "args must be an object"),
    (basics({"format": "pdf", "data": "x"}), {"status": False, "code": "INVALID_SIGNING_PARAMS"}, 'format must be "xml" or "cms"'),
    (basics({"format": "cms", "data": 5}), {"code": "INVALID_SIGNING_PARAMS"}, "data must be a string or a non-empty array"),
    (basics({"format": "cms", "data": []}), {"code": "INVALID_SIGNING_PARAMS"}, "data must be a string or a non-empty array"),
    (basics({"format": "cms", "data": "x", "signingParams": {"decode": "maybe"}}), {"code": "INVALID_SIGNING_PARAMS"}, "signingParams.decode must be true or false"),
    (basics({"format": "cms", "data": "%%", "signingParams": {"decode": True}}), {"code": "INVALID_SIGNING_PARAMS"}, "data is not base64"),
    (basics({"format": "cms", "data": "eA==", "signingParams": {"digested": True}}), {"code": "SIGNING_FAILURE"}, "digested=true"),
    (basics({"format": "cms", "data": "x", "signerParams": {"extKeyUsageOids": ["abc"]}}), {"code": "INVALID_SIGNING_PARAMS"}, "dotted OIDs"),
    (basics({"format": "cms", "data": "x", "signerParams": {"extKeyUsageOids": ["1.3.6.1.5.5.7.3.4", "1.3.6.1.5.5.7.3.2"]}}), {"code": "INVALID_SIGNING_PARAMS"}, "both"),
    (basics({"format": "cms", "data": "x", "signerParams": {"iin": 900101300017}}), {"code": "INVALID_SIGNING_PARAMS"}, "signerParams.iin must be a string"),
    (basics({"format": "xml", "data": "<a>"}), {"status": False, "code": "SIGNING_FAILURE"}, "MALFORMED_XML"),
    ({"module": "shlyuz.ncalayer", "method": "selectIdentity", "args": {"mode": "later"}}, {"code": "500"}, 'mode must be "sign" or "cancel"'),
    ("[" * 100_000 + "]" * 100_000, {"code": "500"}, "the frame is not JSON"),
    (b"\x00\x01binary", {"code": "500"}, "a binary frame (8 bytes) is not an NCALayer request"),
]  # fmt: skip


async def test_malformed_frames_get_precise_answers_and_the_connection_lives_on(conn):
    for frame, expected, message in CASES:
        answer = await conn.call(frame)
        assert {k: answer.get(k) for k in expected} == expected, (frame if len(str(frame)) < 300 else "deep", answer)
        if message is not None:
            assert message in answer["message"], (frame, answer)
    ok = await conn.call(common("signXml", ["PKCS12", "SIGNATURE", "<a/>", "", ""]))
    assert ok["code"] == "200" and "<ds:Signature" in ok["responseObject"]


def test_parse_frame_caps_the_frame_size():
    with pytest.raises(p.Refused) as exc:
        p.parse_frame(" " * (p.MAX_FRAME_CHARS + 1))
    assert exc.value.answer["code"] == "500" and "accepts up to" in exc.value.answer["message"]


# -- hypothesis --------------------------------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
VALUES = JSON | st.sampled_from(["PKCS12", "SIGNATURE", "AUTHENTICATION", "<a/>", "<a>", "", "eA==", "xml", "cms",
                                 True, False, "1.3.6.1.5.5.7.3.2", base64.b64encode(b"<x/>").decode()])  # fmt: skip
METHODS = st.sampled_from(["getActiveTokens", "getKeyInfo", "signXml", "signXmls", "createCAdESFromBase64",
                           "createCMSSignatureFromBase64", "createCAdESFromBase64Hash", "changeLocale", "sign",
                           "selectIdentity", "getState", "nope"])  # fmt: skip
MODULES = st.sampled_from([COMMON, BASICS, p.CONTROL, "kz.gov.pki.knca.applet.Applet"]) | st.text(max_size=20)
BASICS_ARGS = st.fixed_dictionaries({}, optional={
    "format": st.sampled_from(["xml", "cms", "XML", "pdf"]) | VALUES, "data": VALUES | st.lists(VALUES, max_size=3),
    "signingParams": st.dictionaries(st.sampled_from(["decode", "encapsulate", "digested", "outputCert", "tsaProfile"]),
                                     VALUES, max_size=4) | VALUES,
    "signerParams": st.dictionaries(st.sampled_from(["extKeyUsageOids", "iin", "bin", "serialNumber", "chain"]),
                                    VALUES | st.lists(VALUES, max_size=3), max_size=4) | VALUES,
    "locale": VALUES, "identity": st.sampled_from(["bad/expired", "x/y", BASE]) | VALUES, "mode": VALUES,
})  # fmt: skip
FRAMES = (
    st.text(max_size=200)
    | JSON.map(json.dumps)
    | st.fixed_dictionaries({"module": MODULES, "method": METHODS | VALUES},
                            optional={"args": st.lists(VALUES, max_size=6) | BASICS_ARGS | VALUES,
                                      "uuid": VALUES}).map(json.dumps)
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])  # fmt: skip
@given(frame=FRAMES)
async def test_random_frames_always_get_one_well_shaped_answer(conn, frame):
    answer = await conn.call(frame)
    if "status" in answer:  # basics
        assert isinstance(answer["status"], bool)
        assert ("body" in answer) if answer["status"] else (answer["code"] and answer["message"])
    elif "errorCode" in answer:
        assert answer == {**answer, "success": False, "errorCode": "MODULE_NOT_FOUND"}
    else:  # commonUtils shape
        assert answer["code"] in ("200", "404", "500") and (answer["code"] == "200" or answer["message"])
    assert "internal error" not in str(answer.get("message", ""))  # a refusal, never a crash
