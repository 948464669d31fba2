"""``shlyuz pki``: the test PKI (НУЦ РК style): create it, issue, revoke, list, export and show identities."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

from cryptography import x509

from shlyuz.config import ConfigError, Settings, load_settings


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="TOML config file (default: $SHLYUZ_CONFIG)")
    common.add_argument("--data-dir", type=Path, metavar="DIR", help="data directory; the PKI is DIR/pki (default var)")
    common.add_argument("--base-url", metavar="URL",
                        help="base of the CRL/OCSP/CA URLs written into new certificates (default: the setting "
                             "pki.public_base_url, else http://HOST:PORT, i.e. http://127.0.0.1:8080)")  # fmt: skip
    return common


def register(subparsers: argparse._SubParsersAction) -> None:
    from shlyuz.pki.fixture_ids import DEFAULT_KEY_KIND, FIXTURE_KEY_KINDS
    from shlyuz.pki.profiles import KEY_KINDS, ROLE_BY_KEYWORD

    parser = subparsers.add_parser(
        "pki", help="the test PKI: CA, identities, revocation, PKCS#12 export",
        description="shlyuz's test PKI in the style of the National Certification Centre of Kazakhstan (НУЦ РК). "
                    "Every key it makes is a TEST key. See docs/pki.md.",
    )  # fmt: skip
    parser.set_defaults(func=run, pki_command=None, _parser=parser)
    sub = parser.add_subparsers(dest="pki_command", metavar="ACTION")
    common = _common()
    reasons = [f.value for f in x509.ReasonFlags]

    init = sub.add_parser("init", parents=[common], help="create the CA and every fixture identity (idempotent)")
    init.add_argument("--key", choices=FIXTURE_KEY_KINDS, default=DEFAULT_KEY_KIND,
                      help=f"key kinds (default {DEFAULT_KEY_KIND}: RSA-2048 for the demo, system, gateway, TLS and "
                           "bad identities, EC P-256 for the other persons and employees; rsa2048: RSA for all, "
                           "~15 s on 2 cores; ec-p256: EC for all, under a second)")  # fmt: skip
    init.add_argument("--fixtures", type=Path, action="append", metavar="DIR",
                      help="an extra fixture directory loaded after the configured ones (repeatable)")  # fmt: skip

    issue = sub.add_parser("issue", parents=[common], help="issue one AUTH or SIGN identity")
    issue.add_argument("--name", required=True, help="identity name, e.g. person/900101300017/sign or my/test")
    issue.add_argument("--iin", required=True, help="the holder's IIN (12 digits)")
    issue.add_argument("--bin", help="with --bin: a legal entity employee's certificate (O, OU=BIN…)")
    issue.add_argument("--role", choices=sorted(ROLE_BY_KEYWORD),
                       help="employee role OID with --bin (default: ceo for the head of a fixture organisation, "
                            "employee otherwise)")  # fmt: skip
    issue.add_argument("--profile", required=True, choices=("auth", "sign"))
    issue.add_argument("--days", type=int, default=365, metavar="N", help="validity in days from now (default 365)")
    issue.add_argument("--key", choices=KEY_KINDS, default="rsa2048", help="key kind (default rsa2048)")
    issue.add_argument("--replace", action="store_true", help="replace an existing identity (the old one is revoked)")

    revoke = sub.add_parser("revoke", parents=[common], help="revoke an identity (or a serial: decimal or 0x…)")
    revoke.add_argument("name")
    revoke.add_argument("--reason", choices=reasons, default="keyCompromise", help="CRL reason (default keyCompromise)")

    lst = sub.add_parser("list", parents=[common], help="list identities")
    lst.add_argument("--tag", help="only identities with this tag (person, employee, ceo, system, tls, bad, demo, …)")

    export = sub.add_parser("export", parents=[common], help="write an identity as PKCS#12 (key, certificate, chain)")
    export.add_argument("name")
    export.add_argument("--out", required=True, type=Path, metavar="FILE.p12")
    export.add_argument("--password", help="PKCS#12 password (AES-256; default: none)")
    export.add_argument("--legacy", action="store_true",
                        help="with --password: 3DES and a SHA-1 MAC instead of AES-256, for tools that need it")  # fmt: skip

    show = sub.add_parser("show", parents=[common], help="show an identity's certificate")
    show.add_argument("name")
    show.add_argument("--pem", action="store_true", help="also print the certificate chain as PEM")


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config, data_dir=args.data_dir)


def _base_url(args: argparse.Namespace, settings: Settings) -> str:
    configured = getattr(getattr(settings, "pki", None), "public_base_url", None)  # pki.public_base_url, if set
    if args.base_url or configured:
        return args.base_url or configured
    host = settings.host if settings.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port or 8080}"


def run(args: argparse.Namespace) -> int:
    if args.pki_command is None:
        args._parser.print_help()
        return 2
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"shlyuz pki: {exc}", file=sys.stderr)
        return 2
    from shlyuz.clock import Clock
    from shlyuz.pki.store import Pki, PkiUrls

    now = Clock(settings.tz).now()
    started = time.perf_counter()
    try:
        pki = Pki.open(settings.data_dir / "pki", now=now, urls=PkiUrls(_base_url(args, settings)))
        handler = {"init": _init, "issue": _issue, "revoke": _revoke, "list": _list, "export": _export, "show": _show}
        return handler[args.pki_command](args, settings, pki, now, started)
    except (KeyError, ValueError, OSError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"shlyuz pki {args.pki_command}: {message}", file=sys.stderr)
        return 1


def _init(args, settings, pki, now, started) -> int:
    from shlyuz.fixtures.store import FixtureError, load_dirs
    from shlyuz.pki.subjects import dn_string

    try:
        fixtures = load_dirs([*settings.fixture_dirs, *(args.fixtures or [])])
    except FixtureError as exc:
        print(f"shlyuz pki init: {exc}", file=sys.stderr)
        return 1
    report = pki.ensure_fixture_identities(fixtures, now=now, key_kind=args.key)
    counts = {tag: len(pki.names(tag)) for tag in ("person", "employee", "system", "tls", "bad")}
    print(f"PKI in {pki.directory}")
    print(f"  root     {dn_string(pki.root_cert.subject)}  ({pki.ca_pem_path('root')})")
    print(f"  issuing  {dn_string(pki.issuing_cert.subject)}  ({pki.ca_pem_path('issuing')})")
    print(f"  {report}")
    print("  identities: " + ", ".join(f"{n} {tag}" for tag, n in counts.items()) + f"; {len(pki.names())} in all")
    print(f"  done in {time.perf_counter() - started:.1f} s")
    return 0


def _issue(args, settings, pki, now, started) -> int:
    from shlyuz.fixtures.iin import is_valid_bin, is_valid_iin
    from shlyuz.fixtures.store import load_dirs
    from shlyuz.pki import profiles as P
    from shlyuz.pki.subjects import person_subject

    fixtures = load_dirs(settings.fixture_dirs)
    person = fixtures.persons.get(args.iin)
    if not is_valid_iin(args.iin):
        print(f"warning: {args.iin} fails the IIN checksum (issued anyway, as NCA test certificates do)", file=sys.stderr)
    surname, name, patronymic = (person.surname, person.name, person.patronymic) if person else ("Тестов", "Тест", "Тестович")
    email = person.email if person else None
    extra = [P.ROLE_INDIVIDUAL]
    if args.bin:
        if not is_valid_bin(args.bin):
            print(f"warning: {args.bin} fails the BIN checksum", file=sys.stderr)
        org = fixtures.organisations.get(args.bin)
        role = args.role or ("ceo" if org and org.head_iin == args.iin else "employee")
        extra = [P.ROLE_ORGANISATION, P.ROLE_BY_KEYWORD[role]]
        subject = person_subject(args.iin, surname, name, patronymic, email=email,
                                 organisation=org.name_ru if org else "ТОО «ТЕСТ» (shlyuz)", bin=args.bin)  # fmt: skip
    else:
        subject = person_subject(args.iin, surname, name, patronymic, email=email)
    ident = pki.issue_identity(
        args.name, subject, P.profile_for(args.profile, legal=bool(args.bin)), key_kind=args.key,
        not_before=now - timedelta(days=1), not_after=now + timedelta(days=args.days), extra_eku=extra,
        tags=("manual", args.profile), now=now, replace_existing=args.replace,
    )  # fmt: skip
    print(f"issued {ident.name}: serial 0x{ident.serial:x}, {ident.record.subject}")
    print(f"  certificate {ident.cert_path}\n  key         {ident.key_path} (TEST key, unencrypted)")
    return 0


def _revoke(args, settings, pki, now, started) -> int:
    serial = pki.revoke(args.name, args.reason, now)
    print(f"revoked serial 0x{serial:x} ({args.reason}) at {now.isoformat(timespec='seconds')}")
    return 0


def _state(rec, now) -> str:
    if rec.revoked_at:
        return "revoked"
    if now < rec.not_before:
        return "not-yet-valid"
    if now > rec.not_after:
        return "expired"
    return "valid"


def _list(args, settings, pki, now, started) -> int:
    records = pki.records(args.tag)
    for rec in records:
        print(f"{rec.name}\t0x{rec.serial:x}\t{rec.profile}\t{rec.key_kind}\t{rec.not_after.date().isoformat()}\t"
              f"{_state(rec, now)}\t{','.join(rec.tags)}")  # fmt: skip
    print(f"{len(records)} identities", file=sys.stderr)
    return 0


def _export(args, settings, pki, now, started) -> int:
    from shlyuz.pki.store import write_atomic

    data = pki.export_pkcs12(args.name, args.password.encode("utf-8") if args.password else None, legacy=args.legacy)
    write_atomic(args.out, data, 0o600)
    how = ("3DES (legacy)" if args.legacy else "AES-256") + " with the given password" if args.password else "no password"
    print(f"wrote {args.out} ({len(data)} bytes; key, certificate and chain; {how})")
    return 0


def _show(args, settings, pki, now, started) -> int:
    from cryptography.hazmat.primitives import serialization

    from shlyuz.pki import profiles as P
    from shlyuz.pki.subjects import dn_string

    ident = pki.identity(args.name)
    cert, rec, info = ident.cert, ident.record, ident.subject_info
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    bits = [label for attr, label in (("digital_signature", "digitalSignature"), ("content_commitment", "nonRepudiation"),
                                      ("key_encipherment", "keyEncipherment")) if getattr(ku, attr)]  # fmt: skip
    ekus = P.extended_key_usages(cert)
    status = pki.status_of(cert.serial_number)

    def oid_label(dotted: str) -> str:
        known = {P.EKU_CLIENT_AUTH.dotted_string: "clientAuth", P.EKU_EMAIL_PROTECTION.dotted_string: "emailProtection",
                 P.EKU_SERVER_AUTH.dotted_string: "serverAuth", P.EKU_OCSP_SIGNING.dotted_string: "OCSPSigning",
                 **P.ROLE_NAMES}  # fmt: skip
        return f"{dotted} ({known[dotted]})" if dotted in known else dotted

    rows = [
        ("name", ident.name),
        ("subject", dn_string(cert.subject)),
        ("issuer", dn_string(cert.issuer)),
        ("serial", f"0x{cert.serial_number:x} ({cert.serial_number})"),
        ("validity", f"{cert.not_valid_before_utc.isoformat()} .. {cert.not_valid_after_utc.isoformat()} "
                     f"({_state(rec, now)} now)"),
        ("status", status.status + (f" since {status.revoked_at.isoformat()} ({status.reason.value})"
                                    if status.revoked_at and status.reason else "")),
        ("key", rec.key_kind),
        ("key usage", ", ".join(bits) + f" -> {P.key_purpose(cert)}"),
        ("EKU", "(none)" if ekus is None else ", ".join(oid_label(o) for o in ekus)),
        ("policies", ", ".join(P.policy_oids(cert)) or "(none)"),
        ("IIN", info.iin or "-"),
        ("BIN", info.bin or "-"),
        ("roles", ", ".join(P.ROLE_NAMES.get(r, r) for r in info.roles) or "-"),
        ("tags", ", ".join(rec.tags) or "-"),
        ("certificate", str(ident.cert_path)),
        ("key file", f"{ident.key_path} (TEST key, unencrypted PKCS#8)"),
    ]  # fmt: skip
    if info.problems:
        rows.append(("problems", "; ".join(info.problems)))
    for label, value in rows:
        print(f"{label:<12} {value}")
    if args.pem:
        sys.stdout.write(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (cert, *ident.chain)).decode())
    return 0
