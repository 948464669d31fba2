"""Crashes the fuzzers of tests/test_fuzz.py found (docs/fuzzing.md, "Crashes found").

Every one found so far is fixed and keeps its regression test here. An open one would be pinned with a strict xfail
(and tolerated by the fuzz targets through ``fuzzkit.KNOWN_CRASHES``) until fixed.
"""

from __future__ import annotations

import copy

import fuzzkit as fk
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from shlyuz.client import SendMessage
from shlyuz.conform.loader import ScenarioError, load_file
from shlyuz.dsig import algorithms as alg
from shlyuz.dsig.certcheck import build_path, check_certificate, identifiers
from shlyuz.dsig.wsse import verify_envelope
from shlyuz.errors import ShlyuzError
from shlyuz.fixtures.store import FixtureError, load_dir
from shlyuz.pki import _der as der
from shlyuz.pki.revocation import CrlError, parse_ocsp_request, read_crl
from shlyuz.services.loader import ServiceDefinitionError, parse_service
from shlyuz.shep import ns
from shlyuz.shep.responses import Fault
from shlyuz.storage.base import JournalQuery

pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning",
                                        "ignore::UserWarning")  # fmt: skip

def _with_tbs(signed_der: bytes, edit, key) -> bytes:
    """A certificate or CRL with its TBS children edited (``edit(list of DER) -> list``), signed again by ``key``."""
    outer = der.children(der.read_one(signed_der).value)
    tbs = der.seq(*edit([c.raw for c in der.children(outer[0].value)]))
    return der.seq(tbs, outer[1].raw, der.bit_string(key.sign(tbs, ec.ECDSA(hashes.SHA256()))))


EMPTY_RDN = b"\x30\x02\x31\x00"  # Name ::= SEQUENCE { SET {} }: an empty RelativeDistinguishedName
BITSTRING_CN = bytes.fromhex("300e310c300a06035504030303006162")  # CN as a BIT STRING


def _leaf_with(subject: bytes | None = None, issuer: bytes | None = None) -> x509.Certificate:
    _, ca, leaf = fk.chain()

    def edit(tbs: list[bytes]) -> list[bytes]:  # version, serial, signature, issuer, validity, subject, …
        return [*tbs[:3], issuer or tbs[3], tbs[4], subject or tbs[5], *tbs[6:]]

    return x509.load_der_x509_certificate(_with_tbs(leaf.cert_der(), edit, ca.key))


def test_regression_keyinfo_certificate_with_a_malformed_subject():
    """Was: ValueError from dsig/algorithms.py describe() out of verify_envelope (INTERNAL_ERROR in the gateway),
    for a KeyIdentifier certificate whose subject has an empty RDN; no key needed (before the signature check)."""
    envelope = etree.fromstring(fk.signed_documents()[0])
    envelope.find(f".//{{{ns.WSSE}}}KeyIdentifier").text = alg.base64.b64encode(
        _leaf_with(subject=EMPTY_RDN).public_bytes(Encoding.DER)).decode()  # fmt: skip
    try:
        verify_envelope(envelope)  # the key is the signer's: it verifies; judging the certificate comes after
    except ShlyuzError:
        pass
    assert identifiers(_leaf_with(subject=EMPTY_RDN)) == (None, None)  # was: ValueError from certcheck.identifiers


def test_regression_certificate_with_a_duplicate_extension():
    """Was: cryptography's DuplicateExtension out of certcheck._ext (check_certificate, build_path)."""
    root, ca, leaf = fk.chain()

    def dup_first_extension(tbs: list[bytes]) -> list[bytes]:
        exts = der.children(der.children(der.read_one(tbs[-1]).value)[0].value)
        return [*tbs[:-1], der.explicit(3, der.seq(exts[0].raw, *(e.raw for e in exts)))]

    cert = x509.load_der_x509_certificate(_with_tbs(leaf.cert_der(), dup_first_extension, ca.key))
    with pytest.raises(ShlyuzError):
        check_certificate(cert, anchors=[root.cert], intermediates=[ca.cert], at=fk.AT, purpose="sign")


