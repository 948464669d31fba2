"""The NCALayer emulator over a real WebSocket (127.0.0.1, ephemeral port, TLS with the test CA as the only trust
anchor, and a plain ws:// variant): the greeting, basics.sign and the commonUtils methods signing for real, every
signature checked by the gateway's own verifier and by an independent tool (xmlsec1, openssl cms), the bad
identities refused with their codes, cancel mode, the control port and the per-connection control module."""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from conftest import GATEWAY_NOW, REPO
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from edshelp import VERIFICATION_TIME, xmlsec1
from egovkit import verifier
from lxml import etree

from shlyuz.dsig import algorithms as alg
from shlyuz.dsig.enveloped import verify_enveloped
from shlyuz.egov.signing import verify_document
from shlyuz.errors import ShlyuzError
from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.ncalayer.server import NcaLayer, start, tls_context
from shlyuz.pki.store import Pki

APPLICANT = DEMO_IINS["applicant"]
BASE = f"person/{APPLICANT}"
EKU_SIGN, EKU_AUTH = "1.3.6.1.5.5.7.3.4", "1.3.6.1.5.5.7.3.2"
DOC = f'<application xmlns="urn:shlyuz:test"><iin>{APPLICANT}</iin><!-- a comment --><note>Өтініш</note></application>'
ATTIME = str(int(GATEWAY_NOW.timestamp()))  # openssl judges certificates at the gateway clock's time


@pytest.fixture(scope="module")
def tls_pki(tmp_path_factory):
    """A PKI made now with only ``tls/localhost``, issued from the same spec as the fixture identity: TLS is judged by
    the real clock, which the session PKI (made at 2025-12-01) does not follow."""
    from shlyuz.fixtures.store import load_dirs
    from shlyuz.pki.fixture_ids import plan

    now = datetime.now(UTC)
    pki = Pki.open(tmp_path_factory.mktemp("tls") / "pki", now=now)
    [spec] = [s for s in plan(load_dirs([REPO / "fixtures"]), now=now) if s.name == "tls/localhost"]
    pki.issue_many([spec], now=now)
    return pki


@dataclass
class Env:
    state: NcaLayer
    port: int
    control: str
    scheme: str
    client_ssl: ssl.SSLContext | bool
    http: aiohttp.ClientSession

    @contextlib.asynccontextmanager
    async def connect(self, query: str = ""):
        async with self.http.ws_connect(f"{self.scheme}://127.0.0.1:{self.port}/{query}", ssl=self.client_ssl) as ws:
            greeting = await ws.receive(timeout=30)
            assert greeting.type == aiohttp.WSMsgType.TEXT
            yield Ws(ws, json.loads(greeting.data))

    async def select(self, **body) -> tuple[int, dict]:
        async with self.http.post(f"{self.control}/identity", json=body) as resp:
            return resp.status, await resp.json()


@dataclass
class Ws:
    ws: aiohttp.ClientWebSocketResponse
    greeting: dict

    async def call(self, frame: dict | str) -> dict:
        await self.ws.send_str(frame if isinstance(frame, str) else json.dumps(frame, ensure_ascii=False))
        msg = await self.ws.receive(timeout=60)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        return json.loads(msg.data)


async def _env(session_pki, tls: Pki | None):
    state = NcaLayer.build(session_pki, BASE)
    running = await start(state, port=0, ssl_context=tls_context(tls) if tls else None, control_port=0)
    client_ssl: ssl.SSLContext | bool = False
    if tls:
        client_ssl = ssl.create_default_context(cafile=str(tls.ca_pem_path("root")))  # the test root only
    async with aiohttp.ClientSession() as http:
        try:
            yield Env(state, running.port, f"http://127.0.0.1:{running.control_port}", "wss" if tls else "ws",
                      client_ssl, http)  # fmt: skip
        finally:
            await running.close()


@pytest.fixture
async def nca(session_pki, tls_pki):
    async for env in _env(session_pki, tls_pki):
        yield env


@pytest.fixture
async def nca_plain(session_pki):
    async for env in _env(session_pki, None):
        yield env


def basics_sign(fmt: str, data, *, oids=(EKU_SIGN,), **signing) -> dict:
    return {"module": "kz.gov.pki.knca.basics", "method": "sign", "args": {
        "allowedStorages": ["PKCS12"], "format": fmt, "data": data, "signingParams": signing,
        "signerParams": {"extKeyUsageOids": list(oids), "chain": []}, "locale": "ru"}}  # fmt: skip


