"""Mutators, seeds and the register of crashes already found, for the fuzz tests (test helper, not a test module).

Used by tests/test_fuzz.py and bench/fuzz_long.py. API::

    mutate_bytes(data, raw) / mutate_tree(data, raw) / mutate_der(data, raw) -> bytes     (data: st.data())
    resign(data, signed_der, key) -> bytes      a certificate or CRL with a mutated TBS, signed again (EC key)
    fuzzed_request(data, seeds) -> bytes        arbitrary bytes, structural XML, byte/tree/embedded-DER mutations
    chain() -> (root, ca, leaf)                 an EC test PKI (tests/certs.py); request_seeds(signer), reply_seeds(),
    signed_documents(), ocsp_seeds(), fixture_seeds(), mutate_json(data, value), mutate_toml(data)
    known_crash(exc) -> str | None              the strict-xfail test pinning a crash already found, else None
    watch_stages(sync) -> list                  wraps the pipeline's stages to collect non-ShlyuzError exceptions
    watch_app(app) -> list                      the same for an aiohttp app's handlers (the JSON APIs)
    (YAML files, AsyncChannel requests and JSON API bodies: tests/fuzzkit_formats.py)
"""

from __future__ import annotations

import copy
import functools
import json
import re
import traceback
from datetime import timedelta, timezone
from xml.sax.saxutils import escape, quoteattr

from certs import make_ca, make_leaf, make_root
from conftest import GATEWAY_NOW, REPO
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import strategies as st
from lxml import etree

from shlyuz.client import SendMessage, payload
from shlyuz.dsig import algorithms as alg
from shlyuz.dsig.signer import Signer
from shlyuz.errors import FaultKind, ShlyuzError
from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.fixtures.store import FILES
from shlyuz.pki import _der as der
from shlyuz.pki.revocation import GOOD, build_crl, build_ocsp_request, ocsp_respond
from shlyuz.shep import ns
from shlyuz.shep.events import DataKind, ErrorInfo, Status, SyncResponse
from shlyuz.shep.writer import write_fault, write_sync_response

AT = GATEWAY_NOW.astimezone(timezone.utc)
APPLICANT = DEMO_IINS["applicant"]
GBDFL = "GBDFL_UniversalServiceSync"
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]+")
SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)

# --- mutators -----------------------------------------------------------------------------------------------------

XML_TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc", "Cn", "Co")) | st.sampled_from("\t\n\r<>&]'\""),
                   max_size=30)  # fmt: skip
BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf\xef\xbb\xbf")
NAMESPACES = (None, ns.SOAP11, ns.SOAP12, ns.SYNC_TYPES, ns.WSSE, ns.WSU, ns.DS, ns.XSI, ns.XS, ns.GBDFL_MESSAGE,
              ns.ENIS_POA, "urn:fuzz", "")  # fmt: skip
NAMES = ("Envelope", "Header", "Body", "Fault", "detail", "SendMessage", "SendMessageResponse", "request", "response",
         "requestInfo", "responseInfo", "requestData", "responseData", "data", "messageId", "serviceId", "messageDate",
         "sender", "senderId", "password", "properties", "key", "value", "sessionId", "correlationId", "status", "code",
         "Security", "Signature", "SignedInfo", "Reference", "KeyInfo", "Request", "iin", "x")  # fmt: skip
ATTRS = ("a", f"{{{ns.XSI}}}type", f"{{{ns.XSI}}}nil", f"{{{ns.SOAP11}}}mustUnderstand", f"{{{ns.WSU}}}Id", "Id",
         "ID", "URI", "Algorithm", "ValueType", "EncodingType", "{http://www.w3.org/XML/1998/namespace}id")  # fmt: skip
