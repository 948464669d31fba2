"""The crypto ceiling of a full signed exchange (a): only the public-key and digest operations one exchange needs,
with the keys of a shlyuz data dir — verify the request's WS-Security and data signatures (the applicant's key),
sign the reply's data (system/GBDFL) and envelope (gateway), and the four SHA-256 reference digests — timed on one
core; the ceiling is ``nproc / seconds per exchange`` (an upper bound: wrk, HTTP, XML and the journal are free).

    .venv/bin/python bench/ceiling.py [DATA_DIR ...]     # default: two temporary PKIs, mixed (RSA) and ec-p256
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

SIGNED_INFO = 620  # bytes of a canonical ds:SignedInfo with one reference
DIGESTS = (4096, 3000, 6000, 9000)  # request data + body, reply data + body (bytes digested)


def _sign(key, data: bytes) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def _verify(pub, sig: bytes, data: bytes) -> None:
    if isinstance(pub, rsa.RSAPublicKey):
        pub.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
    else:
        pub.verify(sig, data, ec.ECDSA(hashes.SHA256()))


def exchange_seconds(data_dir: Path, n: int = 300, rounds: int = 5) -> tuple[float, str]:
    """Best-of-``rounds`` CPU seconds of the crypto of one exchange, and the key kinds used."""
    from shlyuz.fixtures.generate import DEMO_IINS
    from shlyuz.pki.store import Pki

    pki = Pki.open(data_dir / "pki", now=datetime.now(timezone.utc))
    client = pki.identity(f"person/{DEMO_IINS['applicant']}/sign")
    system, gateway = pki.identity("system/GBDFL"), pki.identity("gateway")
    msg = os.urandom(SIGNED_INFO)
    blobs = [os.urandom(k) for k in DIGESTS]
    sig = _sign(client.key, msg)
    pub = client.cert.public_key()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        for _ in range(n):
            for blob in blobs:
                h = hashes.Hash(hashes.SHA256())
                h.update(blob)
                h.finalize()
            _verify(pub, sig, msg)  # WS-Security
            _verify(pub, sig, msg)  # data signature
            _sign(system.key, msg)  # reply data (GBD FL)
            _sign(gateway.key, msg)  # reply envelope (gateway)
        best = min(best, (time.process_time() - t0) / n)
    kinds = "/".join(sorted({type(k.key).__name__.replace("_", "") for k in (client, system, gateway)}))
    return best, kinds


def ceiling(data_dir: Path, cores: int | None = None) -> tuple[float, float, str]:
    """(exchanges per second on ``cores`` cores, µs per exchange on one core, key kinds)."""
    s, kinds = exchange_seconds(data_dir)
    return (cores or os.cpu_count() or 1) / s, s * 1e6, kinds


if __name__ == "__main__":
    import subprocess

    dirs = [Path(p) for p in sys.argv[1:]]
    with tempfile.TemporaryDirectory() as tmp:
        if not dirs:
            for kind in ("mixed", "ec-p256"):
                d = Path(tmp) / kind
                subprocess.run([str(Path(sys.executable).parent / "shlyuz"), "pki", "init", "--data-dir", str(d),
                                "--key", kind], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
                dirs.append(d)
        for d in dirs:
            rps, us, kinds = ceiling(d)
            print(f"{d}: {us:.0f} µs of crypto per exchange on one core ({kinds}); ceiling {rps:,.0f} req/s "
                  f"on {os.cpu_count()} cores")  # fmt: skip
