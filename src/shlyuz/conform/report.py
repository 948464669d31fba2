"""Reports of a conformance run: JUnit XML for CI, a self-contained HTML page for people (sans-IO: outcomes in,
bytes out)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import quote

from lxml import etree

from shlyuz.conform.runner import ScenarioOutcome

MAX_BODY = 20_000  # characters of a request/response body shown in the HTML report
_SESSION_ID = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?sessionId>\s*([^<\s]{1,100})\s*</")


def session_id(response: str) -> str | None:
    """The SHEP sessionId a reply (answer or fault) names: the key of every journal entry of that exchange — the
    client's and, for a system plugged in behind shlyuz, the upstream leg with the bytes the system answered."""
    m = _SESSION_ID.search(response[:200_000])
    return m.group(1) if m else None


def journal_path(sid: str) -> str:
    return f"/__admin/journal?sessionId={quote(sid, safe='')}"


def junit(outcomes: Sequence[ScenarioOutcome], *, name: str = "shlyuz conform", wall_s: float = 0.0) -> bytes:
    failures = sum(not o.ok for o in outcomes)
    suites = etree.Element("testsuites", name=name, tests=str(len(outcomes)), failures=str(failures), time=f"{wall_s:.3f}")
    suite = etree.SubElement(suites, "testsuite", name=name, tests=str(len(outcomes)), failures=str(failures),
                             errors="0", skipped="0", time=f"{wall_s:.3f}")  # fmt: skip
    for o in outcomes:
        case = etree.SubElement(suite, "testcase", classname=o.file.rsplit("/", 1)[-1].removesuffix(".yaml"),
                                name=o.name, time=f"{o.ms / 1000:.3f}")  # fmt: skip
        if not o.ok:
            bad = next(s for s in o.steps if not s.ok)
            fail = etree.SubElement(case, "failure", message=f"step '{bad.name}': {bad.failures[0]}"[:1000], type="AssertionError")
            sid = session_id(bad.response)
            where = f"\n\nthe exchange in the gateway's journal: GET {journal_path(sid)}" if sid else ""
            fail.text = ("\n".join(f"- {f}" for f in bad.failures) + where
                         + f"\n\nrequest:\n{bad.request[:4000]}\n\nresponse ({bad.status}):\n{bad.response[:4000]}")  # fmt: skip
        out = etree.SubElement(case, "system-out")
        out.text = "\n".join(f"[{'ok' if s.ok else 'FAIL'}] {s.name} ({s.action}, {s.ms} ms)" for s in o.steps) + f"\nscope: {o.scope}"
    return etree.tostring(suites, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _pretty(text: str) -> str:
    s = text.strip()
    body = s.split("\n", 1)[1] if s[:5] in ("POST ", "GET /", "PUT /") and "\n" in s else s
    head = s.split("\n", 1)[0] + "\n" if body is not s else ""
    try:
        if body.lstrip().startswith("<"):
            root = etree.fromstring(body.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True))
            body = etree.tostring(root, pretty_print=True, encoding="unicode")
        elif body.lstrip()[:1] in "{[":
            body = json.dumps(json.loads(body), ensure_ascii=False, indent=2)
    except Exception:
        pass
    text = head + body
    return text if len(text) <= MAX_BODY else text[:MAX_BODY] + f"\n… ({len(text) - MAX_BODY} more characters)"


def html_report(outcomes: Sequence[ScenarioOutcome], *, title: str = "shlyuz conform", target: str = "", wall_s: float = 0.0) -> bytes:
    e = html.escape
    passed = sum(o.ok for o in outcomes)
    rows, details = [], []
    for i, o in enumerate(outcomes):
        status = "pass" if o.ok else "fail"
        first = next((f"{s.name}: {s.failures[0]}" for s in o.steps if not s.ok), "")
        rows.append(f'<tr class="{status}"><td><a href="#s{i}">{e(o.id)}</a></td><td>{status.upper()}</td>'
                    f"<td>{len(o.steps)}</td><td>{o.ms}</td><td>{e(first)}</td></tr>")  # fmt: skip
        where = f"{e(o.file)} · " if o.file else ""
        steps = []
        for s in o.steps:
            fails = "".join(f"<li>{e(f)}</li>" for f in s.failures)
            sid = session_id(s.response)
            if sid and not s.ok:
                path = journal_path(sid)
                link = f'<a href="{e(target + path)}">{e(path)}</a>' if target.startswith("http") else e(path)
                fails += (f"<li class=where>SHEP sessionId {e(sid)}: every journal entry of this exchange (for a system "
                          f"plugged in behind the gateway, also the upstream leg with what it answered): GET {link}</li>")  # fmt: skip
            steps.append(
                f'<details class="{"pass" if s.ok else "fail"}"{" open" if not s.ok else ""}><summary>'
                f"[{'ok' if s.ok else 'FAIL'}] {e(s.name)} — {e(s.action)}, HTTP {s.status}, {s.ms} ms</summary>"
                f"{f'<ul class=failures>{fails}</ul>' if fails else ''}"
                f"<div class=pair><div><h4>request</h4><pre>{e(_pretty(s.request))}</pre></div>"
                f"<div><h4>response</h4><pre>{e(_pretty(s.response))}</pre></div></div></details>"
            )
        details.append(f'<section id="s{i}" class="{status}"><h3>{e(o.id)} <small>{status.upper()} · {where}scope {e(o.scope)} · '
                       f"tags {e(', '.join(o.tags))}</small></h3>{''.join(steps)}</section>")  # fmt: skip
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title><style>
body{{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;width:100%}}
td,th{{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}}
tr.fail td:nth-child(2),details.fail>summary{{color:#b00;font-weight:bold}} tr.pass td:nth-child(2){{color:#070}}
pre{{background:#f6f6f6;padding:.5em;overflow:auto;max-height:30em;font-size:12px}} .pair{{display:grid;grid-template-columns:1fr 1fr;gap:1em}}
section{{border-top:2px solid #ccc;margin-top:1.5em}} section.fail{{border-color:#b00}} .failures{{color:#b00}}
.failures li.where{{color:#444;list-style:none;margin-top:.3em}}
</style></head><body><h1>{e(title)}</h1>
<p>{passed} of {len(outcomes)} scenarios passed against {e(target)} in {wall_s:.1f} s · {datetime.now().astimezone().isoformat(timespec="seconds")}</p>
<table><tr><th>scenario</th><th>result</th><th>steps</th><th>ms</th><th>first failure</th></tr>{''.join(rows)}</table>
{''.join(details)}</body></html>"""
    return page.encode("utf-8")