ATTR_VALUES = XML_TEXT | st.sampled_from(["xs:string", "cs:Request", "1", "true", "#id-1", "", "#xpointer(/)",
                                          *alg.SIGNATURE_METHODS, *alg.DIGEST_METHODS, *alg.C14N_METHODS,
                                          alg.ENVELOPED_SIGNATURE, alg.GOST_2004_SIGNATURE])  # fmt: skip


def mutate_bytes(data: st.DataObject, raw: bytes) -> bytes:
    """Byte flips, overwrites, truncation, insertion, deletion, chunk duplication, BOMs."""
    b = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete", "splice", "bom"]))
        i = data.draw(st.integers(0, max(len(b) - 1, 0)))
        if op == "flip" and b:
            b[i] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "set" and b:
            b[i] = data.draw(st.sampled_from([0, 0x20, 0x3C, 0x3E, 0x26, 0x80, 0xFF]) | st.integers(0, 255))
        elif op == "truncate":
            del b[i:]
        elif op == "insert":
            b[i:i] = data.draw(st.binary(min_size=1, max_size=16) | st.sampled_from([b"<", b"&amp;", b"]]>", b"<!--"]))
        elif op == "delete":
            del b[i : i + data.draw(st.integers(1, 64))]
        elif op == "splice":
            j = data.draw(st.integers(0, max(len(b) - 1, 0)))
            b[i:i] = b[j : j + data.draw(st.integers(1, 200))]
        elif op == "bom":
            b[0:0] = data.draw(st.sampled_from(BOMS))
    return bytes(b)


def _deep(el: etree._Element, depth: int) -> None:
    for _ in range(depth):
        el = etree.SubElement(el, "d")


def mutate_tree(data: st.DataObject, raw: bytes) -> bytes:
    """Element duplication/removal/moves, namespace changes, attributes (up to 5000), nesting near and past the depth
    cap, text, CDATA, comments, PIs, data turned into an escaped string; then maybe byte mutations."""
    root = etree.fromstring(raw, SAFE_PARSER)
    for _ in range(data.draw(st.integers(1, 3))):
        el = data.draw(st.sampled_from(list(root.iter(etree.Element))))
        parent, local = el.getparent(), etree.QName(el).localname
        op = data.draw(st.sampled_from(["dup", "remove", "move", "ns", "rename", "attrs", "attr", "deep", "text",
                                        "cdata", "comment", "pi", "escape", "unescape"]))  # fmt: skip
        if op == "dup" and parent is not None:
            parent.insert(parent.index(el), copy.deepcopy(el))
        elif op == "remove" and parent is not None:
            parent.remove(el)
        elif op == "move" and parent is not None:
            dest = data.draw(st.sampled_from([e for e in root.iter(etree.Element) if el not in e.iterancestors()
                                              and e is not el]))  # fmt: skip
            dest.insert(data.draw(st.integers(0, len(dest))), el)
        elif op == "ns":
            el.tag = etree.QName(data.draw(st.sampled_from(NAMESPACES)) or None, local).text
        elif op == "rename":
            el.tag = etree.QName(etree.QName(el).namespace, data.draw(st.sampled_from(NAMES))).text
        elif op == "attrs":
            for i in range(data.draw(st.sampled_from([2, 50, 1000, 5000]))):
                el.set(f"a{i}", "v")
        elif op == "attr":
            el.set(data.draw(st.sampled_from(ATTRS)), data.draw(ATTR_VALUES))
        elif op == "deep":
            _deep(el, data.draw(st.sampled_from([50, 56, 57, 58, 63, 64, 65, 200, 260])))
        elif op == "text":
            el.text = data.draw(XML_TEXT)
        elif op == "cdata":
            el.text = etree.CDATA(data.draw(XML_TEXT).replace("]]>", ""))
        elif op == "comment":
            el.insert(data.draw(st.integers(0, len(el))), etree.Comment(data.draw(st.sampled_from(["", "c", "<x/>"]))))
        elif op == "pi":
            el.insert(data.draw(st.integers(0, len(el))), etree.ProcessingInstruction("fuzz", "x"))
        elif op == "escape" and len(el):
            text = (el.text or "") + "".join(etree.tostring(c, encoding="unicode") for c in el)
            for c in list(el):
                el.remove(c)
            el.text = text
        elif op == "unescape" and (el.text or "").strip().startswith("<"):
            try:
                el.append(etree.fromstring(el.text.strip().encode(), SAFE_PARSER))
            except etree.XMLSyntaxError:
                pass
    out = etree.tostring(root, encoding="utf-8", xml_declaration=data.draw(st.booleans()))
    return mutate_bytes(data, out) if data.draw(st.booleans()) else out


