"""A replay report as JUnit XML (one testcase per exchange), for CI. Sans-IO."""

from __future__ import annotations

from lxml import etree

from shlyuz.replay.runner import Report
from shlyuz.shep.writer import xml_safe


def junit_xml(report: Report, *, suite: str) -> bytes:
    failures = sum(1 for r in report.results if r.error is None and r.differences)
    errors = sum(1 for r in report.results if r.error is not None)
    total_s = sum(r.ms for r in report.results) / 1000
    suites = etree.Element("testsuites")
    ts = etree.SubElement(suites, "testsuite", name=xml_safe(suite), tests=str(len(report.results)),
                          failures=str(failures), errors=str(errors), skipped="0", time=f"{total_s:.3f}")  # fmt: skip
    props = etree.SubElement(ts, "properties")
    etree.SubElement(props, "property", name="target", value=xml_safe(report.target))
    for r in report.results:
        ex = r.exchange
        name = f"#{ex.seq} {ex.service_id or '-'} {ex.endpoint}"
        if ex.message_ids.request:
            name += f" {ex.message_ids.request}"
        case = etree.SubElement(ts, "testcase", classname=xml_safe(suite), name=xml_safe(name), time=f"{r.ms / 1000:.3f}")
        if r.error is not None:
            el = etree.SubElement(case, "error", message=xml_safe(r.error[:500]), type="replay-error")
            el.text = xml_safe(r.error)
        elif r.differences:
            first = str(r.differences[0])
            el = etree.SubElement(case, "failure", message=xml_safe(f"{len(r.differences)} difference(s); first: {first}"[:500]),
                                  type="difference")  # fmt: skip
            lines = [str(d) for d in r.differences]
            if r.namespaces:
                lines.append("namespaces: " + ", ".join(f"{p}={u}" for p, u in sorted(r.namespaces.items())))
            el.text = xml_safe("\n".join(lines))
        if r.resigned:
            out = etree.SubElement(case, "system-out")
            out.text = xml_safe("re-signed: " + ", ".join(f"{k} as {v}" for k, v in r.resigned.items()))
    return b"<?xml version='1.0' encoding='UTF-8'?>\n" + etree.tostring(suites, encoding="utf-8", pretty_print=True)
