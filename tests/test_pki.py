"""The test PKI (docs/pki.md): profiles, subjects, chain, CRL and OCSP checked against OpenSSL, PKCS#12, the store
and ``shlyuz pki``. EC keys wherever the key kind does not matter (the CAs are always RSA)."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from shlyuz.cli import main
from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.fixtures.store import FixtureSet, load_dir
from shlyuz.pki import profiles as P
from shlyuz.pki import revocation as R
from shlyuz.pki.ca import issue, make_key, make_root
from shlyuz.pki.fixture_ids import BAD, SYSTEMS, plan
from shlyuz.pki.keygen import generate_keys
from shlyuz.pki.ocsp_request import _parse_request_der
from shlyuz.pki.store import Pki, PkiUrls
from shlyuz.pki.subjects import dn_string, employee_name, organisation_name, parse_subject, person_name, person_subject

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 1, 15, 10, 0, 0, tzinfo=timezone(timedelta(hours=5)))
APPLICANT, ATTORNEY = DEMO_IINS["applicant"], DEMO_IINS["attorney"]


@pytest.fixture(scope="session")
def all_fixtures() -> FixtureSet:
    return load_dir(REPO / "fixtures")


@pytest.fixture(scope="session")
def small(all_fixtures) -> FixtureSet:
    """The demo persons and two organisations (one head is the only staff member present)."""
    orgs = list(all_fixtures.organisations.values())[:2]
    keep = set(DEMO_IINS.values()) | {o.head_iin for o in orgs} | set(orgs[0].employee_iins[:2])
    persons = [p for i, p in all_fixtures.persons.items() if i in keep]
    return FixtureSet.from_records(persons, orgs)


@pytest.fixture(scope="session")
def pki(tmp_path_factory, small) -> Pki:
    p = Pki.open(tmp_path_factory.mktemp("pki") / "pki", now=NOW)
    p.ensure_fixture_identities(small, now=NOW, key_kind="ec-p256")
    return p


def _ext(cert: x509.Certificate, cls):
    return cert.extensions.get_extension_for_class(cls).value


def _openssl(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --- profiles and extensions ----------------------------------------------------------------------------------


def test_ca_hierarchy(pki):
    root, issuing = pki.root_cert, pki.issuing_cert
    assert root.subject == root.issuer == P.ROOT_NAME and issuing.subject == P.ISSUING_NAME
    assert issuing.issuer == root.subject
    assert _ext(root, x509.BasicConstraints).ca and _ext(issuing, x509.BasicConstraints).path_length == 0
    assert _ext(issuing, x509.KeyUsage).key_cert_sign and _ext(issuing, x509.KeyUsage).crl_sign
    assert P.policy_oids(issuing) == [P.POLICY_CA.dotted_string]
    assert isinstance(issuing.signature_hash_algorithm, hashes.SHA256)
    assert pki.trust_anchors() == [root]
    assert "TEST" in root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def test_auth_profile(pki):
    cert = pki.identity(f"person/{APPLICANT}/auth").cert
    ku = _ext(cert, x509.KeyUsage)
    assert ku.digital_signature and ku.key_encipherment and not ku.content_commitment and not ku.key_cert_sign
    assert P.extended_key_usages(cert) == [P.EKU_CLIENT_AUTH.dotted_string, P.ROLE_INDIVIDUAL.dotted_string]
    assert P.policy_oids(cert) == [P.POLICY_INDIVIDUAL_AUTH.dotted_string]
    assert P.key_purpose(cert) == "AUTH"


def test_sign_profile_and_common_extensions(pki):
    ident = pki.identity(f"person/{APPLICANT}/sign")
    cert = ident.cert
    ku = _ext(cert, x509.KeyUsage)
    assert ku.digital_signature and ku.content_commitment and not ku.key_encipherment
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).critical
    assert P.extended_key_usages(cert) == [P.EKU_EMAIL_PROTECTION.dotted_string, P.ROLE_INDIVIDUAL.dotted_string]
    assert P.policy_oids(cert) == [P.POLICY_INDIVIDUAL_SIGN.dotted_string]
    assert P.key_purpose(cert) == "SIGN"
    assert _ext(cert, x509.BasicConstraints).ca is False
    issuing_ski = _ext(pki.issuing_cert, x509.SubjectKeyIdentifier).digest
    assert _ext(cert, x509.AuthorityKeyIdentifier).key_identifier == issuing_ski
    assert _ext(cert, x509.SubjectKeyIdentifier) == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    urls = PkiUrls()
    assert [n.value for dp in _ext(cert, x509.CRLDistributionPoints) for n in dp.full_name] == [
        "http://127.0.0.1:8080/pki/crl/issuing.crl"] == [urls.crl_url]  # fmt: skip
    aia = {a.access_method: a.access_location.value for a in _ext(cert, x509.AuthorityInformationAccess)}
    assert aia == {AuthorityInformationAccessOID.OCSP: "http://127.0.0.1:8080/pki/ocsp",
                   AuthorityInformationAccessOID.CA_ISSUERS: "http://127.0.0.1:8080/pki/ca/issuing.cer"}  # fmt: skip
    assert ident.chain == (pki.issuing_cert, pki.root_cert)
    assert ident.cert_path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert b"PRIVATE KEY" in ident.key_path.read_bytes() and oct(ident.key_path.stat().st_mode)[-3:] == "600"


def test_employee_system_and_tls_identities(pki, small):
    org = next(iter(small.organisations.values()))
    ceo = pki.identity(f"org/{org.bin}/{org.head_iin}/sign").cert
    info = parse_subject(ceo)
    assert (info.iin, info.bin, info.organisation) == (org.head_iin, org.bin, org.name_ru)
    assert info.roles == (P.ROLE_ORGANISATION.dotted_string, P.ROLE_CEO.dotted_string)
    assert P.policy_oids(ceo) == [P.POLICY_LEGAL_SIGN.dotted_string]
    staff = [n for n in pki.names("employee") if n.startswith(f"org/{org.bin}/") and org.head_iin not in n]
    assert staff and all(P.ROLE_EMPLOYEE.dotted_string in parse_subject(pki.identity(n).cert).roles for n in staff)
    auth = pki.identity(f"org/{org.bin}/{org.head_iin}/auth").cert
    assert P.policy_oids(auth) == [P.POLICY_LEGAL_AUTH.dotted_string] and P.key_purpose(auth) == "AUTH"
    for name, bin_, _org, _cn in SYSTEMS:
        assert parse_subject(pki.identity(name).cert).bin == bin_
    tls = pki.identity("tls/localhost").cert
    assert _ext(tls, x509.SubjectAlternativeName).get_values_for_type(x509.DNSName) == ["localhost"]
    assert P.extended_key_usages(tls) == [P.EKU_SERVER_AUTH.dotted_string]


def test_bad_identities(pki):
    assert set(pki.names("bad")) == set(BAD)
    expired, future = pki.identity("bad/expired").cert, pki.identity("bad/not-yet-valid").cert
    assert expired.not_valid_after_utc < NOW < future.not_valid_before_utc
    assert pki.status_of(pki.identity("bad/revoked").serial).status == "revoked"
    assert P.key_purpose(pki.identity("bad/auth-used-for-signing").cert) == "AUTH"
    assert P.extended_key_usages(pki.identity("bad/no-eku").cert) is None
    assert parse_subject(pki.identity("bad/no-eku").cert).roles == ()
    untrusted = pki.identity("bad/untrusted")
    assert untrusted.cert.issuer == P.UNTRUSTED_NAME and untrusted.chain == (pki.untrusted_cert,)
    assert pki.untrusted_cert not in pki.trust_anchors()
    assert pki.status_of(untrusted.serial).status == "unknown"
    other = parse_subject(pki.identity("bad/other-iin").cert)
    assert other.iin == ATTORNEY and other.common_name == parse_subject(pki.identity(f"person/{APPLICANT}/sign").cert).common_name
    for name in BAD:
        info = pki.identity(name).subject_info
        assert info.iin == (ATTORNEY if name == "bad/other-iin" else APPLICANT)


# --- subjects ---------------------------------------------------------------------------------------------------


def test_person_subject_layout_and_round_trip(small):
    person = small.persons[APPLICANT]
    name = person_name(person)
    assert [a.oid for a in name] == [NameOID.COMMON_NAME, NameOID.SURNAME, NameOID.SERIAL_NUMBER,
                                     NameOID.COUNTRY_NAME, NameOID.GIVEN_NAME, NameOID.EMAIL_ADDRESS]  # fmt: skip
    assert dn_string(name).startswith(f"CN=АХМЕТОВ НҰРЛАН, SURNAME=АХМЕТОВ, SERIALNUMBER=IIN{APPLICANT}, C=KZ, G=СЕРІКҰЛЫ")
    serial_attr = name.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0]
    assert serial_attr._type.name == "PrintableString"  # as the NCA encodes it
    info = parse_subject(name)
    assert (info.iin, info.bin, info.surname, info.given_name, info.email, info.country) == (
        APPLICANT, None, "АХМЕТОВ", "СЕРІКҰЛЫ", person.email, "KZ")  # fmt: skip
    assert not info.problems and not info.is_legal_entity
    foreigner = small.persons[DEMO_IINS["foreigner"]]
    assert parse_subject(person_name(foreigner)).given_name is None  # no patronymic, no G


def test_employee_and_organisation_round_trip(small):
    org = next(iter(small.organisations.values()))
    info = parse_subject(employee_name(small.persons[org.head_iin], org))
    assert (info.iin, info.bin, info.organisation) == (org.head_iin, org.bin, org.name_ru) and info.is_legal_entity
    info = parse_subject(organisation_name(org.bin, org.name_ru, common_name="X"))
    assert (info.iin, info.bin, info.common_name) == (None, org.bin, "X")
    long = person_subject(APPLICANT, "Ә" * 40, "Б" * 10)
    assert len(long.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value.encode()) <= 64


def _name(*pairs) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs])


SN, OU = NameOID.SERIAL_NUMBER, NameOID.ORGANIZATIONAL_UNIT_NAME


@pytest.mark.parametrize(("pairs", "iin", "bin_", "problem"), [
    ([(SN, "iin900101300017")], APPLICANT, None, None),
    ([(SN, " IIN 900101300017 ")], APPLICANT, None, None),
    ([(SN, "900101300017")], APPLICANT, None, None),  # bare digits: NCANode strips ^IIN and keeps the rest
    ([(SN, "IIN123456789011")], "123456789011", None, None),  # NCA test certs fail the checksum: not parse's job
    ([(SN, "BIN160941360814")], None, "160941360814", None),
    ([(SN, "IIN900101300017"), (OU, "BIN160941360814")], APPLICANT, "160941360814", None),
    ([(SN, "IIN900101300017"), (OU, "Отдел кадров")], APPLICANT, None, None),
    ([(SN, "IIN90010130001")], None, None, "12 digits"),
    ([(SN, "IIN9001013000177")], None, None, "12 digits"),
    ([(SN, "IIN９００１０１３０００１７")], None, None, "12 digits"),  # full-width digits are not ASCII digits
    ([(SN, "PAS123456")], None, None, "neither"),
    ([(SN, "IIN900101300017"), (SN, "IIN820214300014")], None, None, "several IINs"),
    ([(SN, "IIN900101300017"), (SN, "IIN900101300017")], APPLICANT, None, None),
    ([(SN, "BIN160941360814"), (OU, "BIN001240876555")], None, None, "several BINs"),
    ([], None, None, None),
])  # fmt: skip
def test_parse_subject_is_strict(pairs, iin, bin_, problem):
    info = parse_subject(_name(*pairs))
    assert (info.iin, info.bin) == (iin, bin_)
    assert (problem is None and not info.problems) or any(problem in p for p in info.problems)


# --- OpenSSL: chain, CRL, OCSP ----------------------------------------------------------------------------------


def test_openssl_verifies_the_chain_and_refuses_the_untrusted(pki):
    ca_dir = pki.directory / "ca"
    ok = _openssl("verify", "-attime", str(int(NOW.timestamp())), "-CAfile", str(ca_dir / "root.pem"),
                  "-untrusted", str(ca_dir / "issuing.pem"), str(pki.identity(f"person/{APPLICANT}/sign").cert_path))  # fmt: skip
    assert ok.returncode == 0 and ok.stdout.strip().endswith("OK"), ok.stdout + ok.stderr
    bad = _openssl("verify", "-attime", str(int(NOW.timestamp())), "-CAfile", str(ca_dir / "root.pem"),
                   "-untrusted", str(ca_dir / "issuing.pem"), str(pki.identity("bad/untrusted").cert_path))  # fmt: skip
    assert bad.returncode != 0 and "unable to get local issuer certificate" in bad.stdout + bad.stderr
    expired = _openssl("verify", "-attime", str(int(NOW.timestamp())), "-CAfile", str(ca_dir / "root.pem"),
                       "-untrusted", str(ca_dir / "issuing.pem"), str(pki.identity("bad/expired").cert_path))  # fmt: skip
    assert expired.returncode != 0 and "expired" in expired.stdout + expired.stderr


def test_crl_is_read_by_openssl_and_by_read_crl(pki, tmp_path):
    revoked = pki.identity("bad/revoked").serial
    crl = _write(tmp_path / "crl.der", pki.crl(NOW))
    chain = _write(tmp_path / "chain.pem", (pki.directory / "ca/issuing.pem").read_bytes()
                   + (pki.directory / "ca/root.pem").read_bytes())  # fmt: skip
    checked = _openssl("crl", "-in", str(crl), "-inform", "DER", "-CAfile", str(chain), "-noout")
    assert checked.returncode == 0 and "verify OK" in checked.stdout + checked.stderr
    text = _openssl("crl", "-in", str(crl), "-inform", "DER", "-noout", "-text").stdout
    assert f"Serial Number: {revoked:04X}" in text and "Key Compromise" in text and "X509v3 CRL Number" in text
    result = R.read_crl(crl.read_bytes(), pki.issuing_cert)
    assert set(result.revoked) == {revoked} and result.status(revoked).reason is x509.ReasonFlags.key_compromise
    assert result.status(pki.identity(f"person/{APPLICANT}/sign").serial) == R.GOOD
    assert result.this_update == NOW.astimezone(timezone.utc) and result.next_update > result.this_update
    with pytest.raises(R.CrlError, match="issued by"):
        R.read_crl(crl.read_bytes(), pki.root_cert)
    forged = R.build_crl(make_key("ec-p256"), pki.issuing_cert, [], this_update=NOW, next_update=NOW + timedelta(1), number=1)
    with pytest.raises(R.CrlError, match="signature"):
        R.read_crl(forged, pki.issuing_cert)
    with pytest.raises(R.CrlError, match="unparsable"):
        R.read_crl(b"\x30\x03junk", pki.issuing_cert)
    assert R.read_crl(pki.crl(NOW, "root"), pki.root_cert).revoked == {}


@pytest.mark.parametrize(("name", "expected"), [(f"person/{APPLICANT}/sign", "good"), ("bad/revoked", "revoked")])
def test_openssl_ocsp_request_answered_and_verified_by_openssl(pki, tmp_path, name, expected):
    ident = pki.identity(name)
    issuing = str(pki.directory / "ca/issuing.pem")
    root = str(pki.directory / "ca/root.pem")
    req = tmp_path / "req.der"
    made = _openssl("ocsp", "-issuer", issuing, "-cert", str(ident.cert_path), "-reqout", str(req), "-nonce")
    assert made.returncode == 0, made.stderr
    # OpenSSL judges thisUpdate/nextUpdate by the real clock (-attime does not apply to them): answer at real time
    resp = _write(tmp_path / "resp.der", pki.ocsp(req.read_bytes(), datetime.now(timezone.utc)))
    at: list[str] = []
    # -reqin: OpenSSL checks the signature against the root and that the nonce is the request's
    checked = _openssl("ocsp", "-respin", str(resp), "-reqin", str(req), "-CAfile", root, "-resp_text", *at)
    out = checked.stdout + checked.stderr
    assert checked.returncode == 0 and "Response verify OK" in out and "Nonce Verify error" not in out, out
    assert f"Cert Status: {expected}" in out and "OCSP Nonce" in out
    # -cert: the per-certificate summary line (a fresh request object, so no nonce to compare here)
    summary = _openssl("ocsp", "-respin", str(resp), "-issuer", issuing, "-cert", str(ident.cert_path), "-CAfile", root,
                       "-no_nonce", *at)  # fmt: skip
    assert f"{ident.cert_path}: {expected}" in summary.stdout, summary.stdout + summary.stderr
    if expected == "revoked":
        assert "Reason: keyCompromise" in summary.stdout


def test_openssl_multi_certificate_request(pki, tmp_path):
    names = [f"person/{APPLICANT}/sign", "bad/revoked"]
    args = [a for n in names for a in ("-cert", str(pki.identity(n).cert_path))]
    req = tmp_path / "req.der"
    made = _openssl("ocsp", "-issuer", str(pki.directory / "ca/issuing.pem"), *args, "-serial", "424242",
                    "-reqout", str(req), "-nonce")  # fmt: skip
    assert made.returncode == 0, made.stderr
    resp = _write(tmp_path / "resp.der", pki.ocsp(req.read_bytes(), NOW))
    out = _openssl("ocsp", "-respin", str(resp), "-reqin", str(req), "-CAfile", str(pki.directory / "ca/root.pem"),
                   "-resp_text")  # fmt: skip
    text = out.stdout + out.stderr
    assert "Response verify OK" in text, text
    assert [line.split(": ")[1] for line in text.splitlines() if "Cert Status" in line] == ["good", "revoked", "unknown"]
    names.append("424242")
    parsed = ocsp.load_der_ocsp_response(resp.read_bytes())
    assert [r.serial_number for r in parsed.responses] == [pki.identity(n).serial for n in names[:2]] + [424242]
    assert parsed.produced_at_utc == NOW.astimezone(timezone.utc)  # the given time, not the system clock


# --- OCSP in Python ----------------------------------------------------------------------------------------------


def test_ocsp_round_trip_with_nonce(pki):
    good, revoked = pki.identity(f"person/{APPLICANT}/sign"), pki.identity("bad/revoked")
    for ident, status in ((good, "good"), (revoked, "revoked")):
        req = R.build_ocsp_request(ident.cert, pki.issuing_cert, b"12345678")
        result = R.read_ocsp_response(pki.ocsp(req, NOW), issuer_cert=pki.issuing_cert, cert=ident.cert,
                                      nonce=b"12345678", now=NOW)  # fmt: skip
        assert result.status == status and result.error is None and result.responder == "issuer"
        assert result.this_update == NOW.astimezone(timezone.utc) and result.next_update > result.this_update
    assert result.reason is x509.ReasonFlags.key_compromise and result.revoked_at < NOW
    req = R.build_ocsp_request(good.cert, pki.issuing_cert, b"12345678")
    other = R.read_ocsp_response(pki.ocsp(req, NOW), issuer_cert=pki.issuing_cert, cert=good.cert, nonce=b"87654321")
    assert other.status == "error" and "nonce" in other.error
    stale = R.read_ocsp_response(pki.ocsp(req, NOW), issuer_cert=pki.issuing_cert, cert=good.cert,
                                 now=NOW + timedelta(days=1))  # fmt: skip
    assert stale.status == "error" and "stale" in stale.error
    no_nonce = R.build_ocsp_request(good.cert, pki.issuing_cert, None)
    missing = R.read_ocsp_response(pki.ocsp(no_nonce, NOW), issuer_cert=pki.issuing_cert, cert=good.cert, nonce=b"x")
    assert missing.status == "error" and "no nonce" in missing.error
    wrong = R.read_ocsp_response(pki.ocsp(req, NOW), issuer_cert=pki.issuing_cert, cert=revoked.cert)
    assert wrong.status == "error" and "no answer" in wrong.error


def test_ocsp_unknown_for_other_issuers_and_sha1_ids(pki):
    untrusted = pki.identity("bad/untrusted")
    req = R.build_ocsp_request(untrusted.cert, pki.untrusted_cert, None)
    resp = ocsp.load_der_ocsp_response(pki.ocsp(req, NOW))
    assert resp.certificate_status is ocsp.OCSPCertStatus.UNKNOWN
    good = pki.identity(f"person/{APPLICANT}/auth")
    req = R.build_ocsp_request(good.cert, pki.issuing_cert, None, algorithm=hashes.SHA1())
    assert R.read_ocsp_response(pki.ocsp(req, NOW), issuer_cert=pki.issuing_cert, cert=good.cert).status == "good"


def test_ocsp_response_signed_by_another_key_is_rejected(pki):
    good = pki.identity(f"person/{APPLICANT}/sign")
    req = R.build_ocsp_request(good.cert, pki.issuing_cert, b"n")
    forged = R.ocsp_respond(req, ca_key=make_key("ec-p256"), ca_cert=pki.issuing_cert, status_of=lambda s: R.GOOD, now=NOW)
    result = R.read_ocsp_response(forged, issuer_cert=pki.issuing_cert, cert=good.cert, nonce=b"n")
    assert result.status == "error" and "signature" in result.error
    # a self-made "responder" certificate that the issuing CA never issued
    rogue_key = make_key("ec-p256")
    rogue = make_root(rogue_key, NOW, 1, name=P.ca_name("rogue responder"))
    resp = R.ocsp_respond(req, ca_key=pki._load_ca("issuing")[1], ca_cert=pki.issuing_cert, status_of=lambda s: R.GOOD,
                          now=NOW, responder_key=rogue_key, responder_cert=rogue)  # fmt: skip
    result = R.read_ocsp_response(resp, issuer_cert=pki.issuing_cert, cert=good.cert, nonce=b"n")
    assert result.status == "error" and "authorised" in result.error


def test_delegated_ocsp_responder(pki):
    good = pki.identity(f"person/{APPLICANT}/sign")
    ca_key = pki._load_ca("issuing")[1]

    def responder(profile):
        key = make_key("ec-p256")
        cert = issue(ca_key, pki.issuing_cert, P.ca_name("OCSP responder (shlyuz TEST)"), key.public_key(), profile,
                     serial=99, not_before=NOW - timedelta(1), not_after=NOW + timedelta(30), crl_url=None,
                     ocsp_url=None, ca_issuers_url=None)  # fmt: skip
        return key, cert

    req = R.build_ocsp_request(good.cert, pki.issuing_cert, b"n")
    key, cert = responder(P.OCSP_SIGNING)
    resp = R.ocsp_respond(req, ca_key=ca_key, ca_cert=pki.issuing_cert, status_of=pki.status_of, now=NOW,
                          responder_key=key, responder_cert=cert)  # fmt: skip
    result = R.read_ocsp_response(resp, issuer_cert=pki.issuing_cert, cert=good.cert, nonce=b"n")
    assert result.status == "good" and "OCSP responder" in result.responder
    key, cert = responder(P.SIGN)  # issued by the CA, but not for OCSP signing
    resp = R.ocsp_respond(req, ca_key=ca_key, ca_cert=pki.issuing_cert, status_of=pki.status_of, now=NOW,
                          responder_key=key, responder_cert=cert)  # fmt: skip
    assert R.read_ocsp_response(resp, issuer_cert=pki.issuing_cert, cert=good.cert).status == "error"


@pytest.mark.parametrize("body", [b"", b"garbage", b"\x30\x80\x00\x00", b"\x30\x03\x02\x01\x01", b"\x30" * 5000])
def test_malformed_ocsp_request_gets_malformed_request(pki, body):
    resp = ocsp.load_der_ocsp_response(pki.ocsp(body, NOW))
    assert resp.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_truncated_request_and_status_of_failure(pki):
    req = R.build_ocsp_request(pki.identity("bad/revoked").cert, pki.issuing_cert, b"n")
    truncated = ocsp.load_der_ocsp_response(pki.ocsp(req[:-3], NOW))
    assert truncated.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST

    def broken(serial: int) -> R.CertStatus:
        raise RuntimeError("storage down")

    ca_key = pki._load_ca("issuing")[1]
    resp = R.ocsp_respond(req, ca_key=ca_key, ca_cert=pki.issuing_cert, status_of=broken, now=NOW)
    assert ocsp.load_der_ocsp_response(resp).response_status is ocsp.OCSPResponseStatus.INTERNAL_ERROR


@pytest.mark.parametrize("status", ["tryLater", "try_later", "malformedRequest", "internalError", "sigRequired",
                                    "unauthorized"])  # fmt: skip
def test_ocsp_error_responses(pki, status):
    der = R.ocsp_error(status)
    result = R.read_ocsp_response(der, issuer_cert=pki.issuing_cert, cert=pki.issuing_cert)
    assert result.status == "error" and result.response_status.lower() == status.replace("_", "").lower()


def test_ocsp_error_rejects_unknown_status():
    with pytest.raises(ValueError):
        R.ocsp_error("successful")


def test_unwrapped_nonce_is_echoed_byte_for_byte(pki):
    cert = pki.identity("bad/revoked").cert
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, pki.issuing_cert, hashes.SHA256())
    builder = builder.add_extension(x509.UnrecognizedExtension(x509.oid.OCSPExtensionOID.NONCE, b"rawnonce"), False)
    resp = ocsp.load_der_ocsp_response(pki.ocsp(builder.build().public_bytes(serialization.Encoding.DER), NOW))
    # the response's nonce Extension: the OID, then extnValue = OCTET STRING "rawnonce" exactly as sent
    assert resp.tbs_response_bytes.endswith(b"\x06\x09\x2b\x06\x01\x05\x05\x07\x30\x01\x02" + b"\x04\x08rawnonce")


def test_request_parsers_agree(pki):
    """cryptography parses one-certificate requests; the DER reader (used for several) must read them the same."""
    for nonce in (b"12345678", None):
        req = R.build_ocsp_request(pki.identity("bad/revoked").cert, pki.issuing_cert, nonce)
        assert _parse_request_der(req) == R.parse_ocsp_request(req)


# --- PKCS#12 ------------------------------------------------------------------------------------------------------


def test_pkcs12_export_opens_with_openssl(pki, tmp_path):
    name = f"person/{APPLICANT}/sign"
    p12 = _write(tmp_path / "f.p12", pki.export_pkcs12(name, b"x"))
    out = _openssl("pkcs12", "-in", str(p12), "-passin", "pass:x", "-nokeys")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("BEGIN CERTIFICATE") == 3 and f"IIN{APPLICANT}" in out.stdout
    keys = _openssl("pkcs12", "-in", str(p12), "-passin", "pass:x", "-nocerts", "-nodes")
    assert keys.returncode == 0 and "PRIVATE KEY" in keys.stdout
    key, cert, cas = pkcs12.load_key_and_certificates(p12.read_bytes(), b"x")
    assert cert == pki.identity(name).cert and cas == [pki.issuing_cert, pki.root_cert]
    assert key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == \
        cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)  # fmt: skip
    assert _openssl("pkcs12", "-in", str(p12), "-passin", "pass:wrong", "-nokeys").returncode != 0
    plain = _write(tmp_path / "plain.p12", pki.export_pkcs12(name, None))
    assert _openssl("pkcs12", "-in", str(plain), "-passin", "pass:", "-nokeys").returncode == 0
    legacy = _write(tmp_path / "legacy.p12", pki.export_pkcs12(name, b"x", legacy=True))
    info = _openssl("pkcs12", "-in", str(legacy), "-passin", "pass:x", "-info", "-nokeys", "-nocerts")
    assert info.returncode == 0 and "3-KeyTripleDES" in info.stdout + info.stderr and "sha1" in (info.stdout + info.stderr).lower()
    modern = _openssl("pkcs12", "-in", str(p12), "-passin", "pass:x", "-info", "-nokeys", "-nocerts")
    assert "AES-256-CBC" in modern.stdout + modern.stderr


# --- the store ------------------------------------------------------------------------------------------------------


def test_ensure_is_idempotent_and_reopen_sees_everything(tmp_path, small):
    pki = Pki.open(tmp_path / "pki", now=NOW)
    first = pki.ensure_fixture_identities(small, now=NOW, key_kind="ec-p256")
    index = (tmp_path / "pki/index.json").read_bytes()
    root = (tmp_path / "pki/ca/root.pem").read_bytes()
    adults = [p for p in small.persons.values() if p.life_status.code == "0" and p.birth_date.year <= 2007]
    assert first.issued == len(pki.names()) and len(pki.names("person")) == 2 * len(adults)
    assert f"person/{DEMO_IINS['minor']}/sign" not in pki and f"person/{DEMO_IINS['deceased']}/sign" not in pki
    again = Pki.open(tmp_path / "pki", now=NOW + timedelta(hours=1))
    second = again.ensure_fixture_identities(small, now=NOW + timedelta(hours=1), key_kind="ec-p256")
    assert (second.issued, second.kept) == (0, first.issued)
    assert (tmp_path / "pki/index.json").read_bytes() == index and (tmp_path / "pki/ca/root.pem").read_bytes() == root
    assert again.identity(f"person/{APPLICANT}/sign").cert == pki.identity(f"person/{APPLICANT}/sign").cert
    data = json.loads(index)
    assert data["identities"]["bad/revoked"]["revoked"]["reason"] == "keyCompromise"
    assert {"serial", "subject", "profile", "not_before", "not_after", "tags"} <= set(data["identities"]["gateway"])
    # a year later the ordinary identities are renewed (the old ones superseded), the bad ones stay as they are
    later = NOW + timedelta(days=400)
    old_serial = pki.identity(f"person/{APPLICANT}/sign").serial
    renewal = again.ensure_fixture_identities(small, now=later, key_kind="ec-p256")
    assert renewal.renewed == renewal.issued == first.issued - len(BAD)
    assert again.status_of(old_serial).reason is x509.ReasonFlags.superseded
    assert again.identity(f"person/{APPLICANT}/sign").cert.not_valid_after_utc > later


def test_revoke_is_seen_by_other_instances_and_the_crl(tmp_path):
    a = Pki.open(tmp_path / "pki", now=NOW)
    ident = a.issue_identity("t/one", person_subject(APPLICANT, "Ахметов", "Нұрлан"), "sign", key_kind="ec-p256")
    assert a.status_of(ident.serial) == R.GOOD and ident.record.key_kind == "ec-p256"
    before = a.crl(NOW)
    b = Pki.open(tmp_path / "pki", now=NOW)
    assert b.revoke(f"0x{ident.serial:x}", "cessationOfOperation", NOW) == ident.serial
    assert b.revoke("t/one", "keyCompromise", NOW) == ident.serial  # idempotent: the first reason stays
    assert a.status_of(ident.serial).reason is x509.ReasonFlags.cessation_of_operation
    assert a.identity("t/one").record.revocation_reason == "cessationOfOperation"
    after = a.crl(NOW)
    assert after != before and ident.serial in R.read_crl(after, a.issuing_cert).revoked
    assert a.crl(NOW + timedelta(minutes=5)) == after  # cached
    with pytest.raises(KeyError):
        a.revoke(123456789, "keyCompromise", NOW)
    with pytest.raises(ValueError, match="exists"):
        a.issue_identity("t/one", person_subject(APPLICANT, "А", "Б"), "sign", key_kind="ec-p256")
    with pytest.raises(ValueError, match="bad identity name"):
        a.issue_identity("../escape", person_subject(APPLICANT, "А", "Б"), "sign", key_kind="ec-p256")
    with pytest.raises(ValueError, match="reason"):
        a.revoke("t/one", "because")
    assert a.status_of(424242).status == "unknown"
    assert a.certificate_by_serial(ident.serial) == ident.cert and a.certificate_by_serial(424242) is None
    renewed = a.issue_identity("t/one", person_subject(APPLICANT, "А", "Б"), "sign", key_kind="ec-p256",
                               replace_existing=True)  # fmt: skip
    assert a.certificate_by_serial(ident.serial) is None and a.certificate_by_serial(renewed.serial) == renewed.cert
    assert a.status_of(ident.serial).reason is x509.ReasonFlags.cessation_of_operation  # first revocation kept


def test_mixed_key_kinds_plan(all_fixtures):
    kinds = {s.name: s.key_kind for s in plan(all_fixtures, now=NOW, key_kind="mixed")}
    rsa = {n for n, k in kinds.items() if k == "rsa2048"}
    assert {f"person/{APPLICANT}/sign", f"person/{ATTORNEY}/auth", "gateway", "system/GBDFL", "tls/localhost"} <= rsa
    assert set(BAD) <= rsa and len(rsa) < 40 and set(kinds.values()) == {"rsa2048", "ec-p256"}
    assert {s.key_kind for s in plan(all_fixtures, now=NOW, key_kind="rsa2048")} == {"rsa2048"}
    with pytest.raises(ValueError):
        plan(all_fixtures, now=NOW, key_kind="dsa")


def test_rsa_keys_in_the_process_pool():
    keys = generate_keys(["rsa2048"] * 12 + ["ec-p256"], workers=2)
    assert [k.key_size for k in keys[:12]] == [2048] * 12 and keys[12].curve.name == "secp256r1"
    assert len({k.private_numbers().p for k in keys[:12]}) == 12


# --- shlyuz pki -----------------------------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch):
    for key in list(os.environ):
        if key.startswith("SHLYUZ_"):
            monkeypatch.delenv(key)


def test_cli(tmp_path, capsys, clean_env):
    data = ["--data-dir", str(tmp_path / "var")]
    assert main(["pki", "init", *data, "--key", "ec-p256"]) == 0
    out = capsys.readouterr().out
    assert "ҰКО (RSA) TEST ROOT (shlyuz)" in out and "7 bad" in out
    assert main(["pki", "init", *data, "--key", "ec-p256"]) == 0
    assert "0 identities issued" in capsys.readouterr().out

    assert main(["pki", "list", *data, "--tag", "bad"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sorted(line.split("\t")[0] for line in lines) == sorted(BAD)
    assert any(line.startswith("bad/expired\t") and "\texpired\t" in line for line in lines)

    assert main(["pki", "show", *data, f"person/{APPLICANT}/sign"]) == 0
    out = capsys.readouterr().out
    assert f"IIN          {APPLICANT}" in out and "nonRepudiation -> SIGN" in out and "(INDIVIDUAL)" in out

    assert main(["pki", "issue", *data, "--name", "demo/ceo", "--iin", APPLICANT, "--bin", "160941360814",
                 "--role", "ceo", "--profile", "sign", "--key", "ec-p256", "--days", "30"]) == 0  # fmt: skip
    assert "issued demo/ceo" in capsys.readouterr().out
    assert main(["pki", "show", *data, "demo/ceo"]) == 0
    out = capsys.readouterr().out
    assert "BIN          160941360814" in out and "(CEO)" in out and "1.2.398.3.3.2.1" in out

    assert main(["pki", "revoke", *data, "demo/ceo", "--reason", "affiliationChanged"]) == 0
    capsys.readouterr()
    assert main(["pki", "show", *data, "demo/ceo"]) == 0
    assert "revoked since" in capsys.readouterr().out

    p12 = tmp_path / "out.p12"
    assert main(["pki", "export", *data, "gateway", "--out", str(p12), "--password", "secret"]) == 0
    assert pkcs12.load_key_and_certificates(p12.read_bytes(), b"secret")[1].subject == \
        Pki.open(tmp_path / "var/pki", now=NOW).identity("gateway").cert.subject  # fmt: skip

    assert main(["pki", "show", *data, "no/such"]) == 1
    assert "no identity" in capsys.readouterr().err
    assert main(["pki", "issue", *data, "--name", "demo/ceo", "--iin", APPLICANT, "--profile", "auth",
                 "--key", "ec-p256"]) == 1  # fmt: skip
    assert "exists" in capsys.readouterr().err
    assert main(["pki"]) == 2