def _der_parse(raw: bytes) -> list:
    tlv = der.read_one(raw)
    return [tlv.tag, [_der_parse(c.raw) for c in der.children(tlv.value)] if tlv.tag & 0x20 else tlv.value]


def _der_encode(node: list) -> bytes:
    tag, body = node
    return der.tlv(tag, b"".join(_der_encode(c) for c in body) if isinstance(body, list) else body)


def _der_slots(node: list, out: list) -> list:
    if isinstance(node[1], list):
        for i, child in enumerate(node[1]):
            out.append((node[1], i))
            _der_slots(child, out)
    return out


def mutate_der(data: st.DataObject, raw: bytes) -> bytes:
    """Structure-aware DER mutation: lengths stay right, values, tags and elements change."""
    tree = _der_parse(raw)
    for _ in range(data.draw(st.integers(1, 3))):
        slots = _der_slots(tree, [])
        if not slots:
            break
        parent, i = data.draw(st.sampled_from(slots))
        node = parent[i]
        op = data.draw(st.sampled_from(["value", "flip", "tag", "drop", "dup", "swap"]))
        if op == "value" or (op == "flip" and isinstance(node[1], list)):
            node[1] = data.draw(st.binary(max_size=24) | st.sampled_from([b"", b"\x00", b"\xff" * 9, b"\x80" * 3,
                                                                          b"\xff\xfe\x00<", b"a" * 300]))  # fmt: skip
        elif op == "flip" and node[1]:
            pos = data.draw(st.integers(0, len(node[1]) - 1))
            node[1] = node[1][:pos] + bytes([node[1][pos] ^ (1 << data.draw(st.integers(0, 7)))]) + node[1][pos + 1 :]
        elif op == "tag":
            node[0] = data.draw(st.sampled_from([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0A, 0x0C, 0x13, 0x14, 0x16,
                                                 0x17, 0x18, 0x1E, 0x30, 0x31, 0x80, 0xA0, 0xA3]))  # fmt: skip
        elif op == "drop":
            del parent[i]
        elif op == "dup":
            parent.insert(i, copy.deepcopy(node))
        elif op == "swap" and len(parent) > 1:
            j = data.draw(st.integers(0, len(parent) - 1))
            parent[i], parent[j] = parent[j], parent[i]
    return _der_encode(tree)


def resign(data: st.DataObject, signed: bytes, key) -> bytes:
    """Mutate the to-be-signed part of a certificate or CRL and sign it again, so that the checks behind the
    signature see the mutation."""
    outer = der.children(der.read_one(signed).value)
    tbs = mutate_der(data, outer[0].raw)
    return der.seq(tbs, outer[1].raw, der.bit_string(key.sign(tbs, ec.ECDSA(hashes.SHA256()))))


# --- seeds --------------------------------------------------------------------------------------------------------


@functools.cache
def chain():
    root = make_root("FUZZ ROOT", kind="ec-p256")
    ca = make_ca(root, "FUZZ CA", kind="ec-p256")
    return root, ca, make_leaf(ca, iin=APPLICANT, kind="ec-p256")


def gbdfl_request(**fields: str) -> etree._Element:
    return payload(ns.GBDFL_MESSAGE, "Request", {"messageId": "1", "senderCode": "shlyuz-demo", **fields})


