"""NCALayer's WebSocket protocol, sans-IO: one text frame → a typed request, or the error answer NCALayer's own
shapes give; and the builders of every answer.

Two API families (kz_egov.md §3.4):

- ``kz.gov.pki.knca.commonUtils``: positional ``args``; answers ``{"code": "200", "responseObject": …}`` or
  ``{"code": "500", "message": …}``. Java invokes the method by reflection, so a wrong argument type answers
  ``java.lang.IllegalArgumentException: argument type mismatch. Method: <name>`` (captured from a real NCALayer in
  sigex-kz/ncalayer-js-client ``test/test-data.json``); shlyuz appends what exactly was wrong in parentheses.
- ``kz.gov.pki.knca.basics``: named ``args``; answers ``{"status": true, "body": {"result": …}}``, a user's Cancel
  ``{"status": true, "body": {}}``, an error ``{"status": false, "code": …, "message": …, "details": …}``.

A frame that is not a JSON object, or names no module, cannot be told apart by family: it gets the commonUtils
error shape. An unknown module gets ``{"success": false, "errorCode": "MODULE_NOT_FOUND"}`` (the Felix answer, as a
third-party re-implementation documents it) plus a ``message``. Every frame gets exactly one answer.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

COMMON = "kz.gov.pki.knca.commonUtils"
BASICS = "kz.gov.pki.knca.basics"
CONTROL = "shlyuz.ncalayer"  # the emulator's own per-connection control module
KEY_TYPES = {"SIGNATURE": "sign", "AUTHENTICATION": "auth"}  # anything else: "the user chooses" → the default
EKU_SIGN = "1.3.6.1.5.5.7.3.4"  # emailProtection: NCA SIGN certificates
EKU_AUTH = "1.3.6.1.5.5.7.3.2"  # clientAuth: NCA AUTH certificates
MAX_FRAME_CHARS = 16 * 1024 * 1024
_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]{0,18}))+$")

Purpose = Literal["sign", "auth"]
Answer = dict[str, Any]


class Refused(Exception):
    """A frame that gets an error answer instead of being performed; ``answer`` is that answer."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.get("message", ""))
        self.answer = answer


# -- answers --------------------------------------------------------------------------------------------------------


def greeting(version: str) -> Answer:
    """Sent first on every connection: ``{"result": {"version": …}}``."""
    return {"result": {"version": version}}


def common_ok(response_object: Any = None, uuid: Any = None) -> Answer:
    out: Answer = {"code": "200"}
    if response_object is not None:
        out["responseObject"] = response_object
    if uuid is not None:
        out["uuid"] = uuid
    return out


def common_error(message: str, uuid: Any = None, code: str = "500") -> Answer:
    out: Answer = {"code": code, "message": message}
    if uuid is not None:
        out["uuid"] = uuid
    return out


def common_canceled(uuid: Any = None) -> Answer:
    """The user closed the key chooser (captured: ``{"code":"500","message":"action.canceled"}``)."""
    return common_error("action.canceled", uuid)


def basics_ok(result: Any) -> Answer:
    return {"status": True, "body": {"result": result}}


def basics_canceled() -> Answer:
    return {"status": True, "body": {}}


def basics_error(code: str, message: str, details: str = "") -> Answer:
    return {"status": False, "code": code, "message": message, "details": details}


def module_not_found(module: str) -> Answer:
    return {"success": False, "errorCode": "MODULE_NOT_FOUND",
            "message": f"no module {module!r}; the emulator has {COMMON}, {BASICS} and {CONTROL}"}  # fmt: skip


def _mismatch(method: str, why: str, uuid: Any) -> Refused:
    return Refused(common_error(f"java.lang.IllegalArgumentException: argument type mismatch. Method: {method} "
                                f"(shlyuz: {why})", uuid))  # fmt: skip


# -- requests -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GetActiveTokens:
    uuid: Any = None


@dataclass(frozen=True, slots=True)
class GetKeyInfo:
    storage: str
    uuid: Any = None


