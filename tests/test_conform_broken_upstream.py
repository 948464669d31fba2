"""A deliberately broken upstream provider is caught by the shipped suite, and the reports show where and why.

GBD FL's serviceId is routed to an integrator's "own implementation" (docs/systems/external.md): a small aiohttp app
that answers through a correct reference (a second shlyuz gateway with the built-in GBD FL) but has three defects:

- a lookup of IIN 900101300017 sent as inline XML is answered with another person's IIN in the data — wrong person
  data, validly re-signed with GBD FL's certificate, so only a check of the data itself can see it;
- a request whose data is an escaped string (CDATA or entities) is answered ``SCSE001`` "person not found" where the
  person exists and ``SCSS001`` is due;
- a lookup of IIN 990101314013 (which GBD FL does not know, SCSE001) is answered without the data signature
  (``require_signature`` is on).

``shlyuz conform --url`` runs the shipped ``conformance/shep/gbdfl.yaml`` and ``protocol.yaml`` against the gateway as
a separate process, as CI would. The suite must fail on exactly the scenarios that check the broken behaviour, the
JUnit report must list them, and the HTML report must name the scenario, the step, the failed expectation, the actual
value, and show the exchange, with the path to the journal entries that hold the upstream's own answer.
"""

from __future__ import annotations

import asyncio
import html
import re
import sys

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from conftest import GATEWAY_NOW, REPO
from lxml import etree

from shlyuz.clock import FixedClock
from shlyuz.config import ExternalSystemSettings, load_settings
from shlyuz.conform.loader import discover
from shlyuz.dsig.signer import signer_for
from shlyuz.gateway.app import build_gateway, create_app
from shlyuz.shep import ns

GBDFL = "GBDFL_UniversalServiceSync"
PERSON, WRONG_PERSON = "900101300017", "900101300025"
ABSENT = "000201500015"  # a valid IIN GBD FL does not have
UNKNOWN = "990101314013"  # the IIN protocol::person-not-found asks for (checksum-valid, in no fixture: not found)
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
SUITE = [REPO / "conformance/shep/gbdfl.yaml", REPO / "conformance/shep/protocol.yaml"]
EXPECTED_FAILURES = {
    "gbdfl::gbdfl-person-by-iin",  # checks the person's IIN in the data: the wrong person is caught
    "protocol::cdata-escaped-data",  # SCSS001 due, SCSE001 answered
    "protocol::escaped-data",
    "protocol::person-not-found",  # the unsigned reply is refused by the gateway: UPSTREAM_SIGNATURE_MISSING
}


class BrokenGbdfl:
    """Somebody's GBD FL with three bugs; everything else is answered by the reference implementation."""

    def __init__(self, reference_url: str, pki) -> None:
        self.reference_url = reference_url
        self.signer = signer_for(pki, "system/GBDFL")
        self.app = web.Application()
        self.app.router.add_post("/bip-sync/", self.handle)

    async def _reference(self, body: bytes) -> tuple[int, bytes]:
        async with aiohttp.ClientSession() as http:
            headers = {"Content-Type": "text/xml; charset=utf-8"}
            async with http.post(self.reference_url, data=body, headers=headers) as resp:
                return resp.status, await resp.read()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        data = etree.fromstring(body).find(".//requestData/data")  # the gateway forwarded it: trusted XML here
        escaped = data is not None and (data.get(XSI_TYPE) or "").endswith("string")
        if escaped:  # bug 2: escaped data is "not found"
            status, raw = await self._reference(body.replace(PERSON.encode(), ABSENT.encode()))
        else:
            status, raw = await self._reference(body)
            iin = data.findtext(".//iin") if data is not None else None
            if iin == PERSON:  # bug 1: another person's IIN, re-signed so that the signature is valid
                raw = self._rewrite(raw, wrong_iin=True)
            elif iin == UNKNOWN:  # bug 3: the data signature is left out
                raw = self._rewrite(raw, wrong_iin=False)
        return web.Response(body=raw, status=status, content_type="text/xml", charset="utf-8")

    def _rewrite(self, raw: bytes, *, wrong_iin: bool) -> bytes:
        root = etree.fromstring(raw)
        data = root.find(".//responseData/data")
        for sig in data.findall(f"{{{ns.DS}}}Signature"):
            data.remove(sig)
        if wrong_iin:
            for el in data.iter("iin"):
                if el.text == PERSON:
                    el.text = WRONG_PERSON
            self.signer.data(data)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


