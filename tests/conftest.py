"""Shared test fixtures: an in-process gateway on a random 127.0.0.1 port with a fixed clock and a temp journal."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).resolve().parent))  # test helper modules (xsdcheck, shepmsg)

from shlyuz.clock import KZ, FixedClock  # noqa: E402
from shlyuz.config import load_settings  # noqa: E402
from shlyuz.gateway.app import Gateway, build_gateway, create_app  # noqa: E402
from shlyuz.shep.responses import read_sync_reply  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PAYLOAD_XSDS = tuple(
    p for p in (REPO / "schemas/gbdfl/gbdfl-message.xsd", REPO / "schemas/enis/enis-poa.xsd") if p.exists()
)
GATEWAY_NOW = datetime(2026, 1, 15, 10, 0, 0, tzinfo=KZ)  # near the fixtures' reference date
PKI_NOW = datetime(2025, 12, 1, 9, 0, 0, tzinfo=KZ)  # the test PKI is made a little before the gateway clock


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    @property
    def parsed(self):
        return read_sync_reply(self.body)


class Shep:
    """Posts to the gateway under test; every SOAP reply is validated against the official SHEP v10 XSDs."""

    def __init__(self, client: TestClient, gateway: Gateway) -> None:
        self.client = client
        self.gateway = gateway

    async def post(
        self, body: bytes | str, content_type: str = "text/xml; charset=utf-8", path: str = "/bip-sync/",
        validate: bool = True,
    ) -> Reply:
        if isinstance(body, str):
            body = body.encode("utf-8")
        resp = await self.client.post(path, data=body, headers={"Content-Type": content_type})
        raw = await resp.read()
        reply = Reply(resp.status, raw, dict(resp.headers))
        if validate:
            from xsdcheck import validate_sync_body

            validate_sync_body(raw, extra_xsds=list(PAYLOAD_XSDS))
        return reply


@pytest.fixture
def settings(tmp_path, monkeypatch):
    for key in list(__import__("os").environ):
        if key.startswith("SHLYUZ_"):
            monkeypatch.delenv(key)
    return load_settings(data_dir=tmp_path / "var")


@pytest.fixture(scope="session")
def session_pki(tmp_path_factory):
    """One test PKI for the session, made at the gateway clock's time with every fixture identity (read-only use:
    tests that revoke make their own)."""
    from shlyuz.fixtures.store import load_dirs
    from shlyuz.pki.store import Pki, PkiUrls

    data_dir = tmp_path_factory.mktemp("data")  # the PKI sits in DATA_DIR/pki, as `shlyuz serve` puts it
    pki = Pki.open(data_dir / "pki", now=PKI_NOW, urls=PkiUrls("http://127.0.0.1:8080"))
    pki.ensure_fixture_identities(load_dirs([REPO / "fixtures"]), now=PKI_NOW)
    return pki


@pytest.fixture
async def shep(settings, session_pki):
    gateway = build_gateway(settings, clock=FixedClock(GATEWAY_NOW), pki=session_pki)
    app = create_app(gateway)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield Shep(client, gateway)


@pytest.fixture
async def app_client():
    """``await app_client(app)`` → a started aiohttp TestClient on 127.0.0.1, closed after the test."""
    clients: list[TestClient] = []

    async def make(app) -> TestClient:
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