@dataclass(frozen=True, slots=True)
class ChangeLocale:
    locale: str
    uuid: Any = None


@dataclass(frozen=True, slots=True)
class SignXml:
    """``signXml`` (one document) and ``signXmls`` (``many``: the answer is a list)."""

    storage: str
    purpose: Purpose | None  # None: NCALayer lets the user choose any key; the emulator takes the default
    xmls: tuple[str, ...]
    many: bool
    tbs_xpath: str = ""
    parent_xpath: str = ""
    uuid: Any = None


@dataclass(frozen=True, slots=True)
class CreateCms:
    """``createCAdESFromBase64`` / ``createCMSSignatureFromBase64``: CMS over base64-decoded data."""

    method: str
    storage: str
    purpose: Purpose | None
    data: bytes
    attach: bool
    uuid: Any = None


@dataclass(frozen=True, slots=True)
class BasicsSign:
    format: Literal["xml", "cms"]
    data: tuple[bytes, ...] | tuple[str, ...]  # bytes for cms, XML text for xml
    many: bool  # ``data`` was an array: the result is an array
    purpose: Purpose | None  # from extKeyUsageOids (clientAuth → auth, emailProtection → sign)
    encapsulate: bool = False
    output_cert: bool = False
    ext_key_usage_oids: tuple[str, ...] = ()
    iin: str = ""
    bin: str = ""
    serial_number: str = ""
    locale: str = ""


@dataclass(frozen=True, slots=True)
class Control:
    """``{"module": "shlyuz.ncalayer", "method": "selectIdentity"|"getState", "args": {...}}``: this connection's
    identity and mode."""

    method: Literal["selectIdentity", "getState"]
    identity: str | None = None
    mode: Literal["sign", "cancel"] | None = None
    uuid: Any = None


Request = GetActiveTokens | GetKeyInfo | ChangeLocale | SignXml | CreateCms | BasicsSign | Control


# -- parsing --------------------------------------------------------------------------------------------------------


def parse_frame(text: str) -> Request:
    """Read one text frame; raise :class:`Refused` with the answer for anything NCALayer would refuse."""
    if len(text) > MAX_FRAME_CHARS:
        raise Refused(common_error(f"the frame has {len(text)} characters; the emulator accepts up to {MAX_FRAME_CHARS}"))
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise Refused(common_error(f"the frame is not JSON: {exc}")) from None
    if not isinstance(frame, dict):
        raise Refused(common_error(f"the frame must be a JSON object with module, method and args; got {_kind(frame)}"))
    uuid = frame.get("uuid")
    module, method = frame.get("module"), frame.get("method")
    if module is None:
        raise Refused(common_error("the frame names no module (the legacy applet API, module-less, is not emulated); "
                                   f"use {COMMON} or {BASICS}", uuid))  # fmt: skip
    if not isinstance(module, str):
        raise Refused(common_error(f"module must be a string, got {_kind(module)}", uuid))
    if not isinstance(method, str) or not method:
        shown = "no method" if method is None else f"method {_kind(method)}"
        if module == BASICS:
            raise Refused(basics_error("INVOCATION_ERROR", f"{shown}: the frame must name a method (\"sign\")"))
        raise Refused(common_error(f"{shown}: the frame must name the method of {module} as a string", uuid))
    args = frame.get("args")
    if module == COMMON:
        return _common(method, args, uuid)
    if module == BASICS:
        return _basics(method, args)
    if module == CONTROL:
        return _control(method, args, uuid)
    raise Refused(module_not_found(module))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    return "an array" if isinstance(value, list) else "an object"


_COMMON_ARITY = {
    "getActiveTokens": (0,), "getKeyInfo": (1,), "changeLocale": (1,), "signXml": (5,), "signXmls": (5,),
    "createCAdESFromBase64": (4,), "createCMSSignatureFromBase64": (4,), "createCAdESFromBase64Hash": (3,),
}  # fmt: skip