def common(method: str, *args) -> dict:
    return {"module": "kz.gov.pki.knca.commonUtils", "method": method, "args": list(args)}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def openssl(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *map(str, args)], check=False, capture_output=True, timeout=60)


def xmlsec1_verify(pki: Pki, path: Path) -> subprocess.CompletedProcess:
    """xmlsec1 with the test root as the only trusted certificate: the signature and the chain."""
    return xmlsec1("--verify", *VERIFICATION_TIME, "--trusted-pem", pki.ca_pem_path("root"),
                   "--untrusted-pem", pki.ca_pem_path("issuing"), path)  # fmt: skip


# -- connection ------------------------------------------------------------------------------------------------------


async def test_greeting_over_tls_trusting_only_the_test_root(nca, tls_pki):
    async with nca.connect() as ws:
        assert ws.greeting == {"result": {"version": "1.4"}}
        assert await ws.call(common("getActiveTokens")) == {"code": "200", "responseObject": []}
    # the certificate is tls/localhost of the test PKI; without trusting its root the handshake fails
    async with nca.http.ws_connect(f"wss://127.0.0.1:{nca.port}/", ssl=False) as ws:
        peer = ws.get_extra_info("ssl_object").getpeercert(binary_form=True)
    assert x509.load_der_x509_certificate(peer) == tls_pki.identity("tls/localhost").cert
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await nca.http.ws_connect(f"wss://127.0.0.1:{nca.port}/", ssl=ssl.create_default_context())


async def test_plain_ws_variant(nca_plain):
    async with nca_plain.connect() as ws:
        assert ws.greeting == {"result": {"version": "1.4"}}
        assert (await ws.call(common("getActiveTokens")))["code"] == "200"
    async with nca_plain.http.get(f"http://127.0.0.1:{nca_plain.port}/") as resp:  # a fetch probe without upgrade
        assert resp.status == 200 and "NCALayer emulator" in await resp.text()


# -- basics.sign -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("purpose,oids", [("sign", (EKU_SIGN,)), ("auth", (EKU_AUTH,)), ("sign", ())])
async def test_basics_sign_xml_verifies_with_the_gateway_and_xmlsec1(nca, session_pki, settings, tmp_path,
                                                                      purpose, oids):  # fmt: skip
    async with nca.connect() as ws:
        answer = await ws.call(basics_sign("xml", DOC, oids=oids))
    assert answer["status"] is True and set(answer) == {"status", "body"}
    signed = answer["body"]["result"]
    assert signed.startswith('<?xml version="1.0" encoding="UTF-8" standalone="no"?><application')
    root = etree.fromstring(signed.encode())
    ident = session_pki.identity(f"{BASE}/{purpose}")
    result = verify_enveloped(root)
    assert result.certificate == ident.cert and result.algorithm == "rsa-sha256"
    assert result.c14n == "c14n#WithComments"  # NCALayer's reference transform
    gateway = verifier(settings, session_pki)
    cv = await gateway.check(result.certificate, (purpose,))
    assert cv.iin == APPLICANT and cv.purpose == purpose and cv.revocation == "ocsp"
    if purpose == "sign":
        signed_by = await verify_document(root, gateway)
        assert signed_by.iin == APPLICANT and signed_by.roles == ("individual",)
    else:
        with pytest.raises(ShlyuzError) as exc:  # an AUTH key does not sign documents
            await verify_document(root, gateway)
        assert exc.value.code.value == "CERT_KEY_USAGE"
    (tmp_path / "signed.xml").write_text(signed, encoding="utf-8")
    ok = xmlsec1_verify(session_pki, tmp_path / "signed.xml")
    assert ok.returncode == 0, ok.stderr
    (tmp_path / "forged.xml").write_text(signed.replace("Өтініш", "Otinish"), encoding="utf-8")
    assert xmlsec1_verify(session_pki, tmp_path / "forged.xml").returncode != 0  # the check has teeth


