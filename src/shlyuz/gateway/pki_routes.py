"""The test PKI's HTTP face, at the URLs written into its certificates: CA certificates, CRLs, an OCSP responder
(RFC 6960: POST, and GET with the base64 request in the path). The work is sans-IO in :mod:`shlyuz.pki`."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from aiohttp import web
from cryptography.hazmat.primitives import serialization

from shlyuz.errors import ErrorCode
from shlyuz.gateway.http import json_error

MAX_OCSP_REQUEST = 64 * 1024


def _gateway(request: web.Request):
    from shlyuz.gateway.app import GATEWAY

    return request.app[GATEWAY]


async def ca_cert(request: web.Request) -> web.Response:
    pki = _gateway(request).pki
    which = request.match_info["which"]
    cert = {"root": pki.root_cert, "issuing": pki.issuing_cert, "untrusted": pki.untrusted_cert}.get(which)
    if cert is None:
        return json_error(404, ErrorCode.NOT_FOUND, f"no CA certificate named {which!r} (root, issuing, untrusted)")
    if request.match_info["ext"] == "pem":
        return web.Response(body=cert.public_bytes(serialization.Encoding.PEM), content_type="application/x-pem-file")
    return web.Response(body=cert.public_bytes(serialization.Encoding.DER), content_type="application/pkix-cert")


async def crl(request: web.Request) -> web.Response:
    gw = _gateway(request)
    which = request.match_info["which"]
    if which not in ("issuing", "root"):
        return json_error(404, ErrorCode.NOT_FOUND, f"no CRL named {which!r} (issuing, root)")
    return web.Response(body=gw.pki.crl(gw.clock.now(), which), content_type="application/pkix-crl")


def _ocsp_reply(request: web.Request, der: bytes) -> web.Response:
    gw = _gateway(request)
    return web.Response(body=gw.pki.ocsp(der, gw.clock.now()), content_type="application/ocsp-response")


async def ocsp_post(request: web.Request) -> web.Response:
    if request.content_length is not None and request.content_length > MAX_OCSP_REQUEST:
        return json_error(413, ErrorCode.BODY_TOO_LARGE, f"an OCSP request is at most {MAX_OCSP_REQUEST} bytes")
    body = await request.content.read(MAX_OCSP_REQUEST + 1)
    if len(body) > MAX_OCSP_REQUEST:
        return json_error(413, ErrorCode.BODY_TOO_LARGE, f"an OCSP request is at most {MAX_OCSP_REQUEST} bytes")
    return _ocsp_reply(request, body)  # a malformed request gets OCSP's own malformedRequest answer


async def ocsp_get(request: web.Request) -> web.Response:
    tail = unquote(request.match_info["request"])
    try:
        der = base64.b64decode(tail, validate=True)
    except (binascii.Error, ValueError):
        der = b""  # answered as malformedRequest by the responder
    return _ocsp_reply(request, der)


def add_routes(app: web.Application) -> None:
    app.router.add_get(r"/pki/ca/{which}.{ext:cer|pem}", ca_cert)
    app.router.add_get(r"/pki/crl/{which}.crl", crl)
    app.router.add_post("/pki/ocsp", ocsp_post)
    app.router.add_get(r"/pki/ocsp/{request:.+}", ocsp_get)
