"""`shlyuz sign`: documents and envelopes signed as a test-PKI identity verify with xmlsec1 (independent)."""

from __future__ import annotations

import subprocess

from lxml import etree

from shlyuz.cli import main
from shlyuz.dsig.enveloped import verify_enveloped
from shlyuz.dsig.wsse import verify_envelope
from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.shep import ns

from conftest import GATEWAY_NOW

# the session PKI is made at PKI_NOW: judge certificate times at the gateway clock's, not the real one
VERIFICATION_TIME = ["--verification-time", GATEWAY_NOW.astimezone().strftime("%Y-%m-%d %H:%M:%S")]

DOC = '<cs:Request xmlns:cs="http://message.persistence.interactive.nat"><iin>{}</iin></cs:Request>'
ENV = (
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    '<x:Ping xmlns:x="urn:x">1</x:Ping></soap:Body></soap:Envelope>'
)


def test_sign_enveloped_and_wsse_verify_with_xmlsec1(tmp_path, session_pki):
    iin = DEMO_IINS["applicant"]
    name = f"person/{iin}/sign"
    data_dir = str(session_pki.directory.parent)
    cert_pem = session_pki.identity(name).cert_path
    src = tmp_path / "doc.xml"
    src.write_text(DOC.format(iin))
    out = tmp_path / "signed.xml"
    assert main(["sign", str(src), "--as", name, "--data-dir", data_dir, "-o", str(out)]) == 0
    signed = etree.fromstring(out.read_bytes())
    assert verify_enveloped(signed).certificate == session_pki.identity(name).cert
    run = subprocess.run(["xmlsec1", "--verify", *VERIFICATION_TIME, "--pubkey-cert-pem", str(cert_pem), str(out)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr

    env = tmp_path / "env.xml"
    env.write_text(ENV)
    out2 = tmp_path / "env-signed.xml"
    assert main(["sign", str(env), "--mode", "wsse", "--as", name, "--data-dir", data_dir, "-o", str(out2)]) == 0
    root = etree.fromstring(out2.read_bytes())
    assert root.find(f".//{{{ns.WSSE}}}Security") is not None
    assert verify_envelope(root).certificate == session_pki.identity(name).cert
    run = subprocess.run(
        ["xmlsec1", "--verify", *VERIFICATION_TIME, "--pubkey-cert-pem", str(cert_pem),
         "--id-attr:Id", "http://schemas.xmlsoap.org/soap/envelope/:Body", str(out2)],
        capture_output=True, text=True,
    )
    assert run.returncode == 0, run.stderr


def test_sign_refuses_unknown_identity_and_missing_signer(tmp_path, session_pki, capsys):
    src = tmp_path / "doc.xml"
    src.write_text(DOC.format("1"))
    data_dir = str(session_pki.directory.parent)
    assert main(["sign", str(src), "--as", "person/000000000000/sign", "--data-dir", data_dir]) == 2
    assert "no identity" in capsys.readouterr().err
    assert main(["sign", str(src), "--data-dir", data_dir]) == 2
    assert "say who signs" in capsys.readouterr().err
    assert main(["sign", str(src), "--as", "gateway", "--data-dir", str(tmp_path)]) == 2
    assert "no test PKI" in capsys.readouterr().err
