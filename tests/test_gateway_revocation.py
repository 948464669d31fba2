"""Revocation through HTTP: the OCSP answer cache, a certificate revoked while the gateway runs, an integrator's own CA
with its own OCSP responder (a tiny aiohttp server here), and the test PKI's HTTP routes checked with OpenSSL."""

from __future__ import annotations

import base64
import socket
import subprocess
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
import yarl
from aiohttp import web
from aiohttp.test_utils import TestServer
from certs import SIGN_EKU, SIGN_KU, Issued, leaf_name, make_ca, make_key, make_root
from conftest import GATEWAY_NOW, PKI_NOW
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID
from edshelp import APPLICANT, SYNC, assert_chain, expect_fault, expect_ok, journal, message, own_gateway

from shlyuz.dsig.signer import Signer, signer_for
from shlyuz.pki.revocation import GOOD, CertStatus, build_crl, ocsp_respond, read_crl
from shlyuz.pki.store import Pki, PkiUrls
from shlyuz.pki.subjects import person_subject

SIGN = f"person/{APPLICANT}/sign"


async def wsse_ok(shep, signer: Signer, path: str = "/bip-sync-wss-gost/") -> dict:
    msg = message(wsse_signer=signer)
    await expect_ok(shep, msg.to_bytes(), path=path)
    return (await journal(shep, msg.message_id)).verdicts["signature"]["wsse"]


# -- 5. the revocation cache -----------------------------------------------------------------------------------------


async def test_second_verification_within_the_ttl_uses_the_cache(shep, session_pki):
    signer = signer_for(session_pki, SIGN)
    assert (await wsse_ok(shep, signer))["revocation"] == "ocsp"
    assert (await wsse_ok(shep, signer))["revocation"] == "cache"
    stats = shep.gateway.revocation.stats
    assert (stats.ocsp_requests, stats.cache_hits, stats.crl_fetches, stats.failures) == (1, 1, 0, 0)


async def test_ttl_zero_asks_every_time(settings, session_pki):
    settings.pki.revocation_cache_ttl = 0
    signer = signer_for(session_pki, SIGN)
    async with own_gateway(settings, session_pki) as shep:
        assert [(await wsse_ok(shep, signer))["revocation"] for _ in range(2)] == ["ocsp", "ocsp"]
        stats = shep.gateway.revocation.stats
        assert (stats.ocsp_requests, stats.cache_hits) == (2, 0)


@pytest.fixture
def own_pki(tmp_path) -> Pki:
    """A PKI of the test's own (session_pki is shared and must not be revoked in)."""
    pki = Pki.open(tmp_path / "own-pki", now=PKI_NOW, urls=PkiUrls("http://127.0.0.1:8080"))
    pki.issue_identity("manual/applicant-sign", person_subject(APPLICANT, "Ахметов", "Нұрлан"), "sign",
                       key_kind="ec-p256", tags=("manual",))  # fmt: skip
    return pki


async def test_certificate_revoked_during_the_session(settings, own_pki):
    signer = signer_for(own_pki, "manual/applicant-sign")
    async with own_gateway(settings, own_pki) as shep:
        assert (await wsse_ok(shep, signer))["revocation"] == "ocsp"
        own_pki.revoke("manual/applicant-sign", "keyCompromise", GATEWAY_NOW - timedelta(hours=1))
        # within the TTL the cached "good" is still used (pki.revocation_cache_ttl, 300 s by default)
        assert (await wsse_ok(shep, signer))["revocation"] == "cache"
    async with own_gateway(settings, own_pki) as shep:  # a fresh cache
        msg = message(wsse_signer=signer)
        f = await expect_fault(shep, msg.to_bytes(), "CERT_REVOKED", "was revoked on 2026-01-15T04:00:00Z")
        assert "according to OCSP" in f.error.error_message


async def test_certificate_revoked_during_the_session_without_cache(settings, own_pki):
    settings.pki.revocation_cache_ttl = 0
    signer = signer_for(own_pki, "manual/applicant-sign")
    async with own_gateway(settings, own_pki) as shep:
        assert (await wsse_ok(shep, signer, path=SYNC))["revocation"] == "ocsp"
        own_pki.revoke("manual/applicant-sign", "keyCompromise", GATEWAY_NOW - timedelta(hours=1))
        await expect_fault(shep, message(wsse_signer=signer).to_bytes(), "CERT_REVOKED", "according to OCSP", path=SYNC)


