"""A signing identity: one key and its certificate, loaded once, signing envelopes (WS-Security) or documents
(enveloped XMLDSig)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from shlyuz.dsig.enveloped import sign_enveloped
from shlyuz.dsig.wsse import sign_envelope


@dataclass(frozen=True)
class Signer:
    key: Any
    cert: x509.Certificate
    name: str = ""
    cert_b64: str = field(init=False, repr=False, compare=False)  # written into every signature: encoded once

    def __post_init__(self) -> None:
        object.__setattr__(self, "cert_b64", base64.b64encode(self.cert.public_bytes(Encoding.DER)).decode("ascii"))

    def envelope(self, env: etree._Element) -> etree._Element:
        """WS-Security over soap:Body; returns the envelope (its Body may be a new element)."""
        return sign_envelope(env, key=self.key, cert=self.cert, cert_b64=self.cert_b64)

    def data(self, root: etree._Element) -> etree._Element:
        """Enveloped signature appended to ``root``."""
        return sign_enveloped(root, key=self.key, cert=self.cert, cert_b64=self.cert_b64)


def signer_for(pki: Any, name: str) -> Signer:
    """The signer of a PKI identity (``person/<IIN>/sign``, ``gateway``, ``bad/expired``, ...)."""
    identity = pki.identity(name)
    return Signer(key=identity.key, cert=identity.cert, name=name)