@functools.cache
def request_seeds(signer: Signer | None = None) -> tuple[bytes, ...]:
    """GBD FL inline, ENIS escaped, an unknown serviceId, and GBD FL with both signatures by ``signer``."""
    when = GATEWAY_NOW
    poa = payload(ns.ENIS_POA, "PoaCheckRequest", {"poaNumber": "1", "principalIin": APPLICANT})
    seeds = [
        SendMessage(GBDFL, gbdfl_request(iin=APPLICANT), message_date=when).to_bytes(),
        SendMessage("ENIS_POA_CHECK", poa, escaped=True, message_date=when, properties=[("k", "v")]).to_bytes(),
        SendMessage("NOPE", None, message_date=when, correlation_id="c").to_bytes(),
    ]
    signer = signer or Signer(chain()[2].key, chain()[2].cert)
    seeds.append(SendMessage(GBDFL, gbdfl_request(iin=APPLICANT), message_date=when,
                             wsse_signer=signer, data_signer=signer).to_bytes())  # fmt: skip
    return tuple(seeds)


def _structural(name: str, namespace: str | None, attrs: list, kids: list[str]) -> str:
    tag = f"p:{name}" if namespace else name
    decl = f" xmlns:p={quoteattr(namespace)}" if namespace else ""
    attrs_text = "".join(f" {k}={quoteattr(v)}" for k, v in attrs)
    return f"<{tag}{decl}{attrs_text}>{''.join(kids)}</{tag}>"


XML_LEAF = XML_TEXT.map(escape) | st.sampled_from(["", "<!-- c -->", "<![CDATA[<x/>]]>", "<?pi x?>", "&lt;a/&gt;",
                                                   "&#0;", "&#x10FFFF;", "&undefined;"])  # fmt: skip
XML_TREE = st.recursive(XML_LEAF, lambda kids: st.builds(
    _structural, st.sampled_from(NAMES), st.sampled_from(NAMESPACES[:-1]),
    st.lists(st.tuples(st.sampled_from(["a", "xsi:type", "soap:mustUnderstand", "wsu:Id", "Id"]), XML_TEXT),
             max_size=3, unique_by=lambda kv: kv[0]), st.lists(kids, max_size=4)), max_leaves=30)  # fmt: skip
STRUCTURAL = st.builds(
    lambda prolog, where, inner: (prolog + where.format(inner)).encode(),
    st.sampled_from(["", "<?xml version='1.0' encoding='UTF-8'?>", "\ufeff", "<!-- c -->", '<?xml version="1.1"?>']),
    st.sampled_from(["{}", f'<soap:Envelope xmlns:soap="{ns.SOAP11}" xmlns:xsi="{ns.XSI}" xmlns:wsu="{ns.WSU}">{{}}'
                     "</soap:Envelope>", f'<soap:Envelope xmlns:soap="{ns.SOAP11}"><soap:Body><t:SendMessage '
                     f'xmlns:t="{ns.SYNC_TYPES}" xmlns:xsi="{ns.XSI}"><request>{{}}</request></t:SendMessage>'
                     "</soap:Body></soap:Envelope>"]),
    XML_TREE,
)  # fmt: skip
CONTENT_TYPES = st.sampled_from(["text/xml; charset=utf-8", "application/soap+xml", "text/xml", None, "",
                                 "text/xml; charset=latin1", "application/json"]) | st.text(max_size=40)  # fmt: skip


def mutate_embedded_der(data: st.DataObject, raw: bytes) -> bytes:
    """A long base64 text (a certificate, digest or signature value) replaced by a mutated one."""
    root = etree.fromstring(raw, SAFE_PARSER)
    targets = [e for e in root.iter(etree.Element) if e.text and len(e.text) > 40 and not len(e)
               and _BASE64.fullmatch(e.text)]  # fmt: skip
    if not targets:
        return raw
    el = data.draw(st.sampled_from(targets))
    value = alg.b64decode(el.text, "x")
    try:
        mutated = mutate_der(data, value)
    except ValueError:  # a digest or signature value, not DER
        mutated = mutate_bytes(data, value)
    el.text = alg.base64.b64encode(mutated).decode()
    return etree.tostring(root)