def _common(method: str, args: Any, uuid: Any) -> Request:
    if method not in _COMMON_ARITY:
        raise Refused(common_error(f"java.lang.NoSuchMethodException: {method} (shlyuz: {COMMON} has "
                                   f"{', '.join(_COMMON_ARITY)})", uuid))  # fmt: skip
    if args is None:
        args = []
    if not isinstance(args, list):
        raise _mismatch(method, f"args must be an array of positional arguments, got {_kind(args)}", uuid)
    if len(args) not in _COMMON_ARITY[method]:
        raise Refused(common_error(f"java.lang.IllegalArgumentException: wrong number of arguments. Method: {method} "
                                   f"(shlyuz: expected {_COMMON_ARITY[method][0]}, got {len(args)})", uuid))  # fmt: skip

    def string(i: int, what: str) -> str:
        if not isinstance(args[i], str):
            raise _mismatch(method, f"args[{i}] ({what}) must be a string, got {_kind(args[i])}", uuid)
        return args[i]

    def purpose(i: int) -> Purpose | None:
        return KEY_TYPES.get(string(i, "key type: SIGNATURE or AUTHENTICATION"))  # type: ignore[return-value]

    if method == "getActiveTokens":
        return GetActiveTokens(uuid)
    if method == "getKeyInfo":
        return GetKeyInfo(string(0, "storage"), uuid)
    if method == "changeLocale":
        return ChangeLocale(string(0, "locale"), uuid)
    if method in ("signXml", "signXmls"):
        storage, kt = string(0, "storage"), purpose(1)
        if method == "signXml":
            xmls: tuple[str, ...] = (string(2, "the XML document"),)
        else:
            if not isinstance(args[2], list) or not all(isinstance(x, str) for x in args[2]):
                raise _mismatch(method, f"args[2] must be an array of XML strings, got {_kind(args[2])}", uuid)
            xmls = tuple(args[2])
        return SignXml(storage, kt, xmls, method == "signXmls", string(3, "tbsElementXPath"),
                       string(4, "signatureParentElementXPath"), uuid)  # fmt: skip
    if method == "createCAdESFromBase64Hash":
        string(0, "storage"), purpose(1), string(2, "the base64 hash")
        raise Refused(common_error(f"{method}: signing a precomputed hash is not supported by the emulator "
                                   "(cryptography's PKCS7SignatureBuilder signs data, not digests)", uuid))  # fmt: skip
    storage, kt, data_b64 = string(0, "storage"), purpose(1), string(2, "the base64 data")
    if not isinstance(args[3], bool):
        raise _mismatch(method, f"args[3] (attach) must be a boolean, got {_kind(args[3])}", uuid)
    try:
        data = _b64(data_b64)
    except ValueError as exc:
        raise Refused(common_error(f"{method}: args[2] is not base64: {exc}", uuid)) from None
    return CreateCms(method, storage, kt, data, args[3], uuid)


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(str(exc)) from None


def _flag(params: dict, name: str, default: bool) -> bool:
    """signingParams flags arrive as booleans or as "true"/"false" strings (pkigovkz/NCALayerJSExample)."""
    value = params.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise Refused(basics_error("INVALID_SIGNING_PARAMS", f"signingParams.{name} must be true or false, got {_kind(value)}"))


