"""shlyuz.dsig against an independent implementation (xmlsec1, libxmlsec1 + OpenSSL) and against attacks.

(a) envelopes signed by ``sign_envelope`` verify with ``xmlsec1 --verify``; (b) envelopes signed by ``xmlsec1 --sign``
verify with ``verify_envelope``; (c) the same both ways for the enveloped data signature (including the
Santuario/NCANode shape: inclusive c14n, ``#WithComments`` transform, a comment in the data, embedded in an envelope);
(d) attacks, each refused with its own message; (e) certificate policy checks, cross-checked with
``cryptography.x509.verification`` where its rules coincide.
"""

from __future__ import annotations

import base64
import copy
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from shlyuz.dsig.certcheck import _DN_NAMES as DN_NAMES
from certs import AUTH_EKU, AUTH_KU, SIGN_EKU, SIGN_KU, Issued, make_ca, make_key, make_leaf, make_root
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from lxml import etree
from shepmsg import fields, send_message

from shlyuz.dsig import algorithms as alg
from shlyuz.dsig import xmldsig as xd
from shlyuz.dsig.certcheck import RevocationStatus, check_certificate
from shlyuz.dsig.enveloped import sign_enveloped, verify_enveloped
from shlyuz.dsig.wsse import sign_envelope, verify_envelope
from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.shep import ns
from shlyuz.shep.reader import payload_root, read_sync_request
from shlyuz.systems.dictionaries import read_fields
from shlyuz.xml.safe import parse

XMLSEC1 = shutil.which("xmlsec1")
# xmlsec1 is part of the test bed (.ci/run installs the Debian package): without it these tests fail, not skip.
def needs_xmlsec1(test):
    return test
BODY_ID_ARGS = ["--id-attr:Id", f"{ns.SOAP11}:Body"]  # xmlsec1 matches the attribute by local name: wsu:Id
GBDFL = (ns.GBDFL_MESSAGE, "Request")
IIN = "900101300017"
NOW = datetime(2026, 1, 15, 10, 0, 0, tzinfo=timezone(timedelta(hours=5)))
KINDS = ("rsa2048", "ec-p256")
DS = alg.DS
NSMAP = {"ds": DS, "wsse": ns.WSSE, "wsu": ns.WSU, "soap": ns.SOAP11}


# -- fixtures ------------------------------------------------------------------------------------------------------


class Pki:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.root = make_root(f"TEST ROOT ({kind})", kind=kind)
        self.ca = make_ca(self.root, f"TEST NCA ({kind})", kind=kind)
        self.leaf = make_leaf(self.ca, iin=IIN, kind=kind)
        self.other = make_leaf(self.ca, iin="851231400120", kind=kind)  # another signer, another key


@pytest.fixture(scope="module", params=KINDS)
def pki(request) -> Pki:
    return _PKIS.setdefault(request.param, Pki(request.param))


@pytest.fixture(scope="module")
def rsa() -> Pki:
    return _PKIS.setdefault("rsa2048", Pki("rsa2048"))


_PKIS: dict[str, Pki] = {}


def gbdfl_envelope(iin: str = IIN, **kw) -> bytes:
    return send_message("GBDFL_UniversalServiceSync", fields(iin=iin), data_type=GBDFL, **kw)


def signed_envelope(who: Issued, **kw) -> etree._Element:
    env = parse(gbdfl_envelope())
    return sign_envelope(env, key=who.key, cert=who.cert, **kw)


def reparse(el: etree._Element) -> etree._Element:
    return parse(etree.tostring(el))


def xmlsec1(*args: str | Path) -> subprocess.CompletedProcess:
    assert XMLSEC1 is not None
    return subprocess.run([XMLSEC1, *map(str, args)], capture_output=True, text=True, timeout=60)


def refused(code: ErrorCode, fragment: str, fn, *args, **kw) -> ShlyuzError:
    with pytest.raises(ShlyuzError) as info:
        fn(*args, **kw)
    assert info.value.code is code, info.value
    assert fragment in info.value.message, info.value.message
    return info.value


def body_of(env: etree._Element) -> etree._Element:
    return env.find(f"{{{ns.SOAP11}}}Body")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- (a) shlyuz signs, xmlsec1 verifies ----------------------------------------------------------------------------


@needs_xmlsec1
@pytest.mark.parametrize("key_ref", ["key-identifier", "issuer-serial"])
def test_sign_envelope_verified_by_xmlsec1(pki: Pki, key_ref, tmp_path):
    env = signed_envelope(pki.leaf, key_ref=key_ref)
    signed = tmp_path / "signed.xml"
    signed.write_bytes(etree.tostring(env))
    cert_pem, _ = pki.leaf.write(tmp_path, "leaf")
    ok = xmlsec1("--verify", "--pubkey-cert-pem", cert_pem, *BODY_ID_ARGS, signed)
    assert ok.returncode == 0, ok.stderr
    # the same file with the IIN changed must fail in xmlsec1 too (the check has teeth)
    tampered = tmp_path / "tampered.xml"
    tampered.write_bytes(signed.read_bytes().replace(IIN.encode(), b"851231400120"))
    bad = xmlsec1("--verify", "--pubkey-cert-pem", cert_pem, *BODY_ID_ARGS, tampered)
    assert bad.returncode != 0 and "digest" in bad.stderr.lower()


def test_sign_envelope_shape(pki: Pki):
    env = parse(gbdfl_envelope().replace(b"<soap:Header/>", b""))
    sign_envelope(env, key=pki.leaf.key, cert=pki.leaf.cert, body_id="id-fixed")
    header, body = env[0], env[1]
    assert header.tag == f"{{{ns.SOAP11}}}Header" and body.tag == f"{{{ns.SOAP11}}}Body"
    assert body.get(f"{{{ns.WSU}}}Id") == "id-fixed" and body.prefix == "soap" and body.nsmap["wsu"] == ns.WSU
    security = header[0]
    assert security.tag == f"{{{ns.WSSE}}}Security" and security.get(f"{{{ns.SOAP11}}}mustUnderstand") == "1"
    (sig,) = security
    method = sig.find("ds:SignedInfo/ds:SignatureMethod", NSMAP).get("Algorithm")
    assert method == (alg.RSA_SHA256 if pki.kind == "rsa2048" else alg.ECDSA_SHA256)
    assert sig.find("ds:SignedInfo/ds:CanonicalizationMethod", NSMAP).get("Algorithm") == alg.EXC_C14N
    (ref,) = sig.findall("ds:SignedInfo/ds:Reference", NSMAP)
    assert ref.get("URI") == "#id-fixed"
    assert [t.get("Algorithm") for t in ref.findall("ds:Transforms/ds:Transform", NSMAP)] == [alg.EXC_C14N]
    assert ref.find("ds:DigestMethod", NSMAP).get("Algorithm") == alg.SHA256
    ki = sig.find("ds:KeyInfo/wsse:SecurityTokenReference/wsse:KeyIdentifier", NSMAP)
    assert ki.get("ValueType").endswith("#X509v3") and ki.get("EncodingType").endswith("#Base64Binary")
    assert base64.b64decode(ki.text) == pki.leaf.cert_der()
    result = verify_envelope(reparse(env))
    expected = (alg.signature_method(method).name, "key-identifier", "id-fixed")
    assert (result.algorithm, result.key_ref, result.body_id) == expected
    assert result.certificate == pki.leaf.cert