def fuzzed_request(data: st.DataObject, seeds: tuple[bytes, ...]) -> bytes:
    how = data.draw(st.sampled_from(["arbitrary", "structural", "bytes", "tree", "der"]))
    if how == "arbitrary":
        return data.draw(st.binary(max_size=2000) | st.text(max_size=300).map(lambda t: ("<" + t).encode()))
    if how == "structural":
        return data.draw(STRUCTURAL)
    seed = data.draw(st.sampled_from(seeds))
    if how == "der":
        return mutate_embedded_der(data, seed)
    return mutate_bytes(data, seed) if how == "bytes" else mutate_tree(data, seed)


@functools.cache
def reply_seeds() -> tuple[bytes, ...]:
    leaf = chain()[2]
    ok = SyncResponse("m", GATEWAY_NOW, Status.SUCCESS, "ok", "{s}", "c", gbdfl_request(iin=APPLICANT), DataKind.XML)
    fault = ErrorInfo("SCHEMA_VALIDATION", "bad", GATEWAY_NOW, "d", "{s}", ErrorInfo("X", "y", GATEWAY_NOW))
    return (write_sync_response(ok), write_sync_response(ok, sign_envelope=Signer(leaf.key, leaf.cert).envelope),
            write_fault(fault, FaultKind.CLIENT))  # fmt: skip


@functools.cache
def signed_documents() -> tuple[bytes, bytes]:
    """A WS-Security signed envelope and an enveloped-signed GBD FL Request, by the EC leaf of :func:`chain`."""
    leaf = chain()[2]
    doc = gbdfl_request(iin=APPLICANT)
    Signer(leaf.key, leaf.cert).data(doc)
    return request_seeds()[3], etree.tostring(doc)


@functools.cache
def ocsp_seeds() -> tuple[bytes, bytes, bytes]:
    """(an OCSP request for the leaf with a nonce, the CA's answer, a CRL of the CA with two entries)."""
    _, ca, leaf = chain()
    request = build_ocsp_request(leaf.cert, ca.cert, b"n" * 16)
    response = ocsp_respond(request, ca_key=ca.key, ca_cert=ca.cert, status_of=lambda s: GOOD, now=AT)
    crl = build_crl(ca.key, ca.cert, [(leaf.cert.serial_number, AT, x509.ReasonFlags.key_compromise), (7, AT, None)],
                    this_update=AT, next_update=AT + timedelta(days=1), number=3)  # fmt: skip
    return request, response, crl


def der_or_bytes(data: st.DataObject, raw: bytes) -> bytes:
    how = data.draw(st.sampled_from(["der", "bytes", "arbitrary"]))
    if how == "arbitrary":
        return data.draw(st.binary(max_size=600))
    return mutate_der(data, raw) if how == "der" else mutate_bytes(data, raw)


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | XML_TEXT,
                           lambda kids: st.lists(kids, max_size=3) | st.dictionaries(XML_TEXT, kids, max_size=3),
                           max_leaves=10)  # fmt: skip


@functools.cache
def fixture_seeds() -> dict[str, list]:
    """The first two records of each fixture file of the repository."""
    return {name: json.loads((REPO / "fixtures" / file).read_text())[:2] for name, file in FILES.items()}


def mutate_json(data: st.DataObject, value):
    if isinstance(value, (list, dict)) and value and data.draw(st.integers(0, 3)):
        key = data.draw(st.sampled_from(range(len(value)) if isinstance(value, list) else sorted(value)))
        value[key] = mutate_json(data, value[key])
        return value
    op = data.draw(st.sampled_from(["replace", "drop", "add"]))
    if op == "drop" and isinstance(value, dict) and value:
        del value[data.draw(st.sampled_from(sorted(value)))]
        return value
    if op == "add" and isinstance(value, dict):
        value[data.draw(XML_TEXT)] = data.draw(JSON_VALUES)
        return value
    return data.draw(JSON_VALUES)