async def test_a_broken_upstream_is_caught_and_the_reports_show_where_and_why(tmp_path, settings, session_pki):
    servers: list[TestServer] = []
    try:
        reference = build_gateway(load_settings(data_dir=tmp_path / "reference"), clock=FixedClock(GATEWAY_NOW),
                                  pki=session_pki)  # fmt: skip
        servers.append(TestServer(create_app(reference), host="127.0.0.1"))
        await servers[-1].start_server()
        broken = BrokenGbdfl(f"http://127.0.0.1:{servers[-1].port}/bip-sync/", session_pki)
        servers.append(TestServer(broken.app, host="127.0.0.1"))
        await servers[-1].start_server()
        upstream = f"http://127.0.0.1:{servers[-1].port}/bip-sync/"
        settings.systems.external[GBDFL] = ExternalSystemSettings(url=upstream, require_signature=True)
        gateway = build_gateway(settings, clock=FixedClock(GATEWAY_NOW), pki=session_pki)
        servers.append(TestServer(create_app(gateway), host="127.0.0.1"))
        await servers[-1].start_server()
        url = f"http://127.0.0.1:{servers[-1].port}"

        junit, report = tmp_path / "junit.xml", tmp_path / "report.html"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shlyuz", "conform", *map(str, SUITE), "--url", url, "--junit", str(junit),
            "--html", str(report), "--jobs", "2", "--quiet", "--data-dir", str(tmp_path / "cli"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=REPO,
        )  # fmt: skip
        out, err = await proc.communicate()
    finally:
        for server in reversed(servers):
            await server.close()
    stdout = out.decode()
    assert proc.returncode == 1, (stdout, err.decode())

    # the command line: exactly the scenarios that check the broken behaviour fail, each with its step and why
    failed = set(re.findall(r"^FAIL (\S+) — ", stdout, re.M))
    assert failed == EXPECTED_FAILURES, stdout
    assert f"xpath //*[local-name()='person']/*[local-name()='iin']: expected '{PERSON}', found '{WRONG_PERSON}'" in stdout
    assert f"expected SHEP status SCSS001, got SCSE001: Person not found: no record with IIN {ABSENT}" in stdout
    assert "expected SHEP status SCSE001, got the fault UPSTREAM_SIGNATURE_MISSING" in stdout
    total = len(discover(SUITE))
    assert f"{total - 4} passed, 4 failed, {total} scenarios" in stdout

    # JUnit: every scenario a testcase, the four failures with their step and message
    suite = etree.parse(str(junit)).getroot()
    assert suite.get("tests") == str(total) and suite.get("failures") == "4"
    cases = {f"{c.get('classname')}::{c.get('name')}": c for c in suite.iter("testcase")}
    assert {k for k, c in cases.items() if c.find("failure") is not None} == EXPECTED_FAILURES
    wrong = cases["gbdfl::gbdfl-person-by-iin"].find("failure")
    assert wrong.get("message").startswith("step 'person by IIN': xpath")
    assert WRONG_PERSON in wrong.text and "/__admin/journal?sessionId=" in wrong.text

    # HTML: the scenario, the step, the failed expectation with the actual value, the exchange, and where to look
    page = report.read_text(encoding="utf-8")
    section = page[page.index("gbdfl::gbdfl-person-by-iin <small>FAIL"):]
    section = section[: section.index("</section>")]
    assert "[FAIL] person by IIN" in section
    assert html.escape(f"expected '{PERSON}', found '{WRONG_PERSON}'") in section
    assert "<h4>request</h4>" in section and f"&lt;iin&gt;{PERSON}&lt;/iin&gt;" in section  # what was sent
    assert f"&lt;iin&gt;{WRONG_PERSON}&lt;/iin&gt;" in section and "SCSS001" in section  # what came back
    link = re.search(r'<a href="([^"]+/__admin/journal\?sessionId=[^"]+)">', section)
    assert link is not None and link.group(1).startswith(url)
    signature = page[page.index("protocol::person-not-found <small>FAIL"):]
    assert "UPSTREAM_SIGNATURE_MISSING" in signature[: signature.index("</section>")]
    assert page.count("<small>FAIL") == 4 and f"{total - 4} of {total} scenarios passed against {url}" in page