def test_sign_envelope_keeps_reader_view(rsa: Pki):
    """After signing, the reader still reads the same request (the Body was only given a wsu:Id)."""
    env = signed_envelope(rsa.leaf)
    req = read_sync_request(etree.tostring(env), "text/xml")
    assert read_fields(payload_root(req.payload), ns.GBDFL_MESSAGE, "Request", ("iin",), "cs") == {"iin": IIN}
    result = verify_envelope(req.envelope)
    assert result.signed_body is body_of(req.envelope)


# -- (b) xmlsec1 signs, shlyuz verifies ----------------------------------------------------------------------------

WSSE_TEMPLATE = """<ds:Signature xmlns:ds="{ds}"><ds:SignedInfo>
<ds:CanonicalizationMethod Algorithm="{c14n}"/><ds:SignatureMethod Algorithm="{method}"/>
<ds:Reference URI="#{body_id}"><ds:Transforms><ds:Transform Algorithm="{transform}"/></ds:Transforms>
<ds:DigestMethod Algorithm="{digest}"/><ds:DigestValue/></ds:Reference></ds:SignedInfo>
<ds:SignatureValue/><ds:KeyInfo>{key_info}</ds:KeyInfo></ds:Signature>"""


def wsse_template(
    envelope: bytes, *, method: str, key_info: str, body_id: str = "id-1",
    transform: str = alg.EXC_C14N, digest: str = alg.SHA256, c14n: str = alg.EXC_C14N,
) -> bytes:  # fmt: skip
    signature = WSSE_TEMPLATE.format(
        ds=DS, c14n=c14n, method=method, body_id=body_id, transform=transform, digest=digest, key_info=key_info
    )
    security = f'<wsse:Security xmlns:wsse="{ns.WSSE}" soap:mustUnderstand="1">{signature}</wsse:Security>'
    return (
        envelope.replace(b"<soap:Header/>", f"<soap:Header>{security}</soap:Header>".encode())
        .replace(b"<soap:Body>", f'<soap:Body xmlns:wsu="{ns.WSU}" wsu:Id="{body_id}">'.encode())
    )


def key_identifier(cert: Issued) -> str:
    return (
        f'<wsse:SecurityTokenReference><wsse:KeyIdentifier EncodingType="'
        'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary" '
        'ValueType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3">'
        f"{b64(cert.cert_der())}</wsse:KeyIdentifier></wsse:SecurityTokenReference>"
    )


def xmlsec1_sign(template: bytes, signer: Issued, tmp_path: Path, *extra: str) -> bytes:
    cert_pem, key_pem = signer.write(tmp_path, "signer")
    src, out = tmp_path / "template.xml", tmp_path / "signed-by-xmlsec1.xml"
    src.write_bytes(template)
    done = xmlsec1("--sign", "--privkey-pem", f"{key_pem},{cert_pem}", *extra, "--output", out, src)
    assert done.returncode == 0, done.stderr
    return out.read_bytes()


def method_for(pki: Pki) -> str:
    return alg.RSA_SHA256 if pki.kind == "rsa2048" else alg.ECDSA_SHA256


@needs_xmlsec1
@pytest.mark.parametrize("key_info", ["key-identifier", "x509-certificate"])
def test_xmlsec1_signed_envelope_verifies(pki: Pki, key_info, tmp_path):
    x509_data = "<ds:X509Data><ds:X509Certificate/></ds:X509Data>"
    ki = key_identifier(pki.leaf) if key_info == "key-identifier" else x509_data
    template = wsse_template(gbdfl_envelope(), method=method_for(pki), key_info=ki)
    signed = xmlsec1_sign(template, pki.leaf, tmp_path, *BODY_ID_ARGS)
    result = verify_envelope(parse(signed))
    assert result.certificate == pki.leaf.cert and result.key_ref == key_info and result.body_id == "id-1"
    tampered = parse(signed.replace(IIN.encode(), b"851231400120"))
    refused(ErrorCode.SIGNATURE_INVALID, "digest of the soap:Body", verify_envelope, tampered)


@needs_xmlsec1
def test_xmlsec1_with_comments_transform_on_bare_name_reference(rsa: Pki, tmp_path):
    """exc-c14n#WithComments on URI="#id": comments are dropped by the dereference (XMLDSig §4.3.3.3). xmlsec1 signs
    that way; shlyuz agrees, so adding, changing or removing a comment does not break the digest in either."""
    template = wsse_template(
        gbdfl_envelope().replace(f"<iin>{IIN}</iin>".encode(), b"<iin>9001<!--c-->01300017</iin>"),
        method=alg.RSA_SHA256, key_info=key_identifier(rsa.leaf), transform=alg.EXC_C14N_COMMENTS,
    )  # fmt: skip
    signed = xmlsec1_sign(template, rsa.leaf, tmp_path, *BODY_ID_ARGS)
    for variant in (signed, signed.replace(b"<!--c-->", b""), signed.replace(b"<!--c-->", b"<!--other-->")):
        assert verify_envelope(parse(variant)).certificate == rsa.leaf.cert
        path = tmp_path / "variant.xml"
        path.write_bytes(variant)
        cert_pem, _ = rsa.leaf.write(tmp_path, "v")
        assert xmlsec1("--verify", "--pubkey-cert-pem", cert_pem, *BODY_ID_ARGS, path).returncode == 0


# -- (c) the enveloped data signature, both ways ---------------------------------------------------------------------


def gbdfl_data(iin: str = IIN) -> bytes:
    return (
        f'<data xmlns:cs="{ns.GBDFL_MESSAGE}" xmlns:xsi="{ns.XSI}" xsi:type="cs:Request">'
        f"<messageId>1</messageId><messageDate>2026-01-15T10:00:00.000+05:00</messageDate>"
        f"<senderCode>shlyuz-demo</senderCode><iin>{iin}</iin></data>"
    ).encode()


def embed(document: bytes, style: str) -> etree._Element:
    """A SendMessage carrying ``document`` inline as the data element ("data"), wrapped in a data element
    ("wrapped"), or as an escaped string ("escaped"); returns the document root as the gateway would find it."""
    text = document.decode()
    if style == "data":
        env = send_message("GBDFL_UniversalServiceSync", "PLACEHOLDER").replace(b"<data>PLACEHOLDER</data>", document)
    elif style == "wrapped":
        env = send_message("GBDFL_UniversalServiceSync", text)
    else:
        env = send_message("GBDFL_UniversalServiceSync", text, escaped=True)
    req = read_sync_request(env, "text/xml")
    return payload_root(req.payload)


@needs_xmlsec1
def test_sign_enveloped_verified_by_xmlsec1(pki: Pki, tmp_path):
    root = embed(gbdfl_data(), "data")
    sign_enveloped(root, key=pki.leaf.key, cert=pki.leaf.cert)
    assert root[-1].tag == xd.SIGNATURE
    standalone = tmp_path / "data.xml"
    standalone.write_bytes(etree.tostring(copy.deepcopy(root)))  # the standalone document
    cert_pem, _ = pki.leaf.write(tmp_path, "leaf")
    ok = xmlsec1("--verify", "--pubkey-cert-pem", cert_pem, standalone)
    assert ok.returncode == 0, ok.stderr
    # with the chain instead of the pinned certificate: X509Data/X509Certificate is what xmlsec1 picks up
    root_pem, _ = pki.root.write(tmp_path, "root")
    ca_pem, _ = pki.ca.write(tmp_path, "ca")
    ok = xmlsec1("--verify", "--trusted-pem", root_pem, "--untrusted-pem", ca_pem, standalone)
    assert ok.returncode == 0, ok.stderr
    result = verify_enveloped(root)
    assert result.certificate == pki.leaf.cert and result.c14n == "exc-c14n" and result.signed_root is root


