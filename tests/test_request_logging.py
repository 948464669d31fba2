"""One log line per request: a SOAP exchange logs ``exchange`` (outcome, status, pipeline ms, total ms) and no
separate access line; every other request logs ``request`` (status, ms). Both carry the request's bound context."""

from __future__ import annotations

import logging

import pytest
import structlog

from shlyuz.client import SendMessage, payload
from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.gateway import http
from shlyuz.shep import ns


@pytest.fixture(autouse=True)
def fresh_logger(monkeypatch):
    """Info level, whatever an earlier test configured, and a logger not yet bound to the configured processors
    (``cache_logger_on_first_use``), so that ``capture_logs`` sees its events."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    monkeypatch.setattr(http, "log", structlog.get_logger("shlyuz.http"))
    yield
    structlog.configure(**saved)


def gbdfl(message_id: str) -> bytes:
    body = payload(ns.GBDFL_MESSAGE, "Request", {"messageId": "1", "iin": DEMO_IINS["applicant"]})
    return SendMessage("GBDFL_UniversalServiceSync", body, message_id=message_id).to_bytes()


async def test_a_soap_exchange_logs_one_line_with_its_outcome_and_times(shep):
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as events:
        reply = await shep.post(gbdfl("log-1"))
    assert reply.status == 200
    lines = [e for e in events if e["event"] in ("request", "exchange")]
    assert len(lines) == 1
    line = lines[0]
    assert line["event"] == "exchange" and line["outcome"] == "SCSS001" and line["http_status"] == 200
    assert line["messageId"] == "log-1" and line["path"] == "/bip-sync/" and line["sessionId"].startswith("{")
    assert 0 < line["ms"] <= line["total_ms"]


async def test_a_refused_exchange_is_one_exchange_line_too(shep):
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as events:
        reply = await shep.post(b"<not-soap/>", validate=False)
    assert reply.status == 500
    lines = [e for e in events if e["event"] in ("request", "exchange")]
    assert [(e["event"], e["outcome"], e["http_status"]) for e in lines] == [("exchange", "NOT_SOAP_ENVELOPE", 500)]


async def test_other_requests_keep_their_access_line(shep):
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as events:
        resp = await shep.client.get("/healthz")
        missing = await shep.client.get("/no-such-route")
    assert resp.status == 200 and missing.status == 404
    lines = [(e["event"], e["path"], e["status"]) for e in events if e["event"] in ("request", "exchange")]
    assert lines == [("request", "/healthz", 200), ("request", "/no-such-route", 404)]