# -- an integrator's own CA, trusted with pki.trust_ca, with its own OCSP responder ---------------------------------


def leaf_with_ocsp(issuer: Issued, ocsp_url: str, crl_url: str | None = None) -> Issued:
    """A SIGN leaf for the applicant whose AIA names ``ocsp_url``; a CRL distribution point only with ``crl_url``."""
    key = make_key("ec-p256")
    ku = {f: f in SIGN_KU for f in ("digital_signature", "content_commitment", "key_encipherment",
                                     "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign")}  # fmt: skip
    aia = x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))
    cert = (
        x509.CertificateBuilder()
        .subject_name(leaf_name(cn="АХМЕТОВ НҰРЛАН", iin=APPLICANT)).issuer_name(issuer.cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(datetime(2025, 1, 1, tzinfo=timezone.utc))
        .not_valid_after(datetime(2049, 12, 31, tzinfo=timezone.utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(**ku, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(SIGN_EKU)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
        .add_extension(x509.AuthorityInformationAccess([aia]), critical=False)
    )  # fmt: skip
    if crl_url is not None:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
        cert = cert.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    return Issued(cert.sign(issuer.key, hashes.SHA256()), key)


class Responder:
    """An OCSP responder for ``ca`` on 127.0.0.1: answers with ``ocsp_respond`` at the gateway clock's time, or HTTP
    500 when ``fail`` is set; counts the requests it gets. ``GET /crl`` serves the CA's CRL (``crl_revoked``)."""

    def __init__(self, ca: Issued) -> None:
        self.ca, self.hits, self.fail, self.status = ca, 0, False, GOOD
        self.crl_hits, self.crl_revoked = 0, []
        self.app = web.Application()
        self.app.router.add_post("/ocsp", self.handle)
        self.app.router.add_get("/crl", self.crl)
        self.server = TestServer(self.app, host="127.0.0.1")

    async def crl(self, request: web.Request) -> web.Response:
        self.crl_hits += 1
        der = build_crl(self.ca.key, self.ca.cert, self.crl_revoked, this_update=GATEWAY_NOW,
                        next_update=GATEWAY_NOW + timedelta(days=1), number=1)  # fmt: skip
        return web.Response(body=der, content_type="application/pkix-crl")

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.fail:
            return web.Response(status=500, text="responder down")
        der = ocsp_respond(await request.read(), ca_key=self.ca.key, ca_cert=self.ca.cert,
                           status_of=lambda serial: self.status, now=GATEWAY_NOW)  # fmt: skip
        return web.Response(body=der, content_type="application/ocsp-response")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/ocsp"

    @property
    def crl_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/crl"


@pytest.fixture
async def integrator(settings, session_pki, tmp_path):
    root = make_root("INTEGRATOR TEST ROOT")
    ca = make_ca(root, "INTEGRATOR TEST CA")
    responder = Responder(ca)
    await responder.server.start_server()
    leaf = leaf_with_ocsp(ca, responder.url)
    trust = tmp_path / "integrator-ca.pem"
    trust.write_bytes(root.cert_pem() + ca.cert_pem())
    settings.pki.trust_ca = [trust]
    try:
        yield responder, Signer(key=leaf.key, cert=leaf.cert, name="integrator"), [root, ca, leaf]
    finally:
        await responder.server.close()


async def test_own_ca_with_own_ocsp_responder(settings, session_pki, integrator):
    responder, signer, (root, ca, leaf) = integrator
    async with own_gateway(settings, session_pki) as shep:
        first = await wsse_ok(shep, signer)
        second = await wsse_ok(shep, signer)
    assert responder.hits == 1
    assert (first["revocation"], second["revocation"]) == ("ocsp", "cache")
    assert_chain(first["chain"], [c.cert for c in (leaf, ca, root)])
    assert first["iin"] == APPLICANT and first["algorithm"] == "ecdsa-sha256"


async def test_own_ca_revoked_by_its_responder(settings, session_pki, integrator):
    responder, signer, _ = integrator
    responder.status = CertStatus.revoked(GATEWAY_NOW - timedelta(days=1), x509.ReasonFlags.key_compromise)
    async with own_gateway(settings, session_pki) as shep:
        await expect_fault(shep, message(wsse_signer=signer).to_bytes(), "CERT_REVOKED", "according to OCSP")
    assert responder.hits == 1


async def test_own_ca_responder_failing_and_no_crl(settings, session_pki, integrator):
    responder, signer, _ = integrator
    responder.fail = True
    async with own_gateway(settings, session_pki) as shep:
        body = message(wsse_signer=signer).to_bytes()
        why = f"OCSP responder {responder.url} answered HTTP 500"
        f = await expect_fault(shep, body, "REVOCATION_UNAVAILABLE", why, faultcode="soap:Server")
        assert "the certificate names no CRL" in f.error.error_message
        assert shep.gateway.revocation.stats.failures == 1
    assert responder.hits == 1


@pytest.mark.parametrize("revoked", [False, True])
async def test_own_ca_crl_fallback_when_ocsp_fails(settings, session_pki, integrator, revoked):
    responder, _, (_, ca, _) = integrator
    leaf = leaf_with_ocsp(ca, responder.url, crl_url=responder.crl_url)
    responder.fail = True
    if revoked:
        responder.crl_revoked = [(leaf.cert.serial_number, GATEWAY_NOW - timedelta(days=1),
                                  x509.ReasonFlags.key_compromise)]  # fmt: skip
    async with own_gateway(settings, session_pki) as shep:
        if revoked:
            body = message(wsse_signer=Signer(leaf.key, leaf.cert)).to_bytes()
            await expect_fault(shep, body, "CERT_REVOKED", "(reason: keyCompromise) according to CRL")
        else:
            assert (await wsse_ok(shep, Signer(leaf.key, leaf.cert)))["revocation"] == "crl"
        stats = shep.gateway.revocation.stats
        assert (stats.ocsp_requests, stats.crl_fetches, stats.failures) == (1, 1, 0)
    assert (responder.hits, responder.crl_hits) == (1, 1)


async def test_own_issuing_ca_trusted_on_its_own(settings, session_pki, integrator, tmp_path):
    """--trust-ca "also trust this CA certificate", and docs/dsig.md: "An anchor may be an issuing CA". A trust_ca
    file holding only the integrator's issuing CA (not self-signed) must make that CA a trust anchor.
    PRODUCT BUG: gateway/signature.py TrustStore.build files every trust_ca certificate that is not self-signed under
    intermediates, so the leaf is refused with CERT_UNTRUSTED ("the intermediate CN=INTEGRATOR TEST CA is issued by
    CN=INTEGRATOR TEST ROOT,C=KZ, which is not trusted")."""
    _, signer, (_, ca, leaf) = integrator
    (tmp_path / "issuing-only.pem").write_bytes(ca.cert_pem())
    settings.pki.trust_ca = [tmp_path / "issuing-only.pem"]
    async with own_gateway(settings, session_pki) as shep:
        verdict = await wsse_ok(shep, signer)
    assert_chain(verdict["chain"], [leaf.cert, ca.cert])


async def test_own_ca_responder_unreachable(settings, session_pki, tmp_path):
    root = make_root("INTEGRATOR TEST ROOT")
    with socket.socket() as s:  # a port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    leaf = leaf_with_ocsp(root, f"http://127.0.0.1:{port}/ocsp")
    (tmp_path / "root.pem").write_bytes(root.cert_pem())
    settings.pki.trust_ca = [tmp_path / "root.pem"]
    async with own_gateway(settings, session_pki) as shep:
        await expect_fault(shep, message(wsse_signer=Signer(leaf.key, leaf.cert)).to_bytes(), "REVOCATION_UNAVAILABLE",
                           "unreachable", faultcode="soap:Server")  # fmt: skip


# -- 6. the PKI's HTTP routes --------------------------------------------------------------------------------------


def openssl(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=60)


async def fetch(shep, path: str, content_type: str) -> bytes:
    resp = await shep.client.get(path)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith(content_type)
    return await resp.read()


async def test_ca_certificates(shep, session_pki):
    der = await fetch(shep, "/pki/ca/root.cer", "application/pkix-cert")
    assert x509.load_der_x509_certificate(der) == session_pki.root_cert
    pem = await fetch(shep, "/pki/ca/issuing.pem", "application/x-pem-file")
    assert x509.load_pem_x509_certificate(pem) == session_pki.issuing_cert


async def test_crl_read_by_openssl_and_read_crl(shep, session_pki, tmp_path):
    der = await fetch(shep, "/pki/crl/issuing.crl", "application/pkix-crl")
    (tmp_path / "issuing.crl").write_bytes(der)
    text = openssl("crl", "-inform", "DER", "-in", tmp_path / "issuing.crl", "-noout", "-text")
    assert text.returncode == 0, text.stderr
    revoked = session_pki.identity("bad/revoked").cert.serial_number
    assert f"Serial Number: {revoked:X}" in text.stdout and "Key Compromise" in text.stdout
    chain = tmp_path / "chain.pem"
    chain.write_bytes(await fetch(shep, "/pki/ca/issuing.pem", "") + await fetch(shep, "/pki/ca/root.pem", ""))
    checked = openssl("crl", "-inform", "DER", "-in", tmp_path / "issuing.crl", "-CAfile", chain, "-noout")
    assert checked.returncode == 0 and "verify OK" in checked.stdout + checked.stderr, checked.stderr
    crl = read_crl(der, session_pki.issuing_cert)
    assert revoked in crl.revoked and crl.this_update == GATEWAY_NOW.astimezone(timezone.utc)
    assert crl.status(session_pki.identity(SIGN).cert.serial_number) == GOOD


@pytest.fixture
async def ocsp_files(shep, tmp_path):
    for which in ("root", "issuing"):
        (tmp_path / f"{which}.pem").write_bytes(await fetch(shep, f"/pki/ca/{which}.pem", ""))
    return tmp_path / "root.pem", tmp_path / "issuing.pem"


@pytest.mark.parametrize(("name", "expected"), [(SIGN, "good"), ("bad/revoked", "revoked")])
async def test_ocsp_post_answered_and_accepted_by_openssl(shep, session_pki, tmp_path, ocsp_files, name, expected):
    root, issuing = ocsp_files
    cert_path = session_pki.identity(name).cert_path
    req, resp_file = tmp_path / "req.der", tmp_path / "resp.der"
    made = openssl("ocsp", "-issuer", issuing, "-cert", cert_path, "-reqout", req, "-nonce")
    assert made.returncode == 0, made.stderr
    headers = {"Content-Type": "application/ocsp-request"}
    resp = await shep.client.post("/pki/ocsp", data=req.read_bytes(), headers=headers)
    assert resp.status == 200 and resp.headers["Content-Type"] == "application/ocsp-response"
    answer = await resp.read()
    resp_file.write_bytes(answer)
    # -reqin: signature against the root and the nonce against the request's (times are not judged without -cert)
    checked = openssl("ocsp", "-respin", resp_file, "-reqin", req, "-issuer", issuing, "-CAfile", root, "-resp_text")
    out = checked.stdout + checked.stderr
    assert checked.returncode == 0 and "Response verify OK" in out and "Nonce Verify error" not in out, out
    assert f"Cert Status: {expected}" in out and "OCSP Nonce" in out
    # -cert: the summary line; thisUpdate is the gateway clock's, so allow the distance to the real clock
    skew = int(abs(datetime.now(timezone.utc) - GATEWAY_NOW).total_seconds()) + 86400
    summary = openssl("ocsp", "-respin", resp_file, "-issuer", issuing, "-cert", cert_path, "-CAfile", root,
                      "-no_nonce", "-validity_period", skew)  # fmt: skip
    assert f"{cert_path}: {expected}" in summary.stdout, summary.stdout + summary.stderr
    # the GET form (RFC 6960 A.1) gives the same answer, byte for byte, URL-encoded or not
    b64 = base64.b64encode(req.read_bytes()).decode()
    for tail in (quote(b64, safe=""), b64):
        got = await shep.client.get(yarl.URL(f"/pki/ocsp/{tail}", encoded=True))
        assert got.status == 200 and await got.read() == answer, tail


@pytest.mark.parametrize("body", [b"", b"garbage", b"\x30\x03\x02\x01\x01", b"\x30\x80" * 20])
async def test_garbage_ocsp_request_is_malformed_request(shep, body):
    resp = await shep.client.post("/pki/ocsp", data=body, headers={"Content-Type": "application/ocsp-request"})
    assert resp.status == 200 and resp.headers["Content-Type"] == "application/ocsp-response"
    parsed = ocsp.load_der_ocsp_response(await resp.read())
    assert parsed.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


@pytest.mark.parametrize("tail", ["not-base64!", quote(base64.b64encode(b"garbage").decode(), safe="")])
async def test_garbage_ocsp_get_is_malformed_request(shep, tail):
    resp = await shep.client.get(yarl.URL(f"/pki/ocsp/{tail}", encoded=True))
    assert resp.status == 200, await resp.text()
    parsed = ocsp.load_der_ocsp_response(await resp.read())
    assert parsed.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