CONFIG_SEED = f"""host = "127.0.0.1"
port = 8080
data_dir = "var"
extra_fixtures = ["my-fixtures"]
log_format = "console"
services = {{ {GBDFL} = {{ require_data_signature = true, match_iin_field = "iin" }} }}

[limits]
max_body_bytes = 2097152

[pki]
trust_ca = ["ca.pem"]
revocation_cache_ttl = 300.0

[journal]
max_rows = 1000
max_age_days = 7

[[senders]]
senderId = "MY_SYSTEM"
password = "my-secret"
allowedServices = ["{GBDFL}"]
"""
TOML_VALUES = st.sampled_from(['""', "0", "-1", "1e400", "nan", "true", "[]", "{}", '"x"', '[1, "a"]', "2026-01-01",
                               "0x10", "'''\n'''", "{ a = 1 }", "99999999999999999999"])  # fmt: skip


def mutate_toml(data: st.DataObject) -> bytes:
    lines = CONFIG_SEED.splitlines()
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(lines) - 1))
        op = data.draw(st.sampled_from(["value", "drop", "dup", "unknown"]))
        if op == "value" and "=" in lines[i]:
            lines[i] = lines[i].split("=")[0] + "= " + data.draw(TOML_VALUES | XML_TEXT)
        elif op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "unknown":
            lines.insert(i, f"{data.draw(st.sampled_from(['x', 'journal.x', 'limits', 'pki']))} = 1")
    raw = "\n".join(lines).encode()
    return mutate_bytes(data, raw) if data.draw(st.booleans()) else raw


# --- crashes already found (docs/fuzzing.md): an open one is pinned by a strict xfail in tests/test_fuzz_crashes.py --

KNOWN_CRASHES: dict = {}  # (file, function that raised, exception class) → the pinning test; all found so far are fixed


def known_crash(exc: BaseException) -> str | None:
    """The pinning test's name when ``exc`` escaped from where a known crash is, else None."""
    if isinstance(exc, ShlyuzError):
        return None
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "/src/shlyuz/" in f.filename and not f.name.startswith("<")]  # not <listcomp> & co  # fmt: skip
    if not frames:
        return None
    where = (frames[-1].filename.rsplit("/", 1)[-1], frames[-1].name)
    for (file, func, kind), test in KNOWN_CRASHES.items():
        if (file, func) == where and isinstance(exc, kind):
            return test
    return None


def watch_app(app) -> list[BaseException]:
    """Add an innermost middleware to ``app`` (before it starts) that collects every exception other than ShlyuzError
    and aiohttp's HTTP exceptions a handler raises (and raises it again: the gateway answers it with its 500)."""
    from aiohttp import web

    caught: list[BaseException] = []

    @web.middleware
    async def watch(request, handler):
        try:
            return await handler(request)
        except (ShlyuzError, web.HTTPException):
            raise
        except Exception as exc:
            caught.append(exc)
            raise

    app.middlewares.append(watch)
    return caught


def watch_stages(sync) -> list[BaseException]:
    """Wrap ``sync``'s stages and ``process`` so that every exception other than ShlyuzError is collected (and
    still raised, so the gateway does what it does with it)."""
    caught: list[BaseException] = []

    def wrap(stage):
        async def run(*args, **kwargs):
            try:
                return await stage(*args, **kwargs)
            except ShlyuzError:
                raise
            except Exception as exc:
                caught.append(exc)
                raise

        return run

    sync.stages = [(name, wrap(stage)) for name, stage in sync.stages]
    sync.process = wrap(sync.process)
    return caught
