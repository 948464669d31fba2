"""The test PKI on disk: CA material, identities (certificate + TEST key), the index, revocations.

Layout under the directory (default ``<data_dir>/pki/``)::

    ca/root.pem  ca/root.key.pem  ca/issuing.pem  ca/issuing.key.pem  [ca/untrusted.pem  ca/untrusted.key.pem]
    identities/<name>.pem  identities/<name>.key.pem     (name like person/900101300017/sign; PKCS#8, unencrypted)
    index.json  serial  .lock

Every file is written atomically (temporary file + ``os.replace``); changes happen under an exclusive ``flock`` on
``.lock`` and re-read ``index.json`` first, so several processes (gateway workers, ``shlyuz pki revoke``) can share
one directory; a :class:`Pki` notices a changed ``index.json`` before it answers a status, CRL or OCSP question.
State lives in the instance, never in the module.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ObjectIdentifier

from shlyuz.fixtures.store import FixtureSet
from shlyuz.pki import ca, revocation
from shlyuz.pki.profiles import PROFILES, UNTRUSTED_NAME, Profile
from shlyuz.pki.records import (  # re-exported: the store's public API
    Identity, IdentityRecord, IdentitySpec, PkiUrls, _key_pem, _load_key, _pem, _utc, parse_reason, write_atomic,
)  # fmt: skip
from shlyuz.pki.revocation import GOOD, UNKNOWN, CertStatus
from shlyuz.pki.subjects import dn_string

__all__ = ["Identity", "IdentityRecord", "IdentitySpec", "Pki", "PkiUrls", "parse_reason", "write_atomic"]

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")
FIRST_SERIAL = 0x1000
IDENTITY_DAYS = 365  # an NCA personal certificate lasts one year
BACKDATE = timedelta(days=1)
CRL_VALIDITY = timedelta(days=1)
CRL_REFRESH = timedelta(hours=1)
OCSP_VALIDITY = timedelta(hours=1)
ISSUERS = ("issuing", "untrusted")


class Pki:
    """One PKI directory. Build it with :meth:`open`."""

    def __init__(self, directory: Path, urls: PkiUrls, now: datetime) -> None:
        self.directory = Path(directory)
        self.urls = urls
        self.now = now  # the default time of issue_identity/revoke when none is given
        self._index: dict = {}
        self._index_stat: tuple | None = None
        self._ca: dict[str, tuple[x509.Certificate, ca.PrivateKey]] = {}
        self._identities: dict[str, Identity] = {}
        self._crl_cache: dict[str, tuple[datetime, int, bytes]] = {}

    # --- opening and CA material ------------------------------------------------------------------------------

    @classmethod
    def open(cls, directory: Path | str, *, now: datetime, urls: PkiUrls | None = None) -> "Pki":
        """Open the PKI in ``directory``, creating the root and issuing CA on first use (idempotent later)."""
        pki = cls(Path(directory), urls or PkiUrls(), now)
        pki.directory.mkdir(parents=True, exist_ok=True)
        with pki._locked():
            if not (pki.directory / "ca/root.pem").exists():
                root_key = ca.make_key("rsa2048")
                root = ca.make_root(root_key, now)
                pki._write_ca("root", root, root_key)
            root, root_key = pki._load_ca("root")
            if not (pki.directory / "ca/issuing.pem").exists():
                key = ca.make_key("rsa2048")
                issuing = ca.make_issuing(root_key, root, key, now, crl_url=pki.urls.root_crl_url,
                                          ca_issuers_url=pki.urls.root_url)  # fmt: skip
                pki._write_ca("issuing", issuing, key)
            if not (pki.directory / "index.json").exists():
                pki._index = {"format": 1, "base_url": pki.urls.base_url, "identities": {}, "serials": {}, "revocations": {}}
                pki._save_index()
            if not (pki.directory / "serial").exists():
                write_atomic(pki.directory / "serial", f"{FIRST_SERIAL}\n".encode())
        pki._load_ca("issuing")
        return pki

    def _write_ca(self, which: str, cert: x509.Certificate, key: ca.PrivateKey) -> None:
        write_atomic(self.directory / f"ca/{which}.key.pem", _key_pem(key), 0o600)
        write_atomic(self.directory / f"ca/{which}.pem", _pem(cert))
        self._ca[which] = (cert, key)

    def _load_ca(self, which: str) -> tuple[x509.Certificate, ca.PrivateKey]:
        if which not in self._ca:
            cert = x509.load_pem_x509_certificate((self.directory / f"ca/{which}.pem").read_bytes())
            key = _load_key(self.directory / f"ca/{which}.key.pem")
            self._ca[which] = (cert, key)  # type: ignore[assignment]
        return self._ca[which]

    def _ensure_untrusted(self, now: datetime) -> None:
        if not (self.directory / "ca/untrusted.pem").exists():
            key = ca.make_key("rsa2048")
            self._write_ca("untrusted", ca.make_root(key, now, 20, name=UNTRUSTED_NAME), key)

    @property
    def root_cert(self) -> x509.Certificate:
        return self._load_ca("root")[0]

    @property
    def issuing_cert(self) -> x509.Certificate:
        return self._load_ca("issuing")[0]

    @property
    def untrusted_cert(self) -> x509.Certificate | None:
        return self._load_ca("untrusted")[0] if (self.directory / "ca/untrusted.pem").exists() else None

    def ca_pem_path(self, which: str = "issuing") -> Path:
        return self.directory / f"ca/{which}.pem"

    def trust_anchors(self) -> list[x509.Certificate]:
        """What a verifier should trust: the root only (never the untrusted CA)."""
        return [self.root_cert]

    def _chain(self, issuer: str) -> tuple[x509.Certificate, ...]:
        return (self.issuing_cert, self.root_cert) if issuer == "issuing" else (self._load_ca(issuer)[0],)

    # --- the index ---------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".lock", "a+b") as f:
            if fcntl is not None:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                self._refresh(force=True)
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def _stat(self) -> tuple | None:
        try:
            st = (self.directory / "index.json").stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _refresh(self, force: bool = False) -> None:
        stat = self._stat()
        if stat is None or (stat == self._index_stat and not force):
            return
        self._index = json.loads((self.directory / "index.json").read_text(encoding="utf-8"))
        self._index_stat = stat

    def _save_index(self) -> None:
        text = json.dumps(self._index, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
        write_atomic(self.directory / "index.json", text.encode("utf-8"))
        self._index_stat = self._stat()

    def _next_serials(self, n: int) -> list[int]:
        path = self.directory / "serial"
        first = int(path.read_text().strip()) if path.exists() else FIRST_SERIAL
        write_atomic(path, f"{first + n}\n".encode())
        return list(range(first, first + n))

    def names(self, tag: str | None = None) -> list[str]:
        self._refresh()
        return sorted(n for n, d in self._index["identities"].items() if tag is None or tag in d.get("tags", ()))

    def record(self, name: str) -> IdentityRecord:
        self._refresh()
        try:
            return IdentityRecord.from_json(name, self._index["identities"][name])
        except KeyError:
            raise KeyError(f"no identity {name!r} in {self.directory}") from None

    def records(self, tag: str | None = None) -> list[IdentityRecord]:
        return [self.record(n) for n in self.names(tag)]

    def __contains__(self, name: object) -> bool:
        self._refresh()
        return name in self._index["identities"]

    # --- issuing -----------------------------------------------------------------------------------------------

    def _paths(self, name: str) -> tuple[Path, Path]:
        if not _NAME.match(name) or len(name) > 200:
            raise ValueError(f"bad identity name {name!r}: use letters, digits, '.', '_', '-' and '/' separators")
        base = self.directory / "identities" / name
        return base.with_name(base.name + ".pem"), base.with_name(base.name + ".key.pem")

    def issue_identity(
        self, name: str, subject: x509.Name, profile: Profile | str, *, key_kind: str = "rsa2048",
        not_before: datetime | None = None, not_after: datetime | None = None, tags: Sequence[str] = (),
        omit_eku: bool = False, issuer: str = "issuing", extra_eku: Sequence[ObjectIdentifier] = (),
        san: Sequence[x509.GeneralName] = (), now: datetime | None = None, replace_existing: bool = False,
    ) -> Identity:
        """Issue one identity (a new key of ``key_kind``). Validity defaults to ``now - 1 day`` .. ``+365 days``.
        An existing name is an error unless ``replace_existing``: then the old certificate is revoked (superseded)."""
        prof = PROFILES[profile] if isinstance(profile, str) else profile
        spec = IdentitySpec(name, subject, prof, key_kind, not_before, not_after, tuple(tags), omit_eku, issuer,
                            tuple(extra_eku), tuple(san))  # fmt: skip
        return self.issue_many([spec], now=now, replace_existing=replace_existing)[0]

    def issue_many(self, specs: Sequence[IdentitySpec], *, now: datetime | None = None,
                   replace_existing: bool = False, workers: int | None = None) -> list[Identity]:  # fmt: skip
        """Issue several identities with one index write; keys missing from the specs are made in bulk
        (:func:`shlyuz.pki.keygen.generate_keys`)."""
        from shlyuz.pki.keygen import generate_keys

        now = now or self.now
        for s in specs:
            self._paths(s.name)
            if s.issuer not in ISSUERS:
                raise ValueError(f"issuer must be one of {ISSUERS}, got {s.issuer!r}")
        if not replace_existing and (clash := [s.name for s in specs if s.name in self]):
            raise ValueError(f"identity {clash[0]!r} exists (revoke it, or replace it)")  # before making keys
        need = [i for i, s in enumerate(specs) if s.key is None]
        made = iter(generate_keys([specs[i].key_kind for i in need], workers=workers))
        keys = {i: next(made) for i in need}
        out: list[Identity] = []
        with self._locked():
            identities = self._index["identities"]
            clash = [s.name for s in specs if s.name in identities]
            if clash and not replace_existing:
                raise ValueError(f"identity {clash[0]!r} exists (revoke it, or replace it)")
            if any(s.issuer == "untrusted" for s in specs):
                self._ensure_untrusted(now)
            serials = self._next_serials(len(specs))
            for i, (spec, serial) in enumerate(zip(specs, serials, strict=True)):
                key = spec.key or keys[i]
                old = identities.get(spec.name, {}).get("serial")
                if old is not None and str(old) not in self._index["revocations"]:  # replaced: the old one is superseded
                    self._revoke_serial(int(old), x509.ReasonFlags.superseded, now, spec.name)
                out.append(self._issue_one(spec, key, serial, now))
            self._save_index()
        return out

    def _issue_one(self, spec: IdentitySpec, key: ca.PrivateKey, serial: int, now: datetime) -> Identity:
        ca_cert, ca_key = self._load_ca(spec.issuer)
        start = spec.not_before or now - BACKDATE
        end = spec.not_after or start + timedelta(days=IDENTITY_DAYS)
        untrusted = spec.issuer == "untrusted"
        cert = ca.issue(
            ca_key, ca_cert, spec.subject, key.public_key(), spec.profile, serial=serial, not_before=start,
            not_after=end, crl_url=None if untrusted else self.urls.crl_url, ocsp_url=self.urls.ocsp_url,
            ca_issuers_url=self.urls.untrusted_url if untrusted else self.urls.ca_issuers_url,
            extra_eku=spec.extra_eku, omit_eku=spec.omit_eku, san=spec.san or None,
        )  # fmt: skip
        cert_path, key_path = self._paths(spec.name)
        write_atomic(key_path, _key_pem(key), 0o600)
        write_atomic(cert_path, _pem(cert))
        record = IdentityRecord(spec.name, serial, dn_string(spec.subject), spec.profile.name, ca.key_kind_of(key),
                                spec.issuer, cert.not_valid_before_utc, cert.not_valid_after_utc, spec.tags)  # fmt: skip
        self._index["identities"][spec.name] = record.to_json()
        self._index["serials"][str(serial)] = {"issuer": spec.issuer, "name": spec.name}
        if spec.revoke:
            reason, when = spec.revoke
            self._revoke_serial(serial, reason, when, spec.name)
            record = IdentityRecord.from_json(spec.name, self._index["identities"][spec.name])
        identity = Identity(spec.name, cert, key, self._chain(spec.issuer), cert_path, key_path, record)
        self._identities[spec.name] = identity
        return identity

    # --- reading identities ------------------------------------------------------------------------------------

    def identity(self, name: str) -> Identity:
        """The identity ``name`` (certificate, key, chain, paths), loaded on first use and cached."""
        record = self.record(name)
        cached = self._identities.get(name)
        if cached is not None and cached.record.serial == record.serial:
            if cached.record != record:  # revoked since
                cached = replace(cached, record=record)
                self._identities[name] = cached
            return cached
        cert_path, key_path = self._paths(name)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = _load_key(key_path)
        identity = Identity(name, cert, key, self._chain(record.issuer), cert_path, key_path, record)  # type: ignore[arg-type]
        self._identities[name] = identity
        return identity

    def certificate_by_serial(self, serial: int) -> x509.Certificate | None:
        """The current certificate with this serial (for ``X509IssuerSerial`` key references), or ``None``: unknown
        serial, or an identity that has been re-issued since (its old certificate file is gone)."""
        self._refresh()
        entry = self._index["serials"].get(str(serial))
        if entry is None or entry.get("name") not in self._index["identities"]:
            return None
        ident = self.identity(entry["name"])
        return ident.cert if ident.serial == serial else None

    def export_pkcs12(self, name: str, password: bytes | None = None, *, legacy: bool = False) -> bytes:
        """A PKCS#12 file with the key, the certificate and its chain. With a password: PBES2/AES-256-CBC with
        PBKDF2 and an HMAC-SHA256 MAC (OpenSSL 3 reads it without ``-legacy``), or with ``legacy`` the older
        pbeWithSHAAnd3-KeyTripleDES-CBC and an HMAC-SHA1 MAC for tools that know nothing newer. Without a
        password: unencrypted."""
        ident = self.identity(name)
        enc: serialization.KeySerializationEncryption
        if not password:
            enc = serialization.NoEncryption()
        elif legacy:
            enc = (serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(2048)
                   .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1())
                   .build(password))  # fmt: skip
        else:
            enc = serialization.BestAvailableEncryption(password)
        return pkcs12.serialize_key_and_certificates(name.encode("utf-8"), ident.key, ident.cert, list(ident.chain), enc)

    # --- revocation --------------------------------------------------------------------------------------------

    def _resolve_serial(self, name_or_serial: str | int) -> int:
        if isinstance(name_or_serial, int):
            return name_or_serial
        if name_or_serial in self._index["identities"]:
            return int(self._index["identities"][name_or_serial]["serial"])
        text = name_or_serial.strip().lower()
        try:
            return int(text, 16) if text.startswith("0x") else int(text)
        except ValueError:
            raise KeyError(f"no identity or serial {name_or_serial!r}") from None

    def _revoke_serial(self, serial: int, reason: x509.ReasonFlags, when: datetime, name: str | None) -> None:
        self._index["revocations"][str(serial)] = {"at": _utc(when).isoformat(), "reason": reason.value, "name": name}
        rec = self._index["identities"].get(name or "")
        if rec is not None and int(rec["serial"]) == serial:
            rec["revoked"] = {"at": _utc(when).isoformat(), "reason": reason.value}

    def revoke(self, name_or_serial: str | int, reason: str | x509.ReasonFlags | None = None,
               when: datetime | None = None) -> int:  # fmt: skip
        """Revoke an identity (by name) or any serial this PKI issued; returns the serial. Idempotent."""
        flag = parse_reason(reason)
        with self._locked():
            serial = self._resolve_serial(name_or_serial)
            known = self._index["serials"].get(str(serial))
            if known is None:
                raise KeyError(f"serial {serial} (0x{serial:x}) was not issued by this PKI")
            if str(serial) not in self._index["revocations"]:
                self._revoke_serial(serial, flag, when or self.now, known.get("name"))
                self._save_index()
        return serial

    def status_of(self, serial: int) -> CertStatus:
        """good / revoked (time, reason) / unknown (not issued by the issuing CA) — for OCSP and the verifier."""
        self._refresh()
        rev = self._index["revocations"].get(str(serial))
        issued = self._index["serials"].get(str(serial))
        if issued is None or issued.get("issuer") != "issuing":
            return UNKNOWN
        if rev:
            return CertStatus.revoked(datetime.fromisoformat(rev["at"]), parse_reason(rev.get("reason")))
        return GOOD

    def _revoked_by(self, issuer: str) -> list[tuple[int, datetime, x509.ReasonFlags | None]]:
        out = []
        for serial, rev in sorted(self._index["revocations"].items(), key=lambda kv: int(kv[0])):
            if self._index["serials"].get(serial, {}).get("issuer") == issuer:
                out.append((int(serial), datetime.fromisoformat(rev["at"]), parse_reason(rev.get("reason"))))
        return out

    def crl(self, now: datetime, which: str = "issuing") -> bytes:
        """The DER CRL of the issuing CA (or ``which="root"``: the root's, listing nothing). Made again when a
        revocation happened, after an hour, or when ``now`` went back; valid one day."""
        self._refresh()
        revoked = self._revoked_by(which) if which != "root" else []
        fingerprint = hash(tuple(revoked))
        cached = self._crl_cache.get(which)
        if cached and cached[1] == fingerprint and cached[0] <= now < cached[0] + CRL_REFRESH:
            return cached[2]
        cert, key = self._load_ca(which)
        at = _utc(now)
        der = revocation.build_crl(key, cert, revoked, this_update=at, next_update=at + CRL_VALIDITY,
                                   number=int(at.timestamp()))  # fmt: skip
        self._crl_cache[which] = (now, fingerprint, der)
        return der

    def ocsp(self, request_der: bytes, now: datetime, *, status_of: Callable[[int], CertStatus] | None = None) -> bytes:
        """Answer a DER OCSP request for the issuing CA (responder = the CA); never raises. ``status_of`` overrides
        what the CA knows (fault injection answers ``unknown``)."""
        cert, key = self._load_ca("issuing")
        return revocation.ocsp_respond(request_der, ca_key=key, ca_cert=cert, status_of=status_of or self.status_of, now=now,
                                       validity=OCSP_VALIDITY)  # fmt: skip

    # --- fixtures ----------------------------------------------------------------------------------------------

    def ensure_fixture_identities(self, fixtures: FixtureSet, *, now: datetime, key_kind: str | None = None,
                                  workers: int | None = None):  # fmt: skip
        """Issue the identities of :func:`shlyuz.pki.fixture_ids.plan` that are missing (or expired); see there."""
        from shlyuz.pki.fixture_ids import ensure_fixture_identities

        return ensure_fixture_identities(self, fixtures, now=now, key_kind=key_kind, workers=workers)
