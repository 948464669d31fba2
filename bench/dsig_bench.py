"""Per-message cost of EDS verification and signing (shlyuz.dsig), RSA-2048 and ECDSA P-256.

    .venv/bin/python bench/dsig_bench.py [-n 1000]

Prints a markdown table of medians (µs per call, N calls each, one process, one thread) and the machine. The message
is a SendMessage carrying a GBD FL Response for one fixture person (~3 KB, UTF-8) as inline data with an enveloped
data signature, the whole envelope signed with WS-Security (KeyIdentifier), as a SHEP client would send it.
Also times signxml 5 verifying the same data signature (the library comparison in docs/dsig.md) when installed.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from lxml import etree

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # certs.py: the throwaway test PKI

from certs import make_ca, make_leaf, make_root  # noqa: E402

from shlyuz.dsig import (  # noqa: E402
    check_certificate,
    sign_envelope,
    sign_enveloped,
    verify_envelope,
    verify_enveloped,
)
from shlyuz.fixtures.models import DictValue  # noqa: E402
from shlyuz.fixtures.store import load_dir  # noqa: E402
from shlyuz.shep.events import DataKind, Status, SyncResponse  # noqa: E402
from shlyuz.shep.reader import payload_root, read_sync_request  # noqa: E402
from shlyuz.shep.writer import write_sync_response  # noqa: E402
from shlyuz.systems.dictionaries import RESULT_OK  # noqa: E402
from shlyuz.systems.gbdfl import build_response  # noqa: E402
from shlyuz.xml.safe import parse  # noqa: E402

NOW = datetime(2026, 1, 15, 10, 0, 0, tzinfo=timezone(timedelta(hours=5)))
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
TYPES = "http://bip.bee.kz/SyncChannel/v10/Types"


def median_us(fn: Callable[[], object], n: int) -> float:
    fn()  # warm up
    samples = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t0)
    return statistics.median(samples) / 1000


def payload() -> etree._Element:
    fixtures = load_dir(REPO / "fixtures")
    person = fixtures.persons.get("900101300017") or next(iter(fixtures.persons.values()))
    return build_response(
        message_id="1", message_date="2026-01-15T10:00:00.000+05:00", request_id="bench",
        receiver=DictValue(code="shlyuz-demo", name_ru="shlyuz-demo", name_kz="shlyuz-demo"),
        result=RESULT_OK, persons=[person],
    )  # fmt: skip


def request_bytes(signed_data: etree._Element, leaf) -> bytes:
    env = etree.fromstring(
        f'<soap:Envelope xmlns:soap="{SOAP}"><soap:Header/><soap:Body><ns3:SendMessage xmlns:ns3="{TYPES}"><request>'
        "<requestInfo><messageId>bench-1</messageId><serviceId>GBDFL_UniversalServiceSync</serviceId>"
        "<messageDate>2026-01-15T10:00:00.000+05:00</messageDate><sender><senderId>shlyuz-demo</senderId>"
        "<password>demo-password</password></sender></requestInfo><requestData><data/></requestData></request>"
        "</ns3:SendMessage></soap:Body></soap:Envelope>".encode()
    )
    data = env.find(".//data")
    data.append(copy.deepcopy(signed_data))
    sign_envelope(env, key=leaf.key, cert=leaf.cert)
    return etree.tostring(env, encoding="utf-8", xml_declaration=True)


def setup(kind: str) -> tuple[dict[str, Callable[[], object]], dict[str, int]]:
    root = make_root(f"BENCH ROOT ({kind})", kind=kind)
    ca = make_ca(root, f"BENCH CA ({kind})", kind=kind)
    leaf = make_leaf(ca, iin="900101300017", kind=kind)
    doc = payload()
    sizes = {"payload": len(etree.tostring(doc, encoding="utf-8"))}
    signed_doc = sign_enveloped(copy.deepcopy(doc), key=leaf.key, cert=leaf.cert)
    sizes["signed payload"] = len(etree.tostring(signed_doc, encoding="utf-8"))
    body = request_bytes(signed_doc, leaf)
    sizes["envelope"] = len(body)
    req = read_sync_request(body, "text/xml")
    data_root = payload_root(req.payload)
    assert verify_envelope(req.envelope) and verify_enveloped(data_root)
    response = SyncResponse(
        message_id="r-1", response_date=NOW, status=Status.SUCCESS, status_message="ok",
        session_id="{00000000-0000-0000-0000-000000000000}", payload=doc, data_kind=DataKind.XML,
    )  # fmt: skip
    unsigned_response = write_sync_response(response)
    sizes["response"] = len(unsigned_response)

    def sign_response() -> bytes:
        env = etree.fromstring(unsigned_response)  # our own writer's bytes: trusted, plain parser
        sign_envelope(env, key=leaf.key, cert=leaf.cert)
        return etree.tostring(env, encoding="utf-8")

    t: dict[str, Callable[[], object]] = {
        "parse envelope (xml.safe.parse)": lambda: parse(body),
        "read SendMessage (parse + reader)": lambda: read_sync_request(body, "text/xml"),
        "verify WS-Security (verify_envelope)": lambda: verify_envelope(req.envelope),
        "verify data signature (verify_enveloped)": lambda: verify_enveloped(data_root),
        "certcheck, 3-certificate chain (check_certificate)": lambda: check_certificate(
            leaf.cert, anchors=[root.cert], intermediates=[ca.cert], at=NOW, purpose="sign"
        ),
        "write response (writer only, baseline)": lambda: write_sync_response(response),
        "sign response (parse writer bytes + sign_envelope + serialise)": sign_response,
        "sign data payload (sign_enveloped on a copy)": lambda: sign_enveloped(
            copy.deepcopy(doc), key=leaf.key, cert=leaf.cert
        ),
    }
    try:
        from signxml import SignatureConfiguration, XMLVerifier
    except ImportError:
        return t, sizes
    config = SignatureConfiguration(location="./", expect_references=1, verification_time=NOW)
    standalone = copy.deepcopy(data_root)
    signxml_result = XMLVerifier().verify(standalone, x509_cert=leaf.cert, expect_config=config)
    assert signxml_result.signed_xml is not None
    t["signxml 5: verify the same data signature (x509_cert pinned)"] = lambda: XMLVerifier().verify(
        standalone, x509_cert=leaf.cert, expect_config=config
    )
    t["hand-written on the same standalone copy (verify_enveloped)"] = lambda: verify_enveloped(standalone)
    return t, sizes


def machine() -> str:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import cryptography
    import lxml

    return (
        f"{os.cpu_count()} CPUs (nproc), {model}; Python {platform.python_version()}, lxml {lxml.__version__} "
        f"(libxml2 {'.'.join(map(str, etree.LIBXML_VERSION))}), cryptography {cryptography.__version__}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1000, help="calls per measurement (median reported)")
    ap.add_argument("-r", type=int, default=3, help="rounds; the lowest median of the rounds is reported")
    args = ap.parse_args()
    kinds = ("rsa2048", "ec-p256")
    setups = {kind: setup(kind) for kind in kinds}
    best: dict[str, dict[str, float]] = {kind: {} for kind in kinds}
    for _ in range(args.r):  # rounds interleave the two key kinds so that background load hits both alike
        for name in setups["rsa2048"][0]:
            for kind in kinds:
                fn = setups[kind][0].get(name)
                if fn is not None:
                    m = median_us(fn, args.n)
                    best[kind][name] = min(m, best[kind].get(name, m))
    rsa_t, rsa_sizes = best["rsa2048"], setups["rsa2048"][1]
    ec_t, ec_sizes = best["ec-p256"], setups["ec-p256"][1]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"Machine: {machine()}; median of {args.n} calls, lowest of {args.r} rounds; load average {load:.2f}.\n")
    print("Message sizes (bytes, RSA / ECDSA): " + ", ".join(f"{k} {rsa_sizes[k]} / {ec_sizes[k]}" for k in rsa_sizes))
    print()
    print("| step | RSA-2048 µs | ECDSA P-256 µs |")
    print("|---|---:|---:|")
    for name in rsa_t:
        print(f"| {name} | {rsa_t[name]:.1f} | {ec_t.get(name, float('nan')):.1f} |")


if __name__ == "__main__":
    main()