async def test_basics_sign_xml_base64_and_array_and_output_cert(nca, session_pki):
    async with nca.connect() as ws:
        answer = await ws.call(basics_sign("xml", [b64(DOC.encode()), b64(b"<a/>")], decode=True, outputCert="true"))
    result = answer["body"]["result"]
    assert set(result) == {"signatures", "certificate"} and len(result["signatures"]) == 2
    ident = session_pki.identity(f"{BASE}/sign")
    assert base64.b64decode(result["certificate"]) == ident.cert.public_bytes(serialization.Encoding.DER)
    for signed in result["signatures"]:
        assert verify_enveloped(etree.fromstring(signed.encode())).certificate == ident.cert


@pytest.mark.parametrize("encapsulate", [False, True])
async def test_basics_sign_cms_verifies_with_openssl(nca, session_pki, tmp_path, encapsulate):
    content = "Өтініш №1: детская выплата".encode()
    async with nca.connect() as ws:
        answer = await ws.call(basics_sign("cms", b64(content), decode=True, encapsulate=encapsulate, digested=False))
    cms = base64.b64decode(answer["body"]["result"])
    (tmp_path / "sig.p7s").write_bytes(cms)
    (tmp_path / "data.bin").write_bytes(content)
    root = session_pki.ca_pem_path("root")
    args = ["cms", "-verify", "-binary", "-inform", "DER", "-in", tmp_path / "sig.p7s", "-CAfile", root,
            "-attime", ATTIME, "-purpose", "any", "-signer", tmp_path / "signer.pem", "-out", tmp_path / "out.bin"]  # fmt: skip
    if not encapsulate:
        args += ["-content", tmp_path / "data.bin"]
    ok = openssl(*args)
    assert ok.returncode == 0, ok.stderr.decode()
    assert (tmp_path / "out.bin").read_bytes() == content
    signer = x509.load_pem_x509_certificate((tmp_path / "signer.pem").read_bytes())
    assert signer == session_pki.identity(f"{BASE}/sign").cert
    # CMS SignedData, not CAdES-BES: PKCS7SignatureBuilder cannot add the ESS signing-certificate-v2 attribute
    printed = openssl("cms", "-cmsout", "-print", "-inform", "DER", "-in", tmp_path / "sig.p7s").stdout.decode()
    signed_attrs = printed.split("signedAttrs:")[1].split("signatureAlgorithm:")[0]
    assert [line.split("object: ")[1].split(" (")[0] for line in signed_attrs.splitlines() if "object: " in line] == [
        "contentType", "signingTime", "messageDigest", "S/MIME Capabilities"]  # fmt: skip
    # teeth: other content does not verify against a detached signature; a changed attached one neither
    (tmp_path / "other.bin").write_bytes(content + b"!")
    if not encapsulate:
        bad = openssl(*args[:-2], "-content", tmp_path / "other.bin")
        assert bad.returncode != 0


# -- commonUtils -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key_type,purpose", [("SIGNATURE", "sign"), ("AUTHENTICATION", "auth"), ("ANY", "sign")])
async def test_common_sign_xml_has_ncalayers_shape(nca, session_pki, settings, tmp_path, key_type, purpose):
    async with nca.connect() as ws:
        answer = await ws.call(common("signXml", "PKCS12", key_type, "<tag>data</tag>", "", ""))
    assert set(answer) == {"code", "responseObject"} and answer["code"] == "200"
    signed = answer["responseObject"]
    assert signed.startswith('<?xml version="1.0" encoding="UTF-8" standalone="no"?><tag>data<ds:Signature ')
    root = etree.fromstring(signed.encode())
    ns = {"ds": alg.DS}
    assert root.find("ds:Signature/ds:SignedInfo/ds:CanonicalizationMethod", ns).get("Algorithm") == alg.C14N
    assert [t.get("Algorithm") for t in root.findall(".//ds:Transform", ns)] == [alg.ENVELOPED_SIGNATURE,
                                                                                  alg.C14N_COMMENTS]  # fmt: skip
    assert root.find(".//ds:Reference", ns).get("URI") == ""
    assert root.find(".//ds:DigestMethod", ns).get("Algorithm") == alg.SHA256
    # the digest of <tag>data</tag> is the one in the real NCALayer answer captured by sigex-kz/ncalayer-js-client
    assert root.find(".//ds:DigestValue", ns).text == "soDZFGIUsZ1x0sK/7x1bJvtGeQsO0BKOVwAvKxC3RJY="
    assert verify_enveloped(root).certificate == session_pki.identity(f"{BASE}/{purpose}").cert
    (tmp_path / "s.xml").write_text(signed, encoding="utf-8")
    assert xmlsec1_verify(session_pki, tmp_path / "s.xml").returncode == 0