def test_regression_crl_with_a_malformed_issuer_name():
    """Was: ValueError out of pki/revocation.py read_crl (crl.issuer, before the signature check) — for a CRL
    fetched from a --trust-ca CA's distribution point, an INTERNAL_ERROR instead of REVOCATION_UNAVAILABLE."""
    crl = fk.ocsp_seeds()[2]
    bad = crl.replace(b"\x0c\x07FUZZ CA", b"\x0c\x07\x80UZZ CA", 1)
    assert bad != crl
    with pytest.raises(CrlError):
        read_crl(bad, fk.chain()[1].cert)


def test_regression_ocsp_request_with_an_unknown_hash_algorithm():
    """Was: UnsupportedAlgorithm out of pki/ocsp_request.py parse_ocsp_request (documented: ValueError)."""
    tree = fk._der_parse(fk.ocsp_seeds()[0])
    hash_oid = tree[1][0][1][0][1][0][1][0][1][0][1][0]  # OCSPRequest/tbs/requestList/Request/CertID/alg/OID
    assert hash_oid == [6, bytes.fromhex("608648016503040201")]  # SHA-256
    hash_oid[1] = b"\x00"  # OID 0.0
    with pytest.raises(ValueError):
        parse_ocsp_request(fk._der_encode(tree))


