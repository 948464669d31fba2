"""Shared CLI options for choosing a signing identity: a PKI identity by name, or the user's own PEM files."""

from __future__ import annotations

import argparse
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from shlyuz.dsig.signer import Signer, signer_for


def add_identity_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, default=Path("var"), help="where the test PKI lives (default var/)")
    p.add_argument("--key", type=Path, help="your own private key (PEM, unencrypted) instead of a PKI identity")
    p.add_argument("--cert", type=Path, help="the certificate (PEM) that goes with --key")


class IdentityError(Exception):
    pass


def load_signer(args: argparse.Namespace, name: str | None) -> Signer | None:
    """``name`` is a PKI identity (``person/<IIN>/sign``, ``bad/expired`` …); ``--key``/``--cert`` override it."""
    if getattr(args, "key", None) or getattr(args, "cert", None):
        if not (args.key and args.cert):
            raise IdentityError("--key and --cert go together")
        try:
            key = serialization.load_pem_private_key(args.key.read_bytes(), password=None)
            cert = x509.load_pem_x509_certificate(args.cert.read_bytes())
        except (OSError, ValueError, TypeError) as exc:
            raise IdentityError(f"cannot load --key/--cert: {exc}") from None
        return Signer(key=key, cert=cert, name=str(args.cert))
    if not name:
        return None
    from shlyuz.pki.store import Pki

    directory = args.data_dir / "pki"
    if not (directory / "index.json").exists():
        raise IdentityError(f"no test PKI in {directory}: run `shlyuz pki init` or start `shlyuz serve` once")
    from datetime import datetime, timezone

    pki = Pki.open(directory, now=datetime.now(timezone.utc))
    if name not in pki:
        raise IdentityError(f"no identity {name!r} in {directory} (see `shlyuz pki list`)")
    return signer_for(pki, name)