async def test_common_sign_xmls_and_errors(nca):
    async with nca.connect() as ws:
        answer = await ws.call(common("signXmls", "PKCS12", "SIGNATURE", ["<a/>", "<b>x</b>"], "", ""))
        assert answer["code"] == "200" and len(answer["responseObject"]) == 2
        bad = await ws.call(common("signXml", "PKCS12", "SIGNATURE", "<this>is not a valid XML", "", ""))
        assert bad["code"] == "500" and bad["message"].startswith("MALFORMED_XML: not well-formed XML")
        dtd = await ws.call(common("signXml", "PKCS12", "SIGNATURE", '<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', "", ""))
        assert dtd["code"] == "500" and dtd["message"].startswith("XML_DTD_FORBIDDEN")
        xpath = await ws.call(common("signXml", "PKCS12", "SIGNATURE", "<a><b/></a>", "/a/b", ""))
        assert xpath["code"] == "500" and "tbsElementXPath" in xpath["message"]


async def test_get_key_info_is_read_from_the_certificate(nca, session_pki):
    async with nca.connect() as ws:
        answer = await ws.call(common("getKeyInfo", "PKCS12"))
    info = answer["responseObject"]
    cert = session_pki.identity(f"{BASE}/sign").cert
    assert info["pem"].encode() == cert.public_bytes(serialization.Encoding.PEM)
    assert info["iin"] == APPLICANT and info["bin"] == "" and info["keyUsage"] == "SIGN" and info["algorithm"] == "RSA"
    assert f"SERIALNUMBER=IIN{APPLICANT}" in info["subjectDn"] and info["subjectCn"] in info["subjectDn"]
    assert info["issuerCn"] == "ҰКО (RSA) TEST (shlyuz)" and info["serialNumber"] == f"{cert.serial_number:x}"
    assert int(info["certNotAfter"]) == int(cert.not_valid_after_utc.timestamp() * 1000)
    assert int(info["certNotBefore"]) == int(cert.not_valid_before_utc.timestamp() * 1000)
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest.hex()
    assert info["keyId"] == ski and info["authorityKeyIdentifier"]


@pytest.mark.parametrize("method", ["createCAdESFromBase64", "createCMSSignatureFromBase64"])
@pytest.mark.parametrize("attach", [False, True])
async def test_create_cades_from_base64_verifies_with_openssl(nca, session_pki, tmp_path, method, attach):
    content = b"\x00\x01binary \xff data"
    async with nca.connect() as ws:
        answer = await ws.call(common(method, "PKCS12", "AUTHENTICATION", b64(content), attach))
    assert answer["code"] == "200"
    (tmp_path / "sig.p7s").write_bytes(base64.b64decode(answer["responseObject"]))
    (tmp_path / "data.bin").write_bytes(content)
    args = ["cms", "-verify", "-binary", "-inform", "DER", "-in", tmp_path / "sig.p7s", "-CAfile",
            session_pki.ca_pem_path("root"), "-attime", ATTIME, "-purpose", "any", "-out", tmp_path / "out.bin",
            "-signer", tmp_path / "signer.pem"]  # fmt: skip
    if not attach:
        args += ["-content", tmp_path / "data.bin"]
    ok = openssl(*args)
    assert ok.returncode == 0, ok.stderr.decode()
    assert (tmp_path / "out.bin").read_bytes() == content
    signer = x509.load_pem_x509_certificate((tmp_path / "signer.pem").read_bytes())
    assert signer == session_pki.identity(f"{BASE}/auth").cert  # AUTHENTICATION picked the auth key