def test_regression_deeply_nested_fixture_json(tmp_path):
    """Was: RecursionError out of fixtures/store.py _load_list (documented: FixtureError)."""
    (tmp_path / "persons.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(FixtureError, match="persons.json"):
        load_dir(tmp_path)


async def test_regression_non_ascii_password(shep):
    """Was: TypeError from hmac.compare_digest(str, str) in shep/auth.py password_matches: INTERNAL_ERROR for a
    password with a non-ASCII character (Cyrillic is plausible here) instead of AUTH_FAILED."""
    body = SendMessage("GBDFL_UniversalServiceSync", fk.gbdfl_request(iin=fk.APPLICANT), password="пароль").to_bytes()
    reply = await shep.post(body)
    assert reply.status == 500 and reply.parsed.error.error_code == "AUTH_FAILED", reply.body[:400]


async def test_regression_control_character_in_a_fault_message(shep):
    """Was: an unauthenticated request whose WS-Security certificate has a control character in its CN made the
    fault message unwritable (lxml refuses it): SyncPipeline.process raised, the gateway answered 500 with JSON (no
    SOAP fault) and journaled nothing."""
    from certs import make_leaf

    from shlyuz.dsig.signer import Signer

    evil = make_leaf(fk.chain()[1], cn="EVIL\x01NAME", kind="ec-p256")
    body = SendMessage("GBDFL_UniversalServiceSync", fk.gbdfl_request(iin=fk.APPLICANT), message_id="evil-cn",
                       wsse_signer=Signer(evil.key, evil.cert)).to_bytes()  # fmt: skip
    reply = await shep.post(body, path="/bip-sync-wss-gost/")
    assert reply.status == 500 and isinstance(reply.parsed, Fault), reply.body[:400]
    assert reply.parsed.error.error_code == "CERT_UNTRUSTED"
    [entry] = await shep.gateway.storage.query_exchanges(JournalQuery(message_id="evil-cn"))
    assert entry.outcome == "CERT_UNTRUSTED"


async def test_fixed_crash_keyinfo_certificate_version(shep):
    """A WS-Security KeyIdentifier certificate whose version INTEGER is 3 (no such X.509 version): cryptography
    raises x509.InvalidVersion, which load_certificate_b64 does not catch (only ValueError, UnsupportedAlgorithm):
    unauthenticated, the gateway answers INTERNAL_ERROR instead of SIGNATURE_INVALID."""
    tree = fk._der_parse(fk.chain()[2].cert_der())
    assert tree[1][0][1][0] == [0xA0, [[2, b"\x02"]]]  # [0] EXPLICIT version v3
    tree[1][0][1][0][1][0][1] = b"\x03"
    envelope = etree.fromstring(fk.signed_documents()[0])
    envelope.find(f".//{{{ns.WSSE}}}KeyIdentifier").text = alg.base64.b64encode(fk._der_encode(tree)).decode()
    reply = await shep.post(etree.tostring(envelope), path="/bip-sync-wss-gost/", validate=False)
    assert reply.status == 500 and reply.parsed.error.error_code == "SIGNATURE_INVALID", reply.parsed


def test_fixed_crash_check_certificate_malformed_subject():
    """A leaf, validly signed by a trusted CA, whose subject has an empty RDN: every check passes, then building
    the verdict (``subject=_dn(cert.subject)``, outside _dn's try) raises ValueError."""
    root, ca, _ = fk.chain()
    with pytest.raises(ShlyuzError):
        check_certificate(_leaf_with(subject=EMPTY_RDN), anchors=[root.cert], intermediates=[ca.cert], at=fk.AT,
                          purpose="sign", require_eku=False)  # fmt: skip


def test_fixed_crash_build_path_malformed_issuer():
    """A leaf, validly signed by the CA, whose issuer name has an empty RDN: build_path (and so check_certificate,
    and the gateway's signature stage: INTERNAL_ERROR) raises ValueError from ``c.subject == last.issuer``."""
    root, ca, _ = fk.chain()
    with pytest.raises(ShlyuzError):
        build_path(_leaf_with(issuer=EMPTY_RDN), [root.cert], [ca.cert])


def test_fixed_crash_subject_with_a_bit_string_attribute():
    """A subject whose CN is a BIT STRING: cert.subject raises TypeError ("oid must be X500_UNIQUE_IDENTIFIER for
    BitString type"), which dsig/algorithms.py describe() and certcheck.identifiers() catch only as ValueError."""
    cert = _leaf_with(subject=BITSTRING_CN)
    assert identifiers(cert) == (None, None)
    alg.describe(cert)


@pytest.mark.parametrize("case", ["version 0", "bit string issuer", "duplicate CRLNumber", "malformed reasonCode"])
def test_fixed_crash_read_crl_malformed(case):
    """read_crl lets cryptography's errors out instead of CrlError. Unsigned (no key needed, so from any CRL
    distribution point): InvalidVersion for a version INTEGER 0 (at load), TypeError for an issuer attribute that is
    a BIT STRING (``crl.issuer``: the fix there catches ValueError only). Validly signed (after the signature check):
    DuplicateExtension when CRLNumber is there twice, ValueError when an entry's reasonCode does not decode."""
    _, ca, _ = fk.chain()
    tree = fk._der_parse(fk.ocsp_seeds()[2])
    tbs = tree[1][0]  # version, signature, issuer, thisUpdate, nextUpdate, revokedCertificates, [0] extensions
    assert tbs[1][0] == [2, b"\x01"]  # v2
    if case == "version 0":
        tbs[1][0][1] = b"\x00"
    elif case == "bit string issuer":
        country = tbs[1][2][1][0][1][0][1][1]  # issuer / first RDN / its attribute / value: C=KZ
        assert country == [0x13, b"KZ"]
        country[0] = 0x03
    elif case == "duplicate CRLNumber":
        tbs[1][6][1][0][1].append(copy.deepcopy(tbs[1][6][1][0][1][0]))
    else:
        reason = tbs[1][5][1][0][1][2][1][0][1][1]  # entry 1 / crlEntryExtensions / reasonCode / extnValue
        assert reason == [4, b"\x0a\x01\x01"]  # ENUMERATED keyCompromise
        reason[1] = b"\x0a\x05\x01"
    bad = fk._der_encode(tree)
    if case in ("duplicate CRLNumber", "malformed reasonCode"):
        bad = _with_tbs(bad, lambda children: children, ca.key)
    with pytest.raises(CrlError):
        read_crl(bad, ca.cert)


@pytest.mark.parametrize("line", ["description: 2026-13-45", "2026-02-30: x", "description: !!int abc",
                                  "description: !!float x", "description: !!bool maybe",
                                  "description: " + "1" * 5000, "description: !!timestamp x"])  # fmt: skip
def test_fixed_crash_yaml_value_that_cannot_be_constructed(tmp_path, line):
    """PyYAML's constructors raise ValueError, KeyError or AttributeError, not YAMLError, for a plain scalar that
    looks like a date but is none (2026-13-45, as a value or a key), a tagged scalar of the wrong form (!!int abc,
    !!bool maybe, !!timestamp x) or an integer longer than Python's 4,300-digit conversion limit: conform.loader.load_file and
    services.loader.parse_service let them out instead of ScenarioError / ServiceDefinitionError (`shlyuz conform`
    and `serve` stopped with a traceback instead of a message naming the file)."""
    text = f"name: x\n{line}\nsteps: []\n"
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match="a value cannot be read"):
        load_file(path)
    with pytest.raises(ServiceDefinitionError, match="a value cannot be read"):
        parse_service(text.encode(), "s.yaml")