def _basics(method: str, args: Any) -> BasicsSign:
    if method != "sign":
        raise Refused(basics_error("INVOCATION_ERROR", f"{BASICS} has no method {method!r}; the emulator has \"sign\""))
    bad = lambda message: Refused(basics_error("INVALID_SIGNING_PARAMS", message))
    if not isinstance(args, dict):
        raise bad(f"args must be an object (format, data, signingParams, signerParams, locale), got {_kind(args)}")
    fmt = args.get("format")
    if not isinstance(fmt, str) or fmt.lower() not in ("xml", "cms"):
        raise bad(f"format must be \"xml\" or \"cms\", got {_kind(fmt)}")
    fmt = fmt.lower()
    raw = args.get("data")
    many = isinstance(raw, list)
    items = raw if many else [raw]
    if not items or not all(isinstance(x, str) for x in items):
        raise bad(f"data must be a string or a non-empty array of strings, got {_kind(raw)}")
    sp = args.get("signingParams") or {}
    sg = args.get("signerParams") or {}
    if not isinstance(sp, dict):
        raise bad(f"signingParams must be an object, got {_kind(sp)}")
    if not isinstance(sg, dict):
        raise bad(f"signerParams must be an object, got {_kind(sg)}")
    decode, encapsulate = _flag(sp, "decode", False), _flag(sp, "encapsulate", False)
    output_cert = _flag(sp, "outputCert", False)
    for name in ("allowExpired", "allowRevoked"):
        _flag(sp, name, False)
    if _flag(sp, "digested", False):
        raise Refused(basics_error("SIGNING_FAILURE", "signingParams.digested=true (signing a precomputed hash) is not "
                                   "supported by the emulator", "cryptography's PKCS7SignatureBuilder signs data only"))  # fmt: skip
    if fmt == "xml" and decode is False:
        data: tuple = tuple(items)
    else:
        try:
            decoded = tuple(_b64(x) for x in items) if decode else tuple(x.encode("utf-8") for x in items)
        except ValueError as exc:
            raise bad(f"signingParams.decode is true but data is not base64: {exc}") from None
        if fmt == "xml":
            try:
                data = tuple(d.decode("utf-8") for d in decoded)
            except UnicodeDecodeError:
                raise bad("the base64-decoded XML is not UTF-8") from None
        else:
            data = decoded
    oids = sg.get("extKeyUsageOids") or []
    if not isinstance(oids, list) or not all(isinstance(o, str) and _OID.match(o) for o in oids):
        raise bad(f"signerParams.extKeyUsageOids must be an array of dotted OIDs, got {_kind(oids)}")
    filters = {}
    for name in ("iin", "bin", "serialNumber"):
        value = sg.get(name) or ""
        if not isinstance(value, str):
            raise bad(f"signerParams.{name} must be a string, got {_kind(value)}")
        filters[name] = value.strip()
    locale = args.get("locale") or ""
    if not isinstance(locale, str):
        raise bad(f"locale must be a string, got {_kind(locale)}")
    purpose: Purpose | None = "auth" if EKU_AUTH in oids else "sign" if EKU_SIGN in oids else None
    if EKU_AUTH in oids and EKU_SIGN in oids:
        raise bad(f"signerParams.extKeyUsageOids asks for both {EKU_SIGN} (SIGN) and {EKU_AUTH} (AUTH); "
                  "no NCA certificate has both")  # fmt: skip
    return BasicsSign(fmt, data, many, purpose, encapsulate, output_cert, tuple(oids), filters["iin"], filters["bin"],
                      filters["serialNumber"], locale)  # fmt: skip


def _control(method: str, args: Any, uuid: Any) -> Control:
    if method == "getState":
        return Control("getState", uuid=uuid)
    if method != "selectIdentity":
        raise Refused(common_error(f"{CONTROL} has no method {method!r}; it has selectIdentity and getState", uuid))
    if not isinstance(args, dict):
        raise Refused(common_error(f"selectIdentity: args must be an object {{identity?, mode?}}, got {_kind(args)}", uuid))
    identity, mode = args.get("identity"), args.get("mode")
    if identity is not None and (not isinstance(identity, str) or not identity):
        raise Refused(common_error(f"selectIdentity: identity must be a non-empty string, got {_kind(identity)}", uuid))
    if mode is not None and mode not in ("sign", "cancel"):
        raise Refused(common_error(f"selectIdentity: mode must be \"sign\" or \"cancel\", got {_kind(mode)}", uuid))
    if identity is None and mode is None:
        raise Refused(common_error("selectIdentity: give identity, mode, or both", uuid))
    return Control("selectIdentity", identity, mode, uuid)