# -- identities, bad identities, cancel ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name,code", [
    ("bad/expired", "CERT_EXPIRED"), ("bad/revoked", "CERT_REVOKED"), ("bad/untrusted", "CERT_UNTRUSTED"),
    ("bad/auth-used-for-signing", "CERT_KEY_USAGE"), ("bad/no-eku", "CERT_KEY_USAGE"),
    ("bad/not-yet-valid", "CERT_NOT_YET_VALID"),
])  # fmt: skip
async def test_bad_identity_signs_and_the_verifier_refuses(nca, session_pki, settings, name, code):
    status, state = await nca.select(identity=name)
    assert status == 200 and state["identity"] == name and state["keys"] == [name]
    async with nca.connect() as ws:
        answer = await ws.call(basics_sign("xml", DOC))  # the signer filters do not hide a bad identity
    root = etree.fromstring(answer["body"]["result"].encode())
    assert verify_enveloped(root).certificate == session_pki.identity(name).cert  # a valid signature…
    with pytest.raises(ShlyuzError) as exc:
        await verify_document(root, verifier(settings, session_pki))  # …that the gateway refuses
    assert exc.value.code.value == code


async def test_per_connection_selection_by_query_and_by_control_module(nca, session_pki):
    async with nca.connect("?identity=bad/revoked") as ws:
        info = (await ws.call(common("getKeyInfo", "PKCS12")))["responseObject"]
        assert info["serialNumber"] == f"{session_pki.identity('bad/revoked').cert.serial_number:x}"
        state = await ws.call({"module": "shlyuz.ncalayer", "method": "selectIdentity",
                               "args": {"identity": "system/GBDFL"}})  # fmt: skip
        assert state == {"code": "200", "responseObject": {"identity": "system/GBDFL", "mode": "sign",
                                                           "keys": ["system/GBDFL"]}}  # fmt: skip
        info = (await ws.call(common("getKeyInfo", "PKCS12")))["responseObject"]
        assert info["bin"] == "020340001011" and info["iin"] == ""
        missing = await ws.call({"module": "shlyuz.ncalayer", "method": "selectIdentity", "args": {"identity": "x/y"}})
        assert missing["code"] == "404" and "no identity 'x/y'" in missing["message"]
    async with nca.http.ws_connect(f"wss://127.0.0.1:{nca.port}/", ssl=nca.client_ssl,
                                   headers={"X-Shlyuz-Identity": "gateway", "X-Shlyuz-Mode": "sign"}) as raw:  # fmt: skip
        await raw.receive(timeout=30)
        info = (await Ws(raw, {}).call(common("getKeyInfo", "PKCS12")))["responseObject"]
        assert info["bin"] == "020340003038"  # the header chose the gateway identity
    async with nca.connect() as ws:  # another connection keeps the server's default
        info = (await ws.call(common("getKeyInfo", "PKCS12")))["responseObject"]
        assert info["iin"] == APPLICANT


async def test_refused_upgrade_names_the_unknown_identity(nca):
    with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
        await nca.http.ws_connect(f"wss://127.0.0.1:{nca.port}/?identity=nobody", ssl=nca.client_ssl)
    assert exc.value.status == 400
    async with nca.http.get(f"https://127.0.0.1:{nca.port}/?identity=nobody", ssl=nca.client_ssl,
                            headers={"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                                     "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}) as resp:  # fmt: skip
        body = await resp.json()
    assert resp.status == 400 and body["error"]["code"] == "INVALID_PARAMETER" and "nobody" in body["error"]["message"]


async def test_cancel_mode_answers_like_the_cancel_button(nca):
    status, state = await nca.select(mode="cancel")
    assert status == 200 and state["mode"] == "cancel"
    async with nca.connect() as ws:
        assert await ws.call(basics_sign("cms", b64(b"x"), decode=True)) == {"status": True, "body": {}}
        assert await ws.call(common("signXml", "PKCS12", "SIGNATURE", "<a/>", "", "")) == {
            "code": "500", "message": "action.canceled"}  # fmt: skip
        assert await ws.call(common("getKeyInfo", "PKCS12")) == {"code": "500", "message": "action.canceled"}
        assert (await ws.call(common("getActiveTokens")))["code"] == "200"  # no dialog, no cancel
        back = await ws.call({"module": "shlyuz.ncalayer", "method": "selectIdentity", "args": {"mode": "sign"}})
        assert back["responseObject"]["mode"] == "sign"
        assert (await ws.call(basics_sign("cms", b64(b"x"), decode=True)))["body"]["result"]
    async with nca.connect("?mode=sign") as ws:
        assert (await ws.call(basics_sign("cms", "x")))["status"] is True