ENVELOPED_TEMPLATE = """<ds:Signature xmlns:ds="{ds}"><ds:SignedInfo>
<ds:CanonicalizationMethod Algorithm="{c14n}"/><ds:SignatureMethod Algorithm="{method}"/>
<ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="{enveloped}"/><ds:Transform Algorithm="{transform}"/>
</ds:Transforms><ds:DigestMethod Algorithm="{digest}"/><ds:DigestValue/></ds:Reference></ds:SignedInfo>
<ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>"""


def enveloped_template(document: bytes, *, method: str, c14n: str = alg.C14N,
                       transform: str = alg.C14N_COMMENTS, digest: str = alg.SHA256) -> bytes:  # fmt: skip
    """NCANode/Santuario's shape by default: inclusive c14n, transforms enveloped + c14n#WithComments."""
    sig = ENVELOPED_TEMPLATE.format(
        ds=DS, c14n=c14n, method=method, enveloped=alg.ENVELOPED_SIGNATURE, transform=transform, digest=digest
    )
    head, _, _ = document.rpartition(b"</")
    close = document[len(head):]
    return head + b"\n  " + sig.encode() + b"\n" + close


@needs_xmlsec1
@pytest.mark.parametrize("style", ["data", "wrapped", "escaped"])
def test_xmlsec1_signed_data_verifies_inside_an_envelope(pki: Pki, style, tmp_path):
    """Signed standalone by xmlsec1 in the Santuario shape (inclusive c14n, a comment in the data), then embedded in a
    SOAP envelope: the standalone-document rule makes the inclusive c14n see the same namespaces as the signer."""
    if style == "data":
        document = gbdfl_data().replace(b"<iin>", b"<!-- c --><iin>")
    else:
        document = f'<cs:Request xmlns:cs="{ns.GBDFL_MESSAGE}"><!-- c --><iin>{IIN}</iin></cs:Request>'.encode()
    signed = xmlsec1_sign(enveloped_template(document, method=method_for(pki)), pki.leaf, tmp_path)
    signed = signed.split(b"?>", 1)[1].strip() if signed.startswith(b"<?xml") else signed
    root = embed(signed, style)
    result = verify_enveloped(root)
    assert result.certificate == pki.leaf.cert and result.c14n == "c14n#WithComments"
    # only the comment changes: URI="" drops comments before the transforms, so this still verifies
    assert verify_enveloped(embed(signed.replace(b"<!-- c -->", b"<!-- x -->"), style))
    refused(ErrorCode.SIGNATURE_INVALID, "does not match its DigestValue", verify_enveloped,
            embed(signed.replace(IIN.encode(), b"851231400120"), style))  # fmt: skip


def test_enveloped_round_trip_on_the_three_payload_styles(pki: Pki):
    for style, document in (
        ("data", gbdfl_data()),
        ("wrapped", f'<cs:Request xmlns:cs="{ns.GBDFL_MESSAGE}"><iin>{IIN}</iin></cs:Request>'.encode()),
        ("escaped", f'<cs:Request xmlns:cs="{ns.GBDFL_MESSAGE}"><iin>{IIN}</iin></cs:Request>'.encode()),
    ):
        unsigned = parse(document)
        sign_enveloped(unsigned, key=pki.leaf.key, cert=pki.leaf.cert)
        root = embed(etree.tostring(unsigned), style)
        assert verify_enveloped(root).certificate == pki.leaf.cert


# -- (d) attacks on the transport signature --------------------------------------------------------------------------

XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"
XSLT = "http://www.w3.org/TR/1999/REC-xslt-19991116"


def craft_signature(parent: etree._Element, signer: Issued, refs, *, method_uri: str | None = None,
                    digest_uri: str = alg.SHA256, index: int | None = None) -> etree._Element:  # fmt: skip
    """A cryptographically valid ds:Signature with whatever references a test wants: ``refs`` is a list of
    ``(uri, target element or None, transforms)``; each digest is over the exc-c14n of the target."""
    method = alg.SIGNATURE_METHODS[method_uri] if method_uri else alg.signature_method_for_key(signer.key)
    sig = etree.Element(xd.SIGNATURE, nsmap={"ds": DS})
    parent.append(sig) if index is None else parent.insert(index, sig)
    si = etree.SubElement(sig, xd.SIGNED_INFO)
    etree.SubElement(si, xd.C14N_METHOD, Algorithm=alg.EXC_C14N)
    etree.SubElement(si, xd.SIGNATURE_METHOD, Algorithm=method.uri)
    exc = alg.C14N_METHODS[alg.EXC_C14N]
    for uri, target, transforms in refs:
        ref = etree.SubElement(si, xd.REFERENCE, URI=uri)
        tr = etree.SubElement(ref, xd.TRANSFORMS)
        for t in transforms:
            etree.SubElement(tr, xd.TRANSFORM, Algorithm=t)
        etree.SubElement(ref, xd.DIGEST_METHOD, Algorithm=digest_uri)
        data = alg.canonicalize(target, exc) if target is not None else b""
        etree.SubElement(ref, xd.DIGEST_VALUE).text = b64(alg.digest(data, alg.DIGEST_METHODS[digest_uri]))
    value = etree.SubElement(sig, xd.SIGNATURE_VALUE)
    ki = etree.fromstring(f'<ds:KeyInfo xmlns:ds="{DS}" xmlns:wsse="{ns.WSSE}">{key_identifier(signer)}</ds:KeyInfo>')
    sig.append(ki)
    value.text = b64(alg.sign_bytes(signer.key, method, alg.canonicalize(si, exc)))
    return sig


def crafted_envelope(signer: Issued, refs_for, **kw) -> etree._Element:
    """An envelope whose Body and first header block carry Ids, with a crafted signature in wsse:Security."""
    env = parse(gbdfl_envelope().replace(
        b"<soap:Header/>", f'<soap:Header><hdr:Info xmlns:hdr="urn:hdr" xmlns:wsu="{ns.WSU}" wsu:Id="hdr-1">x'
        f'</hdr:Info><wsse:Security xmlns:wsse="{ns.WSSE}"/></soap:Header>'.encode(),
    ).replace(b"<soap:Body>", f'<soap:Body xmlns:wsu="{ns.WSU}" wsu:Id="id-1">'.encode()))  # fmt: skip
    security = env[0][1]
    craft_signature(security, signer, refs_for(env), **kw)
    return reparse(env)


def security_of(env: etree._Element) -> etree._Element:
    return env.find(f"{{{ns.SOAP11}}}Header/{{{ns.WSSE}}}Security")


def test_crafted_signature_over_the_body_is_accepted(pki: Pki):
    """The crafting helper makes valid signatures: over the Body it passes (the refusals below are the checks')."""
    env = crafted_envelope(pki.leaf, lambda e: [("#id-1", body_of(e), [alg.EXC_C14N])])
    assert verify_envelope(env).body_id == "id-1"


def test_tampered_body_text(pki: Pki):
    env = parse(etree.tostring(signed_envelope(pki.leaf)).replace(IIN.encode(), b"851231400120"))
    refused(ErrorCode.SIGNATURE_INVALID, "the Body was changed after it was signed", verify_envelope, env)


