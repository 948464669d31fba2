"""Fuzzing every parser entry point with hypothesis (docs/fuzzing.md; mutators and seeds in tests/fuzzkit.py).

The property of each target: whatever the input, the parser returns its result or raises its documented error
(ShlyuzError with an ErrorCode, FixtureError, ConfigError, CrlError, ValueError for parse_ocsp_request, an
OcspResult with status "error") — no other exception, no hang (the profile's deadline); the gateway answers every
body with 200 or 500 + a SOAP fault carrying an errorCode (never INTERNAL_ERROR/PROVIDER_ERROR: those mean an
exception escaped somewhere). Crashes already found are tolerated by the targets only where ``fuzzkit.known_crash``
recognises them, and each is pinned by a strict xfail test in tests/test_fuzz_crashes.py.

Profiles: ``fuzz-ci`` (default: 200 examples per target, derandomised so CI is repeatable) and ``fuzz-long``
(``SHLYUZ_FUZZ_PROFILE=fuzz-long``: random, ``SHLYUZ_FUZZ_CHUNK`` examples per call; bench/fuzz_long.py repeats the
calls). ``COUNTS`` counts the inputs each target ran, ``KNOWN_HITS`` the known crashes met.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path
from unittest import mock
from urllib.parse import quote

import fuzzkit as fk
import fuzzkit_formats as fkf
import pytest
from conftest import GATEWAY_NOW
from cryptography import x509
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from lxml import etree
from yarl import URL

from shlyuz.client import SendMessage
from shlyuz.clock import FixedClock
from shlyuz.config import ConfigError, load_settings
from shlyuz.conform.loader import ScenarioError, load_file
from shlyuz.conform.model import Scenario
from shlyuz.dsig import algorithms as alg
from shlyuz.dsig.certcheck import build_path, check_certificate, identifiers
from shlyuz.dsig.enveloped import verify_enveloped
from shlyuz.dsig.signer import signer_for
from shlyuz.dsig.wsse import verify_envelope
from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.fixtures.store import FILES, FixtureError, load_dir, load_dirs
from shlyuz.pki.revocation import (
    GOOD,
    CrlError,
    OcspResult,
    ocsp_respond,
    parse_ocsp_request,
    read_crl,
    read_ocsp_response,
)
from shlyuz.services.loader import ServiceDefinitionError, parse_service
from shlyuz.services.model import Service
from shlyuz.shep import ns
from shlyuz.shep.async_reader import (
    CLIENT_OPERATIONS,
    SERVER_OPERATIONS,
    read_async_request,
    read_client_request,
)
from shlyuz.shep.async_responses import read_async_reply
from shlyuz.shep.events import Status, SyncResponse
from shlyuz.shep.reader import payload_root, read_sync_request
from shlyuz.shep.responses import Fault, read_sync_reply
from shlyuz.shep.writer import write_sync_response
from shlyuz.systems import enis, gbdfl
from shlyuz.systems.base import HandlerContext, HandlerResult

settings.register_profile(
    "fuzz-ci", max_examples=200, deadline=timedelta(seconds=2), derandomize=True, database=None,
    suppress_health_check=list(HealthCheck),
)  # fmt: skip
settings.register_profile(
    "fuzz-long", max_examples=int(os.environ.get("SHLYUZ_FUZZ_CHUNK", "2000")), deadline=timedelta(seconds=10),
    database=None, phases=(Phase.generate, Phase.shrink), suppress_health_check=list(HealthCheck),
)  # fmt: skip
FUZZ = settings(settings.get_profile(os.environ.get("SHLYUZ_FUZZ_PROFILE", "fuzz-ci")))
FUZZ_HTTP = settings(FUZZ, max_examples=max(FUZZ.max_examples // 2, 25))  # the HTTP target
# PyYAML is pure Python here: a file nested thousands deep takes ~1-2 s to be refused on a busy machine
FUZZ_YAML = settings(FUZZ, deadline=max(FUZZ.deadline, timedelta(seconds=10)))
COUNTS: Counter[str] = Counter()
KNOWN_HITS: Counter[str] = Counter()
JSON_OUTCOMES: Counter[tuple[str, int]] = Counter()  # (route, HTTP status) of the json_api target: what it reached
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("SHLYUZ_")}
SCRATCH = Path(tempfile.mkdtemp(prefix="shlyuz-fuzz-"))
pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning",
                                        "ignore::UserWarning")  # fmt: skip


@contextlib.contextmanager
def tolerating_known_crashes():
    try:
        yield
    except Exception as exc:
        test = fk.known_crash(exc)
        if test is None:
            raise
        KNOWN_HITS[test] += 1


@FUZZ
@given(data=st.data(), content_type=fk.CONTENT_TYPES)
def test_fuzz_read_sync_request(data, content_type):
    COUNTS["read_sync_request"] += 1
    body = fk.fuzzed_request(data, fk.request_seeds())
    try:
        request = read_sync_request(body, data.draw(st.sampled_from(["text/xml", content_type])))
    except ShlyuzError as exc:
        assert isinstance(exc.code, ErrorCode) and exc.message
    else:
        payload_root(request.payload)


@FUZZ
@given(data=st.data())
def test_fuzz_read_sync_reply(data):
    COUNTS["read_sync_reply"] += 1
    try:
        reply = read_sync_reply(fk.fuzzed_request(data, fk.reply_seeds()))
    except ShlyuzError as exc:
        assert isinstance(exc.code, ErrorCode)
    else:
        assert isinstance(reply, (SyncResponse, Fault))


FIELD_VALUES = fk.XML_TEXT | st.from_regex(r"\d{12}", fullmatch=True) | st.sampled_from(
    [*DEMO_IINS.values(), "2026-01-15", "1990-01-01Z", "2026-02-30", "-0001-01-01", "99999-01-01",
     "2026-01-15T10:00:00+05:00", "0" * 12, "1" * 40])  # fmt: skip
FIELDS = st.dictionaries(st.sampled_from(sorted({*gbdfl.REQUEST_FIELDS, *enis.REQUEST_FIELDS, "junk"})),
                         FIELD_VALUES, max_size=6)  # fmt: skip
PAYLOAD_ROOTS = [(ns.GBDFL_MESSAGE, "Request"), (ns.ENIS_POA, "PoaCheckRequest"), ("urn:x", "Request"), (None, "data")]
CTX = HandlerContext(load_dirs([fk.REPO / "fixtures"]), lambda: GATEWAY_NOW, "{s}", "r")


def _run(coro):
    """Drive a coroutine that never suspends (the systems' handlers do no I/O)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise AssertionError("the handler suspended")


@FUZZ
@given(system=st.sampled_from([gbdfl.GbdflSystem(), enis.EnisSystem()]), fields=FIELDS, escaped=st.booleans(),
       root=st.sampled_from(PAYLOAD_ROOTS), extra=st.lists(fk.XML_TEXT, max_size=2))  # fmt: skip
def test_fuzz_system_payloads(system, fields, escaped, root, extra):
    COUNTS["system_payloads"] += 1
    el = etree.Element(etree.QName(root[0], root[1]).text)
    for key, value in [*fields.items(), *(("x", text) for text in extra)]:
        etree.SubElement(el, key).text = value
    body = SendMessage(system.service_ids[0], el, escaped=escaped, message_date=GATEWAY_NOW).to_bytes()
    request = read_sync_request(body, "text/xml")
    result = _run(system.handle(request, CTX))
    assert isinstance(result, HandlerResult) and isinstance(result.status, Status)
    write_sync_response(SyncResponse("r", GATEWAY_NOW, result.status, result.message or "", "{s}", None,
                                     result.payload, request.data_kind))  # fmt: skip


def _unsigned_c14n(el: etree._Element) -> bytes:
    el = etree.fromstring(etree.tostring(el))
    for sig in list(el.iter(f"{{{alg.DS}}}Signature")):
        sig.getparent().remove(sig)
    return alg.canonicalize(el, alg.C14N_METHODS[alg.EXC_C14N])


@FUZZ
@given(data=st.data(), allow_sha1=st.booleans(), which=st.sampled_from(["wsse", "enveloped"]))
def test_fuzz_signatures(data, allow_sha1, which):
    COUNTS["signatures"] += 1
    envelope, document = fk.signed_documents()
    raw = envelope if which == "wsse" else document
    raw = fk.mutate_embedded_der(data, raw) if data.draw(st.booleans()) else raw
    try:
        root = etree.fromstring(fk.mutate_tree(data, raw), fk.SAFE_PARSER)
    except etree.XMLSyntaxError:
        return
    with tolerating_known_crashes():
        try:
            if which == "wsse":
                lookup = lambda issuer, serial: fk.chain()[2].cert  # noqa: E731
                signed = verify_envelope(root, cert_lookup=lookup, allow_sha1=allow_sha1).signed_body
                original = etree.fromstring(envelope).find(f"{{{ns.SOAP11}}}Body")
            else:
                signed = verify_enveloped(root, allow_sha1=allow_sha1).signed_root
                original = etree.fromstring(document)
        except ShlyuzError as exc:
            assert exc.code.name.startswith(("SIGNATURE_", "UNSUPPORTED_ALGORITHM")), exc
            return
        assert _unsigned_c14n(signed) == _unsigned_c14n(original)  # what verified is what was signed


@FUZZ
@given(data=st.data(), purpose=st.sampled_from(["sign", "auth"]), require_eku=st.booleans(),
       which=st.sampled_from(["leaf", "ca", "raw"]))  # fmt: skip
def test_fuzz_certificates(data, purpose, require_eku, which):
    COUNTS["certificates"] += 1
    root, ca, leaf = fk.chain()
    if which == "raw":
        raw = fk.der_or_bytes(data, leaf.cert_der())
    else:  # a mutated TBS signed again by the right issuer: the checks behind the signature see the mutation
        raw = fk.resign(data, (leaf if which == "leaf" else ca).cert_der(), (ca if which == "leaf" else root).key)
    try:
        cert = x509.load_der_x509_certificate(raw)
    except (ValueError, x509.InvalidVersion):
        return  # cryptography's own refusal, before any shlyuz code runs
    subject, intermediates = (leaf.cert, [cert]) if which == "ca" else (cert, [ca.cert])
    with tolerating_known_crashes():
        iin, _ = identifiers(subject)
        assert iin is None or len(iin) == 12
    with tolerating_known_crashes():
        try:
            build_path(subject, [root.cert], intermediates)
        except ShlyuzError as exc:
            assert exc.code in (ErrorCode.CERT_UNTRUSTED, ErrorCode.SIGNATURE_INVALID), exc
    with tolerating_known_crashes():
        try:
            check_certificate(subject, anchors=[root.cert], intermediates=intermediates, at=fk.AT, purpose=purpose,
                              expected_iin=fk.APPLICANT, require_eku=require_eku)  # fmt: skip
        except ShlyuzError as exc:
            assert exc.code.name.startswith(("CERT_", "IIN_", "REVOCATION_", "SIGNATURE_INVALID")), exc


@FUZZ
@given(data=st.data(), nonce=st.none() | st.binary(max_size=20))
def test_fuzz_ocsp(data, nonce):
    COUNTS["ocsp"] += 1
    _, ca, leaf = fk.chain()
    request, response, _ = fk.ocsp_seeds()
    fuzzed = fk.der_or_bytes(data, request)
    with tolerating_known_crashes():
        try:
            parse_ocsp_request(fuzzed)
        except ValueError:
            pass
    answer = ocsp_respond(fuzzed, ca_key=ca.key, ca_cert=ca.cert, status_of=lambda s: GOOD, now=fk.AT)
    result = read_ocsp_response(answer, issuer_cert=ca.cert, cert=leaf.cert, nonce=nonce, now=fk.AT)
    assert isinstance(result, OcspResult)
    result = read_ocsp_response(fk.der_or_bytes(data, response), issuer_cert=ca.cert, cert=leaf.cert,
                                nonce=data.draw(st.sampled_from([None, b"n" * 16])), now=fk.AT)  # fmt: skip
    assert isinstance(result, OcspResult) and (result.status == "error") == (result.error is not None)


@FUZZ
@given(data=st.data(), pem=st.booleans(), resign=st.booleans())
def test_fuzz_crl(data, pem, resign):
    COUNTS["crl"] += 1
    _, ca, _ = fk.chain()
    crl = fk.ocsp_seeds()[2]
    raw = fk.resign(data, crl, ca.key) if resign else fk.der_or_bytes(data, crl)
    if pem:
        raw = b"-----BEGIN X509 CRL-----\n" + alg.base64.encodebytes(raw) + b"-----END X509 CRL-----\n"
    with tolerating_known_crashes():
        try:
            result = read_crl(raw, ca.cert)
        except CrlError:
            return
        assert all(isinstance(k, int) for k in result.revoked)


@FUZZ
@given(data=st.data())
def test_fuzz_fixture_files(data):
    COUNTS["fixtures"] += 1
    for name, records in fk.fixture_seeds().items():
        value = fk.mutate_json(data, json.loads(json.dumps(records))) if data.draw(st.booleans()) else records
        raw = json.dumps(value, ensure_ascii=False).encode()
        raw = fk.mutate_bytes(data, raw) if data.draw(st.booleans()) else raw
        if data.draw(st.integers(0, 9)) == 0:  # deep nesting
            depth = data.draw(st.sampled_from([50, 900, 5000, 100_000]))
            raw = b'[{"iin": ' + b"[" * depth + b"]" * depth + b"}]"
        (SCRATCH / FILES[name]).write_bytes(raw)
    with tolerating_known_crashes():
        try:
            load_dir(SCRATCH)
        except FixtureError as exc:
            assert str(exc)


@FUZZ
@given(data=st.data())
def test_fuzz_config_file(data):
    COUNTS["config"] += 1
    path = SCRATCH / "shlyuz.toml"
    path.write_bytes(fk.mutate_toml(data))
    with mock.patch.dict(os.environ, CLEAN_ENV, clear=True):
        try:
            load_settings(path)
        except ConfigError as exc:
            assert str(exc).startswith(("invalid configuration", "config file"))


def check_reply(status: int, body: bytes, crashes: list[BaseException]) -> None:
    """200 with a SyncResponse, or 500 with a SOAP fault whose ErrorInfo carries a gateway error code."""
    for exc in crashes:  # an exception escaped a stage or the pipeline: only a known one is tolerated
        if fk.known_crash(exc) is None:
            raise exc
        KNOWN_HITS[fk.known_crash(exc)] += 1
    if crashes:
        return  # what should have happened instead is in the pinning test
    assert status in (200, 500), (status, body[:300])
    assert b"Traceback" not in body
    reply = read_sync_reply(body)
    if status == 200:
        assert isinstance(reply, SyncResponse), body[:300]
        return
    assert isinstance(reply, Fault) and reply.error is not None, body[:300]
    code = ErrorCode(reply.error.error_code)
    assert code not in (ErrorCode.INTERNAL_ERROR, ErrorCode.PROVIDER_ERROR), reply.error.error_message


@pytest.fixture(scope="module")
def pipeline(session_pki, tmp_path_factory):
    from shlyuz.gateway.app import build_gateway

    with mock.patch.dict(os.environ, CLEAN_ENV, clear=True):
        gateway = build_gateway(load_settings(data_dir=tmp_path_factory.mktemp("fuzz")),
                                clock=FixedClock(GATEWAY_NOW), pki=session_pki)  # fmt: skip
    loop = asyncio.new_event_loop()
    loop.run_until_complete(gateway.records.open())  # the faults stage reads the session's fault rules there
    yield gateway.sync, fk.watch_stages(gateway.sync), loop, fk.request_seeds(signer_for(session_pki, SIGNER))
    loop.run_until_complete(gateway.records.close())
    loop.close()


SIGNER = f"person/{fk.APPLICANT}/sign"


@FUZZ
@given(data=st.data(), content_type=fk.CONTENT_TYPES, wss=st.booleans())
def test_fuzz_pipeline(pipeline, data, content_type, wss):
    """The whole exchange without HTTP: SyncPipeline.process on fuzzed bodies (faster than the HTTP target)."""
    COUNTS["pipeline"] += 1
    sync, crashes, loop, seeds = pipeline
    crashes.clear()
    body = fk.fuzzed_request(data, seeds)
    ctype = data.draw(st.sampled_from(["text/xml; charset=utf-8", content_type]))
    endpoint = "/bip-sync-wss-gost/" if wss else "/bip-sync/"
    try:
        outcome = loop.run_until_complete(sync.process(body, ctype, endpoint=endpoint, require_wsse=wss))
    except Exception:  # out of process() itself (building the reply): collected by watch_stages
        check_reply(0, b"", crashes)
        return
    check_reply(outcome.http_status, outcome.body, crashes)
    json.dumps(outcome.record.verdicts, default=str)


@FUZZ_HTTP
@given(data=st.data(), wss=st.booleans())
async def test_fuzz_gateway_http(shep, session_pki, data, wss):
    """Over HTTP with the ``shep`` client: every fuzzed body gets 200 or 500 + a fault with an errorCode."""
    COUNTS["http"] += 1
    if not hasattr(shep, "crashes"):
        shep.crashes = fk.watch_stages(shep.gateway.sync)
    shep.crashes.clear()
    body = fk.fuzzed_request(data, fk.request_seeds(signer_for(session_pki, SIGNER)))
    reply = await shep.post(body, path="/bip-sync-wss-gost/" if wss else "/bip-sync/", validate=False)
    check_reply(reply.status, reply.body, shep.crashes)


# --- files: conformance scenarios and service definitions (YAML) ----------------------------------------------------


@FUZZ_YAML
@given(data=st.data())
def test_fuzz_scenario_files(data):
    """``conform.loader.load_file``: a list of scenarios, or ScenarioError naming the file."""
    COUNTS["scenario_files"] += 1
    path = SCRATCH / "scenario.yaml"
    path.write_bytes(fkf.fuzzed_yaml(data, fkf.scenario_seeds()))
    with tolerating_known_crashes():
        try:
            loaded = load_file(path)
        except ScenarioError as exc:
            assert str(exc).startswith(str(path)), exc
            return
        assert loaded and all(isinstance(x.scenario, Scenario) for x in loaded)


@FUZZ_YAML
@given(data=st.data())
def test_fuzz_service_definitions(data):
    """``services.loader.parse_service``: a Service, or ServiceDefinitionError naming the file."""
    COUNTS["service_definitions"] += 1
    raw = fkf.fuzzed_yaml(data, fkf.service_seeds())
    with tolerating_known_crashes():
        try:
            service = parse_service(raw, "fuzz.yaml")
        except ServiceDefinitionError as exc:
            assert exc.file == "fuzz.yaml" and exc.problem, exc
            return
        assert isinstance(service, Service)


# --- the AsyncChannel ---------------------------------------------------------------------------------------------


@FUZZ
@given(data=st.data(), content_type=fk.CONTENT_TYPES)
def test_fuzz_read_async_request(data, content_type):
    """``read_async_request`` (IAsyncChannel: what participants send to SHEP): an AsyncCall or ShlyuzError."""
    COUNTS["read_async_request"] += 1
    body = fk.fuzzed_request(data, fkf.async_seeds()[0])
    try:
        call = read_async_request(body, data.draw(st.sampled_from(["text/xml", content_type])))
    except ShlyuzError as exc:
        assert isinstance(exc.code, ErrorCode) and exc.message
    else:
        assert call.operation in SERVER_OPERATIONS.values()


@FUZZ
@given(data=st.data(), content_type=fk.CONTENT_TYPES)
def test_fuzz_read_client_request(data, content_type):
    """``read_client_request`` (IAsyncChannelClient: what SHEP pushes to a participant): an AsyncCall or
    ShlyuzError."""
    COUNTS["read_client_request"] += 1
    body = fk.fuzzed_request(data, fkf.async_seeds()[1])
    try:
        call = read_client_request(body, data.draw(st.sampled_from(["text/xml", content_type])))
    except ShlyuzError as exc:
        assert isinstance(exc.code, ErrorCode) and exc.message
    else:
        assert call.operation in CLIENT_OPERATIONS.values()


def async_settings(data_dir: Path):
    """A gateway without a delivery loop (accepted messages stay stored), for the async and JSON API targets."""
    with mock.patch.dict(os.environ, CLEAN_ENV, clear=True):
        return load_settings(data_dir=data_dir, journal_bodies=False, async_channel={"delivery_loop": False})


def check_async_reply(status: int, body: bytes, crashes: list[BaseException]) -> None:
    """200 with an AsyncChannel answer, or 500 with a SOAP fault whose ErrorInfo carries a gateway error code."""
    for exc in crashes:
        if fk.known_crash(exc) is None:
            raise exc
        KNOWN_HITS[fk.known_crash(exc)] += 1
    if crashes:
        return
    assert status in (200, 500), (status, body[:300])
    reply = read_async_reply(body)
    if status == 200:
        assert not isinstance(reply, Fault), body[:300]
        return
    assert isinstance(reply, Fault) and reply.error is not None, body[:300]
    code = ErrorCode(reply.error.error_code)
    assert code not in (ErrorCode.INTERNAL_ERROR, ErrorCode.PROVIDER_ERROR), reply.error.error_message


@pytest.fixture
async def async_api(session_pki, app_client, tmp_path):
    from shlyuz.gateway.app import build_gateway, create_app

    gateway = build_gateway(async_settings(tmp_path / "var"), clock=FixedClock(GATEWAY_NOW), pki=session_pki)
    return await app_client(create_app(gateway)), gateway, fk.watch_stages(gateway.async_channel.endpoint)


@FUZZ_HTTP
@given(data=st.data(), content_type=fk.CONTENT_TYPES)
async def test_fuzz_async_http(async_api, data, content_type):
    """``POST /bip-async/``: every fuzzed body gets 200 or 500 + a fault with an errorCode, never INTERNAL_ERROR."""
    COUNTS["async_http"] += 1
    client, _, crashes = async_api
    crashes.clear()
    body = fk.fuzzed_request(data, fkf.async_seeds()[0])
    ctype = data.draw(st.sampled_from(["text/xml; charset=utf-8", content_type])) or ""
    if any(not 32 <= ord(c) < 127 for c in ctype):
        ctype = "text/xml"  # aiohttp's client refuses to send it (the server never sees such a header)
    # through the client's session: TestClient.post would keep every response until the client closes (the long run)
    async with client.session.post(client.make_url("/bip-async/"), data=body, headers={"Content-Type": ctype}) as resp:
        check_async_reply(resp.status, await resp.read(), crashes)


# --- JSON APIs ----------------------------------------------------------------------------------------------------


async def json_api_state(client, pki, gateway) -> dict[str, str]:
    """Bearer tokens of the portal (an account registered here), the State Corporation workstation and АРМ РШЭП,
    a signed Application for ``POST /portal/applications``, and an item in the provider's inbox (that application,
    delivered by one pass of the async channel) for ``/rshep/items/{number}/decide``."""
    from portalkit import application_xml

    applicant = {"iin": fk.APPLICANT, "password": fkf.PORTAL_PASSWORD}
    assert (await client.post("/portal/register", json=applicant)).status in (201, 409)
    logins = {"portal": ("/portal/auth/login", applicant),
              "con": ("/con/auth/login", {"login": fkf.OPERATOR, "password": f"tson-{fkf.OPERATOR}"}),
              "rshep": ("/rshep/login", {"iin": fkf.SPECIALIST, "password": f"rshep-{fkf.SPECIALIST}"})}  # fmt: skip
    state = {}
    for name, (path, body) in logins.items():
        resp = await client.post(path, json=body)
        assert resp.status == 200, await resp.text()
        state[name] = (await resp.json())["token"]
    state["document"] = application_xml(pki)
    headers = {"Authorization": f"Bearer {state['portal']}"}
    resp = await client.post("/portal/applications", json={"document": state["document"]}, headers=headers)
    assert resp.status == 201, await resp.text()
    await gateway.async_channel.run_due()
    resp = await client.get("/rshep/items", headers={"Authorization": f"Bearer {state['rshep']}"})
    items = (await resp.json())["items"]
    state["item"] = items[0]["number"] if items else "RSH-2026-000001"
    resp = await client.post("/chains/child-allowance/runs", json={"channel": "provider", "applicant": fk.APPLICANT,
                                                                   "decide": "wait"})  # fmt: skip
    assert resp.status == 201, await resp.text()
    state["run"] = (await resp.json())["id"]
    return state


def check_json_reply(status: int, body: bytes, where: str, crashes: list[BaseException]) -> None:
    """2xx with a JSON body, or 4xx with ``{"error": {"code", "message"}}`` and a code of ErrorCode; never 5xx."""
    for exc in crashes:  # an exception escaped a handler (the gateway answered 500): only a known one is tolerated
        if fk.known_crash(exc) is None:
            raise exc
        KNOWN_HITS[fk.known_crash(exc)] += 1
    if crashes:
        return
    assert 200 <= status < 500, (where, status, body[:300])
    value = json.loads(body) if body else None
    if status >= 300:
        assert isinstance(value, dict) and set(value) == {"error"}, (where, status, body[:300])
        assert ErrorCode(value["error"]["code"]) and isinstance(value["error"]["message"], str), (where, body[:300])


@pytest.fixture
async def json_api(session_pki, app_client, tmp_path):
    from shlyuz.gateway.app import build_gateway, create_app

    gateway = build_gateway(async_settings(tmp_path / "var"), clock=FixedClock(GATEWAY_NOW), pki=session_pki)
    app = create_app(gateway)
    crashes = fk.watch_app(app)
    client = await app_client(app)
    return client, await json_api_state(client, session_pki, gateway), crashes


JSON_CONTENT_TYPES = st.sampled_from(["application/json"] * 14 + ["application/json; charset=utf-8", None,
                                      "application/octet-stream", "text/plain", "multipart/form-data; boundary=x",
                                      "application/x-www-form-urlencoded"])  # fmt: skip


@FUZZ_HTTP
@given(data=st.data(), route=st.sampled_from(fkf.JSON_ROUTES), content_type=JSON_CONTENT_TYPES,
       auth=st.sampled_from(["right", "right", "none", "garbage", "other"]),
       scope=st.sampled_from([None] * 4 + ["fuzz", "-"]))
async def test_fuzz_json_apis(json_api, data, route, content_type, auth, scope):
    """The portal, State Corporation, АРМ РШЭП, chains and session-clock JSON endpoints with mutated bodies, path
    parameters, tokens and Content-Types: 2xx, or 4xx with a JSON error and a stable code — never 500."""
    COUNTS["json_api"] += 1
    client, state, crashes = json_api
    crashes.clear()
    method, path, param, token, body = route
    if path == "/portal/applications":
        body = {"document": state["document"]}
    param = state["item"] if path.startswith("/rshep/items/") else state["run"] if "/decision" in path else param
    if param is not None:
        path = path.format(quote(data.draw(st.sampled_from([param] * 3) | fkf.PATH_VALUES), safe=""))
    headers = {} if content_type is None else {"Content-Type": content_type}
    if token and auth != "none":
        other = next(state[k] for k in ("portal", "con", "rshep") if k != token)
        value = {"right": state[token], "garbage": data.draw(st.sampled_from(["", "x", "Bearer", "a" * 500])),
                 "other": other}[auth]  # fmt: skip
        headers["Authorization"] = f"Bearer {value}"
    if scope:
        headers["X-Shlyuz-Scope"] = scope
    raw = fkf.fuzzed_json_body(data, body)
    url = client.make_url(URL(path, encoded=True))  # not client.request: it keeps every response (see async_http)
    async with client.session.request(method, url, data=raw, headers=headers) as resp:
        JSON_OUTCOMES[(route[1], resp.status)] += 1
        check_json_reply(resp.status, await resp.read(), f"{method} {path} {raw[:200]!r}", crashes)
