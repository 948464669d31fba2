"""The per-process caches of the EDS path: certificates parsed once per distinct KeyInfo text, the signer's
certificate encoded once, and the lazily written certificate names of error messages."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from shlyuz.dsig.algorithms import CertCache, Named, describe
from shlyuz.dsig.enveloped import sign_enveloped, verify_enveloped
from shlyuz.dsig.signer import Signer
from shlyuz.errors import ErrorCode, ShlyuzError


@pytest.fixture(scope="module")
def leaf(session_pki):
    return session_pki.identity(next(n for n in session_pki.names() if n.startswith("person/") and n.endswith("/sign")))


def b64(cert) -> str:
    return base64.b64encode(cert.public_bytes(Encoding.DER)).decode()


def test_the_same_certificate_text_is_parsed_once(leaf):
    cache = CertCache()
    text = b64(leaf.cert)
    first = cache.load(text, "x")
    assert first == leaf.cert and cache.load(text, "x") is first and len(cache) == 1
    wrapped = "\n".join(text[i : i + 76] for i in range(0, len(text), 76))  # other text, same certificate
    assert cache.load(wrapped, "x") == leaf.cert and len(cache) == 2


def test_the_cache_keeps_at_most_size_certificates_and_never_caches_a_refusal(leaf):
    cache = CertCache(size=2)
    text = b64(leaf.cert)
    for variant in (text, " " + text, "  " + text):
        cache.load(variant, "x")
    assert len(cache) == 2
    with pytest.raises(ShlyuzError) as err:
        cache.load("bm90IGEgY2VydGlmaWNhdGU=", "ds:X509Certificate")
    assert err.value.code is ErrorCode.SIGNATURE_INVALID and len(cache) == 2


def test_a_cached_certificate_still_verifies_only_what_its_key_signed(leaf):
    cache = CertCache()
    doc = sign_enveloped(etree.fromstring(b"<doc><a>1</a></doc>"), key=leaf.key, cert=leaf.cert)
    assert verify_enveloped(doc, certs_cache=cache).certificate == leaf.cert
    doc.find("a").text = "2"  # the same certificate text, now from the cache
    with pytest.raises(ShlyuzError) as err:
        verify_enveloped(doc, certs_cache=cache)
    assert err.value.code is ErrorCode.SIGNATURE_INVALID and len(cache) == 1


def test_the_signer_writes_the_certificate_it_encoded_once(leaf):
    signer = Signer(leaf.key, leaf.cert)
    assert signer.cert_b64 == b64(leaf.cert)
    by_signer = signer.data(etree.fromstring(b"<doc/>"))
    by_hand = sign_enveloped(etree.fromstring(b"<doc/>"), key=leaf.key, cert=leaf.cert)
    ns = {"ds": "http://www.w3.org/2000/09/xmldsig#"}
    path = "ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate"
    assert by_signer.findtext(path, namespaces=ns) == by_hand.findtext(path, namespaces=ns) == signer.cert_b64


def test_a_certificate_name_is_written_when_a_message_needs_it(leaf):
    assert f"certificate {Named(leaf.cert)}" == f"certificate {describe(leaf.cert)}"