def test_tampered_signature_value(pki: Pki):
    env = signed_envelope(pki.leaf)
    value = env.find(".//ds:SignatureValue", NSMAP)
    raw = bytearray(base64.b64decode(value.text))
    raw[len(raw) // 2] ^= 0x01
    value.text = b64(bytes(raw))
    refused(ErrorCode.SIGNATURE_INVALID, "SignatureValue does not verify with the public key", verify_envelope, env)


def test_wrapping_signed_body_moved_into_the_header(pki: Pki):
    """Classic XSW: the signed Body is copied into a header wrapper (its digest still matches), the real Body is
    replaced and loses its Id. The reference then resolves to the copy, which is not the Envelope's Body."""
    env = signed_envelope(pki.leaf)
    body = body_of(env)
    wrapper = etree.SubElement(env[0], "{urn:evil}Wrapper")
    wrapper.append(copy.deepcopy(body))
    del body.attrib[f"{{{ns.WSU}}}Id"]
    body.find(".//iin").text = "851231400120"
    fragment = "not at the soap:Body that is the Envelope's child"
    refused(ErrorCode.SIGNATURE_INVALID, fragment, verify_envelope, reparse(env))


def test_wrapping_with_both_bodies_keeping_the_id_is_a_duplicate_id(pki: Pki):
    env = signed_envelope(pki.leaf)
    wrapper = etree.SubElement(env[0], "{urn:evil}Wrapper")
    wrapper.append(copy.deepcopy(body_of(env)))
    body_of(env).find(".//iin").text = "851231400120"
    refused(ErrorCode.SIGNATURE_INVALID, "duplicate Ids are refused", verify_envelope, reparse(env))


@pytest.mark.parametrize("attribute", [f"{{{ns.WSU}}}Id", "Id", "ID", f"{{{ns.WSSE}}}Id"])
def test_duplicate_id_anywhere(rsa: Pki, attribute):
    env = signed_envelope(rsa.leaf)
    body_id = body_of(env).get(f"{{{ns.WSU}}}Id")
    etree.SubElement(body_of(env).find(".//requestInfo"), "extra").set(attribute, body_id)
    refused(ErrorCode.SIGNATURE_INVALID, f"the Id {body_id!r} occurs on two elements", verify_envelope, reparse(env))


def test_reference_to_a_header_block(pki: Pki):
    env = crafted_envelope(pki.leaf, lambda e: [("#hdr-1", e[0][0], [alg.EXC_C14N])])
    refused(ErrorCode.SIGNATURE_INVALID, "points at {urn:hdr}Info inside", verify_envelope, env)


def test_reference_to_an_element_inside_the_body(rsa: Pki):
    def refs(env):
        op = body_of(env)[0]
        op.set("Id", "op-1")
        return [("#op-1", op, [alg.EXC_C14N])]

    env = crafted_envelope(rsa.leaf, refs)
    refused(ErrorCode.SIGNATURE_INVALID, f"points at {{{ns.SYNC_TYPES}}}SendMessage inside", verify_envelope, env)


def test_two_references(rsa: Pki):
    env = crafted_envelope(
        rsa.leaf, lambda e: [("#id-1", body_of(e), [alg.EXC_C14N]), ("#hdr-1", e[0][0], [alg.EXC_C14N])]
    )
    refused(ErrorCode.SIGNATURE_INVALID, "ds:SignedInfo has 2 references; exactly one", verify_envelope, env)


@pytest.mark.parametrize("transform", [XPATH, XSLT, "http://www.w3.org/2002/06/xmldsig-filter2"])
def test_xpath_and_xslt_transforms(rsa: Pki, transform):
    env = crafted_envelope(rsa.leaf, lambda e: [("#id-1", body_of(e), [transform, alg.EXC_C14N])])
    refused(ErrorCode.SIGNATURE_INVALID, f"the {transform} transform is refused", verify_envelope, env)


@pytest.mark.parametrize("transforms", [[alg.C14N], [alg.ENVELOPED_SIGNATURE, alg.EXC_C14N], []])
def test_only_the_single_exc_c14n_transform(rsa: Pki, transforms):
    env = crafted_envelope(rsa.leaf, lambda e: [("#id-1", body_of(e), transforms)])
    fragment = "ds:Reference/ds:Transforms is empty" if not transforms else "allows exactly one, exclusive c14n"
    refused(ErrorCode.SIGNATURE_INVALID, fragment, verify_envelope, env)


@pytest.mark.parametrize("uri, fragment", [
    ("", 'Reference URI="" (the whole document) is not accepted'),
    ("#xpointer(/)", "XPointer reference"),
    ("http://evil.example/body.xml", "external reference"),
    ("#nope", "matches no element"),
])  # fmt: skip
def test_reference_uri_forms(rsa: Pki, uri, fragment):
    env = crafted_envelope(rsa.leaf, lambda e: [(uri, body_of(e), [alg.EXC_C14N])])
    refused(ErrorCode.SIGNATURE_INVALID, fragment, verify_envelope, env)


def test_stripped_signature_is_missing(rsa: Pki):
    env = signed_envelope(rsa.leaf)
    security = security_of(env)
    security.remove(security[0])
    refused(ErrorCode.SIGNATURE_MISSING, "the wsse:Security header holds no ds:Signature", verify_envelope, env)
    env[0].remove(security)
    refused(ErrorCode.SIGNATURE_MISSING, "the envelope has no wsse:Security header", verify_envelope, env)
    refused(ErrorCode.SIGNATURE_MISSING, "no wsse:Security header", verify_envelope, parse(gbdfl_envelope()))


def test_two_signatures_or_a_nested_one(rsa: Pki):
    env = signed_envelope(rsa.leaf)
    security = security_of(env)
    security.append(copy.deepcopy(security[0]))
    refused(ErrorCode.SIGNATURE_INVALID, "holds 2 ds:Signature elements", verify_envelope, env)
    env = signed_envelope(rsa.leaf)
    security = security_of(env)
    etree.SubElement(security, "{urn:x}Token").append(security[0])
    refused(ErrorCode.SIGNATURE_INVALID, "must be a direct child of wsse:Security", verify_envelope, env)


def test_key_identifier_with_another_certificate(pki: Pki):
    env = signed_envelope(pki.leaf)
    env.find(".//wsse:KeyIdentifier", NSMAP).text = b64(pki.other.cert_der())
    fragment = "does not verify with the public key of the certificate SERIALNUMBER=IIN851231400120"
    refused(ErrorCode.SIGNATURE_INVALID, fragment, verify_envelope, env)


@pytest.mark.parametrize("text", ["not base64 at all!", b64(b"\x30\x03\x02\x01\x01"), ""])
def test_key_identifier_not_a_certificate(rsa: Pki, text):
    env = signed_envelope(rsa.leaf)
    env.find(".//wsse:KeyIdentifier", NSMAP).text = text
    refused(ErrorCode.SIGNATURE_INVALID, "KeyInfo certificate is not a valid X.509 certificate", verify_envelope, env)


def test_key_identifier_other_value_type(rsa: Pki):
    env = signed_envelope(rsa.leaf)
    ski = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509SubjectKeyIdentifier"
    env.find(".//wsse:KeyIdentifier", NSMAP).set("ValueType", ski)
    refused(ErrorCode.SIGNATURE_INVALID, "SHEP sends the whole certificate", verify_envelope, env)


def test_issuer_serial_resolved_by_the_store(pki: Pki):
    env = reparse(signed_envelope(pki.leaf, key_ref="issuer-serial"))
    name = env.find(".//ds:X509IssuerName", NSMAP)
    assert name.text == pki.leaf.cert.issuer.rfc4514_string()
    store = {(pki.leaf.cert.issuer.rfc4514_string(), pki.leaf.cert.serial_number): pki.leaf.cert}
    calls = []

    def lookup(issuer: str, serial: int):
        calls.append((issuer, serial))
        return store.get((issuer, serial))

    result = verify_envelope(env, cert_lookup=lookup)
    assert result.key_ref == "issuer-serial" and result.certificate == pki.leaf.cert
    name.text = name.text.replace(",", ", ")  # other tools put a space after the comma; the lookup key is the same
    assert verify_envelope(env, cert_lookup=lookup).certificate == pki.leaf.cert
    assert calls[0] == calls[1]
    refused(ErrorCode.SIGNATURE_INVALID, "is not in the certificate store", verify_envelope, env,
            cert_lookup=lambda i, s: None)  # fmt: skip
    refused(ErrorCode.SIGNATURE_INVALID, "is not in the certificate store", verify_envelope, env)
    refused(ErrorCode.SIGNATURE_INVALID, "is not serial", verify_envelope, env, cert_lookup=lambda i, s: pki.other.cert)


def test_comment_injection_reads_what_was_signed(rsa: Pki):
    """exc-c14n without comments: a comment splitting a value does not change the digest, and it must not change
    the value the gateway reads either. The reader and the handlers join all text nodes (``itertext``), so the IIN
    read is exactly the IIN signed; only a reader of ``.text`` would see "9001" (the Duo 2018 truncation)."""
    signed = etree.tostring(signed_envelope(rsa.leaf))
    injected = signed.replace(f"<iin>{IIN}</iin>".encode(), b"<iin>9001<!---->01300017</iin>")
    assert injected != signed
    req = read_sync_request(injected, "text/xml")
    result = verify_envelope(req.envelope)
    assert result.signed_body is body_of(req.envelope)
    iin_el = payload_root(req.payload).find("iin")
    assert iin_el.text == "9001"  # what a naive reader would take
    assert read_fields(payload_root(req.payload), ns.GBDFL_MESSAGE, "Request", ("iin",), "cs") == {"iin": IIN}
    # a comment that hides signed text and adds other text changes the canonical form: refused
    altered = signed.replace(f"<iin>{IIN}</iin>".encode(), b"<iin>9001<!--01300017-->99999999</iin>")
    refused(ErrorCode.SIGNATURE_INVALID, "the Body was changed", verify_envelope, parse(altered))


def test_sha1_refused_unless_allowed(rsa: Pki):
    env = crafted_envelope(rsa.leaf, lambda e: [("#id-1", body_of(e), [alg.EXC_C14N])],
                           method_uri=alg.RSA_SHA1, digest_uri=alg.SHA1)  # fmt: skip
    refused(ErrorCode.UNSUPPORTED_ALGORITHM, "uses SHA-1, which is refused", verify_envelope, env)
    assert verify_envelope(env, allow_sha1=True).algorithm == "rsa-sha1"
    env = crafted_envelope(rsa.leaf, lambda e: [("#id-1", body_of(e), [alg.EXC_C14N])], digest_uri=alg.SHA1)
    fragment = "DigestMethod http://www.w3.org/2000/09/xmldsig#sha1 uses SHA-1"
    refused(ErrorCode.UNSUPPORTED_ALGORITHM, fragment, verify_envelope, env)


@pytest.mark.parametrize("where, uri", [
    ("ds:SignedInfo/ds:SignatureMethod", alg.GOST_2004_SIGNATURE),
    ("ds:SignedInfo/ds:SignatureMethod", alg.GOST_2015_256_SIGNATURE),
    ("ds:SignedInfo/ds:SignatureMethod", alg.GOST_2015_512_SIGNATURE),
    ("ds:SignedInfo/ds:Reference/ds:DigestMethod", alg.GOST_2004_DIGEST),
    ("ds:SignedInfo/ds:Reference/ds:DigestMethod", alg.GOST_2015_256_DIGEST),
    ("ds:SignedInfo/ds:Reference/ds:DigestMethod", alg.GOST_2015_512_DIGEST),
])  # fmt: skip
def test_gost_is_recognised_but_unsupported(rsa: Pki, where, uri):
    env = signed_envelope(rsa.leaf)
    security_of(env).find(f"ds:Signature/{where}", NSMAP).set("Algorithm", uri)
    err = refused(ErrorCode.UNSUPPORTED_ALGORITHM, "is recognised but not verifiable here", verify_envelope, env)
    assert uri in err.message and "GOST 34.310-2004 / 34.10-2015" in err.message
    root = parse(gbdfl_data())
    sign_enveloped(root, key=rsa.leaf.key, cert=rsa.leaf.cert)
    root.find(f"ds:Signature/{where}", NSMAP).set("Algorithm", uri)
    refused(ErrorCode.UNSUPPORTED_ALGORITHM, "is recognised but not verifiable here", verify_enveloped, root)


@pytest.mark.parametrize("role, uri", [
    ("SignedInfo CanonicalizationMethod", "http://www.w3.org/2006/12/xml-c14n11"),
    ("SignatureMethod", "http://www.w3.org/2000/09/xmldsig#hmac-sha1"),
    ("DigestMethod", "http://www.w3.org/2001/04/xmldsig-more#md5"),
])  # fmt: skip
def test_other_algorithms_unsupported(rsa: Pki, role, uri):
    env = signed_envelope(rsa.leaf)
    tag = {"SignedInfo CanonicalizationMethod": "ds:CanonicalizationMethod", "SignatureMethod": "ds:SignatureMethod",
           "DigestMethod": "ds:Reference/ds:DigestMethod"}[role]  # fmt: skip
    security_of(env).find(f"ds:Signature/ds:SignedInfo/{tag}", NSMAP).set("Algorithm", uri)
    refused(ErrorCode.UNSUPPORTED_ALGORITHM, f"{role} {uri!r} is not one shlyuz verifies", verify_envelope, env)


def test_ecdsa_der_signature_value_refused():
    pki = _PKIS.setdefault("ec-p256", Pki("ec-p256"))
    env = signed_envelope(pki.leaf)
    si = security_of(env).find("ds:Signature/ds:SignedInfo", NSMAP)
    der = pki.leaf.key.sign(alg.canonicalize(si, alg.C14N_METHODS[alg.EXC_C14N]), ec.ECDSA(alg.hashes.SHA256()))
    security_of(env).find("ds:Signature/ds:SignatureValue", NSMAP).text = b64(der)
    refused(ErrorCode.SIGNATURE_INVALID, "XMLDSig wants raw r||s of 64 bytes", verify_envelope, env)


def test_signature_method_must_fit_the_key(rsa: Pki):
    env = signed_envelope(rsa.leaf)
    security_of(env).find("ds:Signature/ds:SignedInfo/ds:SignatureMethod", NSMAP).set("Algorithm", alg.ECDSA_SHA256)
    refused(ErrorCode.SIGNATURE_INVALID, "SignatureMethod ecdsa-sha256 does not fit the RSA key", verify_envelope, env)


def test_malformed_signature_shapes(rsa: Pki):
    env = signed_envelope(rsa.leaf)
    sig = security_of(env)[0]
    sig.append(etree.Element(f"{{{DS}}}Object"))
    refused(ErrorCode.SIGNATURE_INVALID, "ds:Object and Manifests are not accepted", verify_envelope, env)
    env = signed_envelope(rsa.leaf)
    sig = security_of(env)[0]
    sig.remove(sig.find("ds:KeyInfo", NSMAP))
    refused(ErrorCode.SIGNATURE_INVALID, "has no ds:KeyInfo", verify_envelope, env)
    env = signed_envelope(rsa.leaf)
    si = security_of(env).find("ds:Signature/ds:SignedInfo", NSMAP)
    si.insert(0, si[1])  # SignatureMethod before CanonicalizationMethod
    fragment = "expected ds:CanonicalizationMethod, found ds:SignatureMethod"
    refused(ErrorCode.SIGNATURE_INVALID, fragment, verify_envelope, env)


# -- (d) attacks on the data signature -----------------------------------------------------------------------------


def signed_data(who: Issued) -> etree._Element:
    return sign_enveloped(parse(gbdfl_data()), key=who.key, cert=who.cert)


def test_data_signature_missing():
    fragment = "the data document <data> has no ds:Signature"
    refused(ErrorCode.SIGNATURE_MISSING, fragment, verify_enveloped, parse(gbdfl_data()))


def test_data_signature_tampered_or_forged(pki: Pki):
    root = signed_data(pki.leaf)
    root.find("iin").text = "851231400120"
    refused(ErrorCode.SIGNATURE_INVALID, "the data was changed after it was signed", verify_enveloped, root)
    root = signed_data(pki.leaf)
    root.find("ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate", NSMAP).text = b64(pki.other.cert_der())
    refused(ErrorCode.SIGNATURE_INVALID, "does not verify with the public key", verify_enveloped, root)


def test_data_signature_elsewhere_or_twice(rsa: Pki):
    root = signed_data(rsa.leaf)
    root.find("iin").append(root[-1])  # moved inside a field
    refused(ErrorCode.SIGNATURE_INVALID, "found 0 there; 1 more inside <iin>", verify_enveloped, root)
    root = signed_data(rsa.leaf)
    root.append(copy.deepcopy(root[-1]))
    refused(ErrorCode.SIGNATURE_INVALID, "must hold exactly one ds:Signature", verify_enveloped, root)
    root = signed_data(rsa.leaf)
    root.find("iin").append(copy.deepcopy(root[-1]))  # a second one nested elsewhere
    refused(ErrorCode.SIGNATURE_INVALID, "found 1 there; 1 more inside <iin>", verify_enveloped, root)


def test_data_signature_reference_rules(rsa: Pki):
    root = signed_data(rsa.leaf)
    si = root.find("ds:Signature/ds:SignedInfo", NSMAP)
    si.append(copy.deepcopy(si.find("ds:Reference", NSMAP)))
    refused(ErrorCode.SIGNATURE_INVALID, "has 2 references; exactly one", verify_enveloped, root)
    root = signed_data(rsa.leaf)
    root.set("Id", "d1")
    root.find("ds:Signature/ds:SignedInfo/ds:Reference", NSMAP).set("URI", "#d1")
    refused(ErrorCode.SIGNATURE_INVALID, "it must be URI=\"\" (the whole document)", verify_enveloped, root)


@pytest.mark.parametrize("transforms", [
    [alg.EXC_C14N], [alg.ENVELOPED_SIGNATURE], [alg.EXC_C14N, alg.ENVELOPED_SIGNATURE],
    [alg.ENVELOPED_SIGNATURE, XPATH], [alg.ENVELOPED_SIGNATURE, alg.EXC_C14N, XSLT],
])  # fmt: skip
def test_data_signature_transforms(rsa: Pki, transforms):
    root = signed_data(rsa.leaf)
    tr = root.find("ds:Signature/ds:SignedInfo/ds:Reference/ds:Transforms", NSMAP)
    for t in list(tr):
        tr.remove(t)
    for t in transforms:
        etree.SubElement(tr, xd.TRANSFORM, Algorithm=t)
    refused(ErrorCode.SIGNATURE_INVALID, "exactly [enveloped-signature, one c14n method]", verify_enveloped, root)


def test_data_signature_key_info(rsa: Pki):
    root = signed_data(rsa.leaf)
    data = root.find("ds:Signature/ds:KeyInfo/ds:X509Data", NSMAP)
    etree.SubElement(data, xd.X509_CERTIFICATE).text = b64(rsa.ca.cert_der())
    refused(ErrorCode.SIGNATURE_INVALID, "holds 2 X509Data/X509Certificate elements", verify_enveloped, root)
    root = signed_data(rsa.leaf)
    root.find("ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate", NSMAP).text = "AAAA"
    refused(ErrorCode.SIGNATURE_INVALID, "KeyInfo certificate is not a valid X.509 certificate", verify_enveloped, root)


def test_data_signature_with_whitespace_and_comments_around(rsa: Pki):
    """The enveloped-signature transform removes the Signature element but keeps the text after it (lxml's
    ``tail``): moving the signed trailing newline from before the Signature to after it keeps the same canonical form,
    and a comment next to it is not part of the digest."""
    root = parse(gbdfl_data().replace(b"</data>", b"\n  <!-- note -->\n</data>"))
    sign_enveloped(root, key=rsa.leaf.key, cert=rsa.leaf.cert)
    sig, before = root[-1], root[-2]
    assert before.tail == "\n" and sig.tail is None
    sig.tail, before.tail = before.tail, None
    root.insert(len(root) - 1, etree.Comment(" before "))
    assert verify_enveloped(parse(etree.tostring(root))).certificate == rsa.leaf.cert
    sig.tail = "\nextra text"
    refused(ErrorCode.SIGNATURE_INVALID, "the data was changed", verify_enveloped, parse(etree.tostring(root)))


def test_signing_twice_is_a_programming_error(rsa: Pki):
    with pytest.raises(ValueError):
        sign_envelope(signed_envelope(rsa.leaf), key=rsa.leaf.key, cert=rsa.leaf.cert)
    with pytest.raises(ValueError):
        sign_enveloped(signed_data(rsa.leaf), key=rsa.leaf.key, cert=rsa.leaf.cert)


# -- (e) certificate checks ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nca():
    """An RSA root → issuing CA, and one reusable key for leaves (keys are slow, certificates are not)."""
    root = make_root("TEST ROOT (RSA)")
    ca = make_ca(root, "ҰКО 3.0 (RSA TEST)")
    return root, ca, make_key("rsa2048")


def check(cert: Issued | x509.Certificate, nca, purpose="sign", **kw):
    root, ca, _ = nca
    c = cert.cert if isinstance(cert, Issued) else cert
    kw.setdefault("anchors", [root.cert])
    kw.setdefault("intermediates", [ca.cert])
    return check_certificate(c, at=kw.pop("at", NOW), purpose=purpose, **kw)


def test_good_sign_certificate_verdict(nca):
    root, ca, key = nca
    leaf = make_leaf(ca, iin=IIN, key=key, serial=0x1A2B)
    verdict = check(leaf, nca, expected_iin=IIN, revocation=RevocationStatus("good", "ocsp"))
    assert verdict.iin == IIN and verdict.bin is None and verdict.serial == "1A2B" and verdict.purpose == "sign"
    assert verdict.chain == (leaf.cert.subject.rfc4514_string(DN_NAMES), ca.cert.subject.rfc4514_string(DN_NAMES),
                             root.cert.subject.rfc4514_string(DN_NAMES))  # fmt: skip
    assert verdict.issuer == ca.cert.subject.rfc4514_string(DN_NAMES) and verdict.revocation == "ocsp"
    assert "SERIALNUMBER=IIN" in verdict.subject and "SURNAME=" in verdict.subject
    d = verdict.as_dict()
    assert d["eku"] == ["1.3.6.1.5.5.7.3.4", "1.2.398.3.3.4.1.1"]
    assert d["keyUsage"] == ["digitalSignature", "nonRepudiation"]
    assert d["revocation"] == "ocsp" and d["notAfter"] == "2049-12-31T00:00:00Z"
    assert check(leaf, nca).as_dict()["revocation"] == "not checked"
    assert verdict.path == (leaf.cert, ca.cert, root.cert) and "path" not in d


def test_good_auth_certificate(nca):
    _, ca, key = nca
    leaf = make_leaf(ca, iin=IIN, key=key, key_usage=AUTH_KU, eku=AUTH_EKU)
    assert check(leaf, nca, purpose="auth").key_usage == ("digitalSignature", "keyEncipherment")


def test_untrusted(nca):
    _, ca, key = nca
    stranger_root = make_root("STRANGER ROOT", key=key)
    stranger = make_leaf(make_ca(stranger_root, "STRANGER CA", key=key), iin=IIN, key=key)
    refused(ErrorCode.CERT_UNTRUSTED, "its issuer CN=STRANGER CA,C=KZ is neither a trusted CA nor a known intermediate",
            check, stranger, nca)  # fmt: skip
    # right issuer name, wrong key: a forged certificate
    forged = make_leaf(ca, iin=IIN, key=key, signed_by=key)
    refused(ErrorCode.CERT_UNTRUSTED, "but its key did not sign it", check, forged, nca)
    # the intermediate is not supplied: the path stops
    leaf = make_leaf(ca, iin=IIN, key=key)
    fragment = "is neither a trusted CA nor a known intermediate"
    refused(ErrorCode.CERT_UNTRUSTED, fragment, check, leaf, nca, intermediates=[])
    refused(ErrorCode.CERT_UNTRUSTED, "no trust anchors are configured", check, leaf, nca, anchors=[])
    # trusting the issuing CA directly is enough (NCANode trusts one configured level)
    assert len(check(leaf, nca, anchors=[ca.cert], intermediates=[]).chain) == 2


def test_untrusted_issuer_not_a_ca(nca):
    root, _, key = nca
    not_ca = make_ca(root, "NOT A CA", key=key, ca=False)
    leaf = make_leaf(not_ca, iin=IIN, key=key)
    refused(ErrorCode.CERT_UNTRUSTED, "CN=NOT A CA is not a CA (BasicConstraints cA is false)", check, leaf, nca,
            intermediates=[not_ca.cert])  # fmt: skip
    no_sign = make_ca(root, "NO KEYCERTSIGN", key=key, key_cert_sign=False)
    leaf = make_leaf(no_sign, iin=IIN, key=key)
    refused(ErrorCode.CERT_UNTRUSTED, "KeyUsage lacks keyCertSign", check, leaf, nca, intermediates=[no_sign.cert])


def test_path_length_constraint(nca):
    root, ca, key = nca  # ca has pathLen 0
    sub = make_ca(ca, "SUB CA", key=key)
    leaf = make_leaf(sub, iin=IIN, key=key)
    refused(ErrorCode.CERT_UNTRUSTED, "allows 0 CA(s) below it, the path has 1", check, leaf, nca,
            intermediates=[ca.cert, sub.cert])  # fmt: skip


def test_expired_and_not_yet_valid(nca):
    root, ca, key = nca
    old = make_leaf(ca, iin=IIN, key=key, not_after=datetime(2025, 6, 1, tzinfo=timezone.utc))
    refused(ErrorCode.CERT_EXPIRED,
            "certificate SERIALNUMBER=IIN900101300017 expired on 2025-06-01T00:00:00Z; the gateway clock says "
            "2026-01-15T10:00:00+05:00", check, old, nca)  # fmt: skip
    future = make_leaf(ca, iin=IIN, key=key, not_before=datetime(2026, 2, 1, tzinfo=timezone.utc))
    refused(ErrorCode.CERT_NOT_YET_VALID, "is not valid before 2026-02-01T00:00:00Z", check, future, nca)
    # a CA of the chain expired
    old_ca = make_ca(root, "OLD CA", key=key, not_after=datetime(2025, 12, 31, tzinfo=timezone.utc))
    leaf = make_leaf(old_ca, iin=IIN, key=key)
    refused(ErrorCode.CERT_EXPIRED, "CA certificate CN=OLD CA (in the chain of SERIALNUMBER=IIN900101300017) expired",
            check, leaf, nca, intermediates=[old_ca.cert])  # fmt: skip
    with pytest.raises(ValueError):
        check(leaf, nca, at=datetime(2026, 1, 15))


def test_untrusted_comes_before_expired(nca):
    _, _, key = nca
    stranger_root = make_root("STRANGER ROOT", key=key)
    old = make_leaf(stranger_root, iin=IIN, key=key, not_after=datetime(2025, 6, 1, tzinfo=timezone.utc))
    refused(ErrorCode.CERT_UNTRUSTED, "does not chain to a trusted CA", check, old, nca)


@pytest.mark.parametrize("purpose, ku, eku, fragment", [
    ("sign", AUTH_KU, AUTH_EKU,
     "its KeyUsage is digitalSignature, keyEncipherment; SIGN needs digitalSignature and nonRepudiation"),
    ("sign", SIGN_KU, AUTH_EKU, "lacks emailProtection (1.3.6.1.5.5.7.3.4)"),
    ("auth", ("key_encipherment",), AUTH_EKU, "AUTH needs digitalSignature"),
    ("auth", SIGN_KU, SIGN_EKU, "lacks clientAuth (1.3.6.1.5.5.7.3.2)"),
    ("sign", None, SIGN_EKU, "has no KeyUsage extension"),
])  # fmt: skip
def test_wrong_key_usage(nca, purpose, ku, eku, fragment):
    _, ca, key = nca
    leaf = make_leaf(ca, iin=IIN, key=key, key_usage=ku, eku=eku)
    refused(ErrorCode.CERT_KEY_USAGE, fragment, check, leaf, nca, purpose=purpose)


def test_no_eku_is_accepted_on_key_usage_alone(nca):
    """Decision (docs/dsig.md): no EKU extension = no restriction (RFC 5280), as bank / state-body CAs issue them."""
    _, ca, key = nca
    sign = make_leaf(ca, iin=IIN, key=key, eku=None)
    verdict = check(sign, nca)
    assert verdict.eku is None and verdict.as_dict()["eku"] == "absent"
    auth = make_leaf(ca, iin=IIN, key=key, key_usage=AUTH_KU, eku=None)
    assert check(auth, nca, purpose="auth").as_dict()["eku"] == "absent"
    refused(ErrorCode.CERT_KEY_USAGE, "SIGN needs", check, auth, nca, purpose="sign")  # key usage still decides


def test_any_extended_key_usage_is_accepted(nca):
    _, ca, key = nca
    leaf = make_leaf(ca, iin=IIN, key=key, eku=(ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,))
    assert check(leaf, nca).eku == ("2.5.29.37.0",)


def test_revoked_and_unknown(nca):
    _, ca, key = nca
    leaf = make_leaf(ca, iin=IIN, key=key)
    status = RevocationStatus("revoked", "ocsp", datetime(2025, 12, 1, tzinfo=timezone.utc), "keyCompromise")
    refused(ErrorCode.CERT_REVOKED, "was revoked on 2025-12-01T00:00:00Z (reason: keyCompromise) according to OCSP",
            check, leaf, nca, revocation=status)  # fmt: skip
    refused(ErrorCode.CERT_REVOKED, "according to CRL", check, leaf, nca, revocation=RevocationStatus("revoked", "crl"))
    refused(ErrorCode.REVOCATION_UNAVAILABLE, "is unknown according to OCSP", check, leaf, nca,
            revocation=RevocationStatus("unknown", "ocsp"))  # fmt: skip
    # key usage is checked before revocation
    auth = make_leaf(ca, iin=IIN, key=key, key_usage=AUTH_KU, eku=AUTH_EKU)
    refused(ErrorCode.CERT_KEY_USAGE, "SIGN needs", check, auth, nca, revocation=status)


def test_iin_mismatch(nca):
    _, ca, key = nca
    leaf = make_leaf(ca, iin=IIN, key=key)
    fragment = ("the request names IIN 851231400120 but the signer's certificate SERIALNUMBER=IIN900101300017 "
                "belongs to IIN 900101300017")  # fmt: skip
    refused(ErrorCode.IIN_MISMATCH, fragment, check, leaf, nca, expected_iin="851231400120")
    org = make_leaf(ca, bin="230540000014", cn="ТЕСТОВ ТЕСТ", key=key)
    refused(ErrorCode.IIN_MISMATCH, "carries no IIN", check, org, nca, expected_iin=IIN)
    refused(ErrorCode.IIN_MISMATCH, "carries no BIN", check, leaf, nca, expected_bin="230540000014")


@pytest.mark.parametrize("bin_in", ["OU", "SERIALNUMBER"])
def test_bin_match_for_an_organisation(nca, bin_in):
    _, ca, key = nca
    org = make_leaf(ca, iin=IIN if bin_in == "OU" else None, bin="230540000014", bin_in=bin_in, key=key)
    verdict = check(org, nca, expected_bin="230540000014")
    assert verdict.bin == "230540000014" and verdict.iin == (IIN if bin_in == "OU" else None)
    refused(ErrorCode.IIN_MISMATCH, "belongs to BIN 230540000014", check, org, nca, expected_bin="000201500015")


def test_ec_chain(nca):
    ec_root = make_root("EC ROOT", kind="ec-p256")
    ec_ca = make_ca(ec_root, "EC CA", kind="ec-p256")
    leaf = make_leaf(ec_ca, iin=IIN, kind="ec-p256")
    verdict = check_certificate(leaf.cert, anchors=[ec_root.cert], intermediates=[ec_ca.cert], at=NOW, purpose="sign")
    assert len(verdict.chain) == 3


def test_agrees_with_cryptography_verification_on_path_and_time(nca):
    """cryptography.x509.verification (with a permissive end-entity policy) reaches the same trust decision for the
    cases where its rules and ours coincide: a good chain, an unknown issuer, an expired leaf."""
    from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store, VerificationError

    root, ca, key = nca
    builder = PolicyBuilder().store(Store([root.cert])).time(NOW).extension_policies(
        ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all()
    )
    verifier = builder.build_client_verifier()
    good = make_leaf(ca, iin=IIN, key=key)
    assert [c for c in verifier.verify(good.cert, [ca.cert]).chain] == [good.cert, ca.cert, root.cert]
    assert check(good, nca).chain[-1] == root.cert.subject.rfc4514_string(DN_NAMES)
    stranger = make_leaf(make_root("STRANGER ROOT", key=key), iin=IIN, key=key)
    old = make_leaf(ca, iin=IIN, key=key, not_after=datetime(2025, 6, 1, tzinfo=timezone.utc))
    for cert, code in ((stranger, ErrorCode.CERT_UNTRUSTED), (old, ErrorCode.CERT_EXPIRED)):
        with pytest.raises(VerificationError):
            verifier.verify(cert.cert, [ca.cert])
        with pytest.raises(ShlyuzError) as info:
            check(cert, nca)
        assert info.value.code is code


def test_standalone_copy_keeps_own_and_used_namespaces_only():
    """The standalone-document rule relies on lxml's deepcopy: the element's own declarations and the ancestors' ones
    the subtree uses in element/attribute names survive; unused ancestor ones (soap:, ns3:) and ones used only inside
    attribute values (a QName in xsi:type) do not — see docs/dsig.md."""
    env = etree.fromstring(
        f'<soap:Envelope xmlns:soap="{ns.SOAP11}" xmlns:p="urn:p" xmlns:hoisted="urn:h"><soap:Body>'
        f'<data xmlns:cs="urn:cs" xmlns:xsi="{ns.XSI}" xsi:type="cs:Request"><p:x/><y xsi:type="hoisted:T"/></data>'
        "</soap:Body></soap:Envelope>".encode()
    )
    standalone = copy.deepcopy(env.find(".//data"))
    assert standalone.nsmap == {"cs": "urn:cs", "xsi": ns.XSI, "p": "urn:p"}


@needs_xmlsec1
def test_inclusive_namespaces_prefix_list_is_honoured(rsa: Pki, tmp_path):
    """exc-c14n drops xmlns:cs (it is used only inside xsi:type's value) unless the transform's PrefixList names it;
    signed by xmlsec1 with PrefixList="cs", rebinding cs must break the digest."""
    transform = (
        f'{alg.EXC_C14N}"><ec:InclusiveNamespaces xmlns:ec="{alg.EXC_C14N_NS}" PrefixList="cs xsi"/>'
        f'</ds:Transform><ds:Transform Algorithm="urn:placeholder'
    )
    template = wsse_template(gbdfl_envelope(), method=alg.RSA_SHA256, key_info=key_identifier(rsa.leaf),
                             transform=transform).replace(b'<ds:Transform Algorithm="urn:placeholder"/>', b"")  # fmt: skip
    signed = xmlsec1_sign(template, rsa.leaf, tmp_path, *BODY_ID_ARGS)
    assert b"PrefixList" in signed
    assert verify_envelope(parse(signed)).body_id == "id-1"
    rebound = signed.replace(f'xmlns:cs="{ns.GBDFL_MESSAGE}"'.encode(), b'xmlns:cs="urn:other"')
    refused(ErrorCode.SIGNATURE_INVALID, "the Body was changed", verify_envelope, parse(rebound))
    # without the PrefixList the same rebinding is invisible to exc-c14n (why SHEP payloads should not rely on it)
    plain = xmlsec1_sign(wsse_template(gbdfl_envelope(), method=alg.RSA_SHA256, key_info=key_identifier(rsa.leaf)),
                         rsa.leaf, tmp_path, *BODY_ID_ARGS)  # fmt: skip
    assert verify_envelope(parse(plain.replace(f'xmlns:cs="{ns.GBDFL_MESSAGE}"'.encode(), b'xmlns:cs="urn:other"')))


def test_wsu_id_and_wsse_id_with_the_same_value_on_the_body(rsa: Pki):
    """The NIIS sample puts wsu:Id and wsse:Id with one value on the Body: one element, not a duplicate."""
    def refs(env):
        body_of(env).set(f"{{{ns.WSSE}}}Id", "id-1")
        return [("#id-1", body_of(env), [alg.EXC_C14N])]

    assert verify_envelope(crafted_envelope(rsa.leaf, refs)).body_id == "id-1"