@pytest.mark.parametrize("value", [
    "[&l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol], "
    + ", ".join(f"&l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)) + "]",
    "&self [*self]",
])  # fmt: skip
def test_fixed_hang_scenario_aliases_expanding_without_bound(tmp_path, value):
    """A "billion laughs" (8 levels of 10 aliases: 10^8 strings from a 400-byte value) or an alias to itself under a
    step's ``http.json`` (typed Any: pydantic does not walk it) loaded fine, then conform.runner.substitute copied
    every value when the step ran: minutes and gigabytes for the first, RecursionError for the second. load_file now
    refuses a file whose aliases expand past MAX_VALUES; one anchor used a few times (conformance/faults) still
    loads."""
    path = tmp_path / "laughs.yaml"
    path.write_text(f"name: a\nsteps:\n- name: s\n  http:\n    path: /x\n    json: {value}\n")
    with pytest.raises(ScenarioError, match="aliases expand to more than"):
        load_file(path)
    path.write_text("name: a\nsteps:\n- name: s\n  http:\n    path: /x\n    json: &p {a: 1}\n"
                    "- name: t\n  http:\n    path: /y\n    json: *p\n")  # fmt: skip
    assert [s.http.json_ for s in load_file(path)[0].scenario.steps] == [{"a": 1}, {"a": 1}]


@pytest.mark.parametrize("where", ["start a run", "decide a waiting run"])
async def test_fixed_crash_chain_refusal_ground_that_is_no_code(settings, session_pki, app_client, where):
    """Found by the json_api target: ``ground`` (the refusal ground's code) was any text of up to 40 characters in
    RunOptions and DecisionIn, but the signed result takes it as a Decision reason code
    (``^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$``). A ground with a space made chains/result.py signed_result raise pydantic's
    ValidationError when the run reached its result: 500 INTERNAL_ERROR from ``POST /chains/{service}/runs`` (decide
    refuse) and ``POST /chains/runs/{run}/decision``. Now 400 INVALID_PARAMETER, and the run still waits."""
    from conftest import GATEWAY_NOW

    from shlyuz.clock import FixedClock
    from shlyuz.gateway.app import build_gateway, create_app

    client = await app_client(create_app(build_gateway(settings, clock=FixedClock(GATEWAY_NOW), pki=session_pki)))
    run = {"channel": "provider", "applicant": fk.APPLICANT}
    if where == "start a run":
        resp = await client.post("/chains/child-allowance/runs", json={**run, "decide": "refuse", "ground": "a b"})
    else:
        waiting = await (await client.post("/chains/child-allowance/runs", json={**run, "decide": "wait"})).json()
        assert waiting["status"] == "waiting"
        resp = await client.post(f"/chains/runs/{waiting['id']}/decision", json={"approve": False, "ground": "a b"})
        assert (await (await client.get(f"/chains/runs/{waiting['id']}")).json())["status"] == "waiting"
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["error"]["code"] == "INVALID_PARAMETER"
