"""What the emulator answers: which key signs, and the answer to each request. No I/O but reading the PKI.

**Which identity.** A *selection* names an identity of the test PKI, either a base (``person/<IIN>``,
``org/<BIN>/<IIN>``) whose ``/auth`` or ``/sign`` key is picked per request, or one certificate (``bad/expired``,
``system/GBDFL``, ``person/<IIN>/sign`` — a name ending in ``/sign`` or ``/auth`` whose sibling exists counts as its
base). The key type comes from the request: commonUtils ``keyType`` ``AUTHENTICATION`` → auth, ``SIGNATURE`` →
sign, anything else → sign; basics ``extKeyUsageOids`` with clientAuth → auth, with emailProtection → sign, neither
→ sign. The mode ``cancel`` answers every signing request as a user pressing Cancel.

**Signer filters** (basics ``signerParams``: extKeyUsageOids, iin, bin, serialNumber) are checked against the
chosen certificate, as NCALayer lists only matching keys; no match answers ``SIGNING_FAILURE`` with the reason.
A ``bad``-tagged identity is handed out whatever the filters say, so that the back end's refusal can be tested.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from cryptography import x509

from shlyuz.ncalayer import protocol as p
from shlyuz.ncalayer.signing import SigningError, certificate_b64, key_info, sign_cms, sign_xml
from shlyuz.pki.records import Identity
from shlyuz.pki.store import Pki
from shlyuz.pki.subjects import parse_subject

Mode = Literal["sign", "cancel"]
DEFAULT_VERSION = "1.4"


class NoSuchIdentity(LookupError):
    pass


@dataclass
class Selection:
    """The identity and mode in force: the server's default, or a connection's override of either."""

    identity: str
    mode: Mode = "sign"


@dataclass
class Connection:
    """One WebSocket's overrides (set by the ``shlyuz.ncalayer`` control module or the URL's query)."""

    identity: str | None = None
    mode: Mode | None = None
    requests: int = 0

    def effective(self, default: Selection) -> Selection:
        return Selection(self.identity or default.identity, self.mode or default.mode)


@dataclass
class Emulator:
    pki: Pki
    version: str = DEFAULT_VERSION

    # --- identities ------------------------------------------------------------------------------------------------

    def base_of(self, selected: str) -> str:
        for suffix in ("/sign", "/auth"):
            if selected.endswith(suffix):
                stem = selected[: -len(suffix)]
                if f"{stem}/sign" in self.pki or f"{stem}/auth" in self.pki:
                    return stem
        return selected

    def keys_of(self, selected: str) -> list[str]:
        """The PKI names a selection covers (``[]``: it names nothing)."""
        base = self.base_of(selected)
        return [n for n in (f"{base}/auth", f"{base}/sign", base) if n in self.pki]

    def check(self, selected: str) -> list[str]:
        names = self.keys_of(selected)
        if not names:
            raise NoSuchIdentity(
                f"no identity {selected!r} in the test PKI: give a name from `shlyuz pki list` (e.g. "
                "person/900101300017, org/<BIN>/<IIN>/sign, bad/expired)"
            )
        return names

    def resolve(self, selected: str, purpose: p.Purpose | None) -> Identity:
        base = self.base_of(selected)
        want = purpose or "sign"
        for name in (f"{base}/{want}", base, f"{base}/{'auth' if want == 'sign' else 'sign'}"):
            if name in self.pki:
                return self.pki.identity(name)
        self.check(selected)
        raise AssertionError("unreachable")  # pragma: no cover

    # --- answers ---------------------------------------------------------------------------------------------------

    def answer(self, request: p.Request, conn: Connection, default: Selection) -> p.Answer:
        """The answer to one parsed request; never raises for anything a client can send."""
        conn.requests += 1
        if isinstance(request, p.Control):
            return self._control(request, conn, default)
        sel = conn.effective(default)
        if isinstance(request, p.GetActiveTokens):
            return p.common_ok([], request.uuid)  # no hardware tokens: keys are in files (storage PKCS12)
        if isinstance(request, p.ChangeLocale):
            return p.common_ok(None, request.uuid)
        if isinstance(request, p.BasicsSign):
            return self._basics(request, sel)
        uuid = request.uuid
        if sel.mode == "cancel":
            return p.common_canceled(uuid)
        try:
            if isinstance(request, p.GetKeyInfo):
                return p.common_ok(key_info(self.resolve(sel.identity, None)), uuid)
            ident = self.resolve(sel.identity, request.purpose)
            if isinstance(request, p.SignXml):
                signed = [sign_xml(x, ident, tbs_xpath=request.tbs_xpath, parent_xpath=request.parent_xpath)
                          for x in request.xmls]  # fmt: skip
                return p.common_ok(signed if request.many else signed[0], uuid)
            return p.common_ok(sign_cms(request.data, ident, attach=request.attach), uuid)
        except (SigningError, NoSuchIdentity) as exc:
            return p.common_error(str(exc), uuid)

    def _basics(self, request: p.BasicsSign, sel: Selection) -> p.Answer:
        if sel.mode == "cancel":
            return p.basics_canceled()
        try:
            ident = self.resolve(sel.identity, request.purpose)
        except NoSuchIdentity as exc:
            return p.basics_error("SIGNING_FAILURE", str(exc))
        if "bad" not in ident.record.tags and (why := _filter_mismatch(request, ident.cert)):
            return p.basics_error("SIGNING_FAILURE", f"no key of {sel.identity} matches signerParams: {why}",
                                  f"the key offered was {ident.name}")  # fmt: skip
        try:
            if request.format == "xml":
                sigs = [sign_xml(x, ident) for x in request.data]  # type: ignore[arg-type]
            else:
                sigs = [sign_cms(d, ident, attach=request.encapsulate) for d in request.data]  # type: ignore[arg-type]
        except SigningError as exc:
            return p.basics_error("SIGNING_FAILURE", str(exc))
        result: Any = sigs if request.many else sigs[0]
        if request.output_cert:
            result = {"signatures": result, "certificate": certificate_b64(ident)}
        return p.basics_ok(result)

    def _control(self, request: p.Control, conn: Connection, default: Selection) -> p.Answer:
        if request.method == "selectIdentity":
            if request.identity is not None:
                try:
                    self.check(request.identity)
                except NoSuchIdentity as exc:
                    return p.common_error(str(exc), request.uuid, code="404")
                conn.identity = request.identity
            if request.mode is not None:
                conn.mode = request.mode
        sel = conn.effective(default)
        return p.common_ok({"identity": sel.identity, "mode": sel.mode, "keys": self.keys_of(sel.identity)}, request.uuid)


def _filter_mismatch(request: p.BasicsSign, cert: x509.Certificate) -> str | None:
    try:
        eku = {o.dotted_string for o in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value}
    except x509.ExtensionNotFound:
        eku = set()
    missing = [o for o in request.ext_key_usage_oids if o not in eku]
    if missing:
        return f"the certificate's ExtendedKeyUsage lacks {', '.join(missing)}"
    subject = parse_subject(cert)
    if request.iin and request.iin != subject.iin:
        return f"iin {request.iin} asked, the certificate has {subject.iin or 'none'}"
    if request.bin and request.bin != subject.bin:
        return f"bin {request.bin} asked, the certificate has {subject.bin or 'none'}"
    if request.serial_number:
        try:
            asked = int(request.serial_number, 16)
        except ValueError:
            return f"serialNumber {request.serial_number!r} is not hexadecimal"
        if asked != cert.serial_number:
            return f"serialNumber {request.serial_number} asked, the certificate has {cert.serial_number:x}"
    return None
