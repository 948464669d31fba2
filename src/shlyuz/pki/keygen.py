"""Bulk key generation: RSA keys in a process pool (at most two workers), EC keys in-process.

RSA-2048 key generation costs ~40-100 ms per key and holds the GIL, so a first start that makes a few hundred
keys spreads them over worker processes. Workers are forked when the caller has a single thread, spawned otherwise
(forking a threaded process — an event loop with aiosqlite's threads — can deadlock the child; a spawned worker
re-imports the caller's ``__main__``, so scripts need the usual ``if __name__ == "__main__":`` guard). Keys come
back as PKCS#8 DER over the pool's pipe; nothing is logged.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from cryptography.hazmat.primitives import serialization

from shlyuz.pki.ca import PrivateKey, generate_keys_der, make_key

MAX_WORKERS = 2
MIN_PARALLEL = 12  # fewer RSA keys than this are made in-process: a pool costs ~0.3 s to start


def _load(der: bytes) -> PrivateKey:
    # The workers just made these keys: OpenSSL 3's RSA consistency check on load (~35 ms a key, as long as
    # making it) would undo the pool's gain.
    return serialization.load_der_private_key(der, password=None, unsafe_skip_rsa_key_validation=True)  # type: ignore[return-value]


def _context() -> multiprocessing.context.BaseContext:
    """``fork`` when this process has a single thread (fast, and the caller's ``__main__`` is not re-imported);
    ``spawn`` otherwise (forking a threaded process can deadlock the child)."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _rsa_in_pool(kind: str, count: int, workers: int) -> list[PrivateKey]:
    chunk = max(1, -(-count // (workers * 6)))  # about six chunks per worker: even finish, little overhead
    sizes = [min(chunk, count - i) for i in range(0, count, chunk)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=_context()) as pool:
        futures = [pool.submit(generate_keys_der, kind, n) for n in sizes]
        return [_load(d) for f in futures for d in f.result()]


def generate_keys(kinds: Sequence[str], *, workers: int | None = None) -> list[PrivateKey]:
    """One new private key per entry of ``kinds`` (``rsa2048`` / ``ec-p256``), in the same order."""
    workers = max(1, min(workers or MAX_WORKERS, MAX_WORKERS, os.cpu_count() or 1))
    out: list[PrivateKey | None] = [None] * len(kinds)
    slow = [i for i, k in enumerate(kinds) if k.startswith("rsa")]
    for i, k in enumerate(kinds):
        if not k.startswith("rsa"):
            out[i] = make_key(k)
    by_kind: dict[str, list[int]] = {}
    for i in slow:
        by_kind.setdefault(kinds[i], []).append(i)
    for kind, positions in by_kind.items():
        keys: list[PrivateKey] | None = None
        if workers > 1 and len(positions) >= MIN_PARALLEL:
            try:
                keys = _rsa_in_pool(kind, len(positions), workers)
            except (OSError, BrokenProcessPool, RuntimeError):  # no semaphores, no fork/spawn: do it here
                keys = None
        if keys is None:
            keys = [make_key(kind) for _ in positions]
        for i, key in zip(positions, keys, strict=True):
            out[i] = key
    return out  # type: ignore[return-value]