async def test_signer_filters(nca):
    async with nca.connect() as ws:
        ok = await ws.call({**basics_sign("xml", "<a/>"), "args": {**basics_sign("xml", "<a/>")["args"],
                            "signerParams": {"extKeyUsageOids": [EKU_SIGN, "1.2.398.3.3.4.1.1"], "iin": APPLICANT}}})  # fmt: skip
        assert ok["status"] is True
        for params, why in [({"iin": "820214300014"}, "iin 820214300014 asked"),
                            ({"extKeyUsageOids": [EKU_SIGN, "1.2.398.3.3.4.1.2.1"]}, "lacks 1.2.398.3.3.4.1.2.1"),
                            ({"bin": "020340001011"}, "bin 020340001011 asked"),
                            ({"serialNumber": "ffff"}, "serialNumber ffff asked")]:  # fmt: skip
            frame = basics_sign("xml", "<a/>")
            frame["args"]["signerParams"] = params
            answer = await ws.call(frame)
            assert answer["status"] is False and answer["code"] == "SIGNING_FAILURE" and why in answer["message"]


# -- the control port --------------------------------------------------------------------------------------------------


async def test_control_port(nca):
    async with nca.http.get(f"{nca.control}/") as resp:
        state = await resp.json()
    assert state == {"identity": BASE, "mode": "sign", "keys": [f"{BASE}/auth", f"{BASE}/sign"], "version": "1.4",
                     "connections": 0, "served": 0}  # fmt: skip
    async with nca.http.get(f"{nca.control}/identities", params={"tag": "bad"}) as resp:
        assert "bad/revoked" in (await resp.json())["identities"]
    status, body = await nca.select(identity="person/000000000000")
    assert status == 404 and body["error"]["code"] == "NOT_FOUND"
    status, body = await nca.select(identity="bad/expired", colour="red")
    assert status == 400 and body["error"]["code"] == "INVALID_PARAMETER" and "colour" in body["error"]["message"]
    status, body = await nca.select(mode="later")
    assert status == 400 and body["error"]["code"] == "INVALID_PARAMETER"
    status, body = await nca.select()
    assert status == 400 and "give identity, mode, or both" in body["error"]["message"]
    async with nca.http.post(f"{nca.control}/identity", data=b"{not json") as resp:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "INVALID_JSON"
    async with nca.http.get(f"{nca.control}/nope") as resp:
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "NOT_FOUND"
    status, body = await nca.select(identity=f"{BASE}/sign")  # a key name selects its base: /auth stays reachable
    assert status == 200 and body["keys"] == [f"{BASE}/auth", f"{BASE}/sign"]


# -- the command -------------------------------------------------------------------------------------------------------


async def test_shlyuz_ncalayer_command_serves_wss_with_the_data_dirs_pki(settings, capsys):
    """``shlyuz ncalayer`` as the CLI runs it (port 0): the PKI is made in DATA_DIR/pki on first use, TLS is its
    ``tls/localhost`` fixture identity, and trusting DATA_DIR/pki/ca/root.pem is enough to connect and sign."""
    import argparse
    import asyncio
    import re

    from shlyuz.commands.ncalayer import serve

    args = argparse.Namespace(identity=BASE, cancel=False, no_tls=False, host="127.0.0.1", port=0, control_port=0)
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(args, settings, ready, stop))
    try:
        await asyncio.wait_for(ready.wait(), 120)
        banner = capsys.readouterr().out
        url = re.search(r"on (wss://127\.0\.0\.1:\d+/)", banner).group(1)
        control = re.search(r"control +(http://127\.0\.0\.1:\d+/)", banner).group(1)
        pki = Pki.open(settings.data_dir / "pki", now=datetime.now(UTC))
        assert f"trust {pki.ca_pem_path('root')}" in banner
        client_ssl = ssl.create_default_context(cafile=str(pki.ca_pem_path("root")))
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(url, ssl=client_ssl) as ws:
                peer = ws.get_extra_info("ssl_object").getpeercert(binary_form=True)
                assert x509.load_der_x509_certificate(peer) == pki.identity("tls/localhost").cert
                assert json.loads((await ws.receive(timeout=30)).data) == {"result": {"version": "1.4"}}
                answer = await Ws(ws, {}).call(basics_sign("xml", DOC))
                root = etree.fromstring(answer["body"]["result"].encode())
                assert verify_enveloped(root).certificate == pki.identity(f"{BASE}/sign").cert
            async with http.get(control) as resp:
                assert (await resp.json())["served"] == 1
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 60) == 0
