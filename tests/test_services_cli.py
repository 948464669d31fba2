"""``shlyuz services``, ``shlyuz services schema`` and ``shlyuz diagram``: the listing, the exported JSON Schema (the
committed file never drifts from the model) and the Mermaid flowcharts, asserted structurally."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shlyuz.cli import main
from shlyuz.services.loader import ServiceCatalogue
from shlyuz.services.mermaid import chain_flowchart, diagrams, steps_flowchart
from shlyuz.services.schema import (
    export_schema,
    render_schema,
    schema_path,
    write_schema,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def catalogue() -> ServiceCatalogue:
    return ServiceCatalogue.load()


def test_committed_schema_equals_the_export():
    assert schema_path() == REPO / "schemas" / "services" / "service-definition.schema.json"
    assert schema_path().read_text(encoding="utf-8") == render_schema(), "regenerate: python -m shlyuz.services.schema"


def test_schema_describes_the_model():
    schema = export_schema()
    assert schema["title"] == "Service"
    assert {"id", "names", "annexes", "channels", "procedures", "refusals", "required_documents", "notes"} <= set(
        schema["required"] + list(schema["properties"])
    )
    defs = schema["$defs"]
    assert "portal_auth" in defs["Check"]["enum"] and "eds_not_revoked" in defs["Check"]["enum"]
    assert "days_unspecified" in defs["Unit"]["enum"]
    assert set(defs["ChainItem"]["properties"]) >= {"if_yes", "if_no", "checks", "kk", "inferred", "wraps_procedure"}


def test_schema_command_writes_and_checks(tmp_path: Path, capsys):
    target = tmp_path / "s.json"
    assert main(["services", "schema", "--output", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render_schema()
    assert main(["services", "schema", "--check", "--output", str(target)]) == 0
    target.write_text("{}", encoding="utf-8")
    assert main(["services", "schema", "--check", "--output", str(target)]) == 1
    assert "differs from the model" in capsys.readouterr().err


def test_module_entry_point_checks_the_committed_schema():
    run = subprocess.run([sys.executable, "-m", "shlyuz.services.schema", "--check"], capture_output=True, text=True,
                         cwd=REPO, timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "up to date" in run.stdout


def test_write_schema_round_trips(tmp_path: Path):
    path = write_schema(tmp_path / "x" / "schema.json")
    assert json.loads(path.read_text(encoding="utf-8")) == export_schema()


def test_services_lists_the_15_with_annexes_and_channels(capsys):
    assert main(["services"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line for line in lines if re.match(r"^\s+\d+\s+\d+\*?\s", line)]
    assert len(rows) == 15
    first = rows[0].split()
    assert first[:5] == ["1", "1", "child-allowance", "provider,state-corp", "5"]
    wheel = next(r for r in rows if " wheelchairs " in r).split()
    assert wheel[:4] == ["11", "12*", "wheelchairs", "provider"]
    assert lines[-1].startswith("* annex number inferred")


def test_services_json(capsys):
    assert main(["services", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["annex_2017"] for r in rows] == list(range(1, 16))
    tsa = rows[14]
    assert tsa["id"] == "tsa-membership-certificate"
    assert tsa["channels"] == ["provider", "state-corp", "portal"]
    assert (tsa["processes"], tsa["conditions"], tsa["procedure_steps"]) == (7, 3, 4)


def test_services_reports_a_broken_directory(tmp_path: Path, capsys):
    (tmp_path / "bad.yaml").write_text("id: [\n", encoding="utf-8")
    assert main(["services", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml: line 2, column 1:" in err


def _edges(source: str) -> set[tuple[str, str, str]]:
    out = set()
    for m in re.finditer(r"^\s+(\w+) (-->|-\.->)(?:\|(\w+)\|)? (\w+)$", source, re.M):
        out.add((m[1], m[3] or "", m[4]))
    return out


def test_child_allowance_state_corp_chain_diagram(catalogue: ServiceCatalogue):
    s = catalogue.get("child-allowance")
    src = chain_flowchart(s, s.channel("state-corp"))
    assert src.startswith("flowchart TD\n")
    boxes = re.findall(r'^\s+(P\d+)\["(\d+) процесс: ', src, re.M)
    diamonds = re.findall(r'^\s+(C\d+)\{"(\d+) шарт: ', src, re.M)
    assert [b for b, _ in boxes] == [f"P{n}" for n in range(1, 9)]
    assert [d for d, _ in diamonds] == ["C1", "C2"]
    edges = _edges(src)
    assert "START([start]) --> U1" in src
    assert {("C1", "yes", "P5"), ("C1", "no", "P4"), ("C2", "yes", "P8"), ("C2", "no", "P7")} <= edges
    assert ("P4", "", "X_R_DATA_UNAVAILABLE") in edges  # process 4's message ends the chain as a refusal
    assert ("P7", "", "P8") in edges  # the refusal letter is handed over in process 8
    assert "P7 -.-|forms| X_R_DOCUMENTS" in src
    assert ("P8", "", "END") in edges
    assert "C2 -.- PROC_main[[procedure main]]" in src
    assert re.search(r'^\s+X_R_DATA_UNAVAILABLE\(\["refusal R_DATA_UNAVAILABLE: ', src, re.M)
    assert "C1 -.->|yes| P5" in src  # inferred branches are dotted
    assert "P1 --> P2" in src  # stated order is solid


def test_conditions_without_a_refusal_process_go_to_the_refusal(catalogue: ServiceCatalogue):
    s = catalogue.get("employment-referrals")
    edges = _edges(chain_flowchart(s, s.channel("portal")))
    assert {("C1", "no", "X_R_AUTH"), ("C2", "no", "X_R_EDS"), ("C3", "no", "P5"), ("P5", "", "X_R_DATA")} <= edges


def test_steps_diagram_marks_decisions_and_merged_numbers(catalogue: ServiceCatalogue):
    semey = catalogue.get("semey-test-site-victims")
    src = steps_flowchart(semey.channel("state-corp").steps, semey)
    assert '  S2["2/3. responsible_executor: ' in src
    assert re.search(r'^\s+S6\{"6\. special_commission: .*\(20 days \(unit unspecified\)\)"\}$', src, re.M)
    assert "START([start]) --> S1 --> S2 --> S4 --> S5 --> S6 --> S7 --> S8 --> S9 --> END([end])" in src


def test_every_service_and_channel_has_a_diagram(catalogue: ServiceCatalogue):
    for s in catalogue:
        got = diagrams(s)
        assert {d.channel for d in got} == {c.id for c in s.channels}, s.id
        for d in got:
            assert d.source.startswith("flowchart TD\n")
            # every edge points at a declared node
            declared = set(re.findall(r"^\s+(\w+)[\[\{(>]", d.source, re.M)) | {"START", "END"}
            declared |= set(re.findall(r"-\.- (\w+)\[\[", d.source))
            for a, _, b in _edges(d.source):
                assert a in declared and b in declared, (s.id, d.title, a, b)


def test_diagram_command(capsys):
    assert main(["diagram", "4", "--channel", "portal"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("%% foreign-labour-permits / portal: chain")
    assert out.count("```mermaid") == 1 and "C2 -.->|no| P4" in out
    assert main(["diagram", "foreign-labour-permits", "--channel", "provider"]) == 0
    assert capsys.readouterr().out.count("```mermaid") == 4  # issue, reissue, extend, ict


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["diagram", "nope"], "no service 'nope'; known: child-allowance"),
        (["diagram", "wheelchairs", "--channel", "portal"], "service 'wheelchairs' has no 'portal' channel"),
        (["diagram", "99"], "no service is annex 99 of the 2017 resolution"),
    ],
)
def test_diagram_errors(args: list[str], message: str, capsys):
    assert main(args) == 2
    assert message in capsys.readouterr().err


DOC = REPO / "docs" / "services.md"


def test_docs_example_is_the_committed_file():
    text = DOC.read_text(encoding="utf-8")
    block = text.split("```yaml\n", 1)[1].split("\n```", 1)[0]
    assert block + "\n" == (REPO / "fixtures" / "services" / "employment-referrals.yaml").read_text(encoding="utf-8")


def test_docs_document_every_field_and_enum_value():
    from shlyuz.services import model, vocab
    from shlyuz.services.duration import Anchor, Bound, Duration, Unit

    text = DOC.read_text(encoding="utf-8")
    from shlyuz.services import rulespec

    models = [model.Service, model.Procedure, model.Step, model.Channel, model.ChainItem, model.Deadline, Duration,
              rulespec.RepeatApplication, rulespec.FeeWindow, rulespec.Pickup, rulespec.MissingDocuments,
              rulespec.SubFlows, rulespec.SubFlow]  # fmt: skip
    for m in models:
        for name in m.model_fields:
            assert f"`{name}`" in text, f"{m.__name__}.{name}"
    for enum in (vocab.Check, vocab.System, vocab.Actor, vocab.ChannelId, vocab.NoteKind, Unit, Bound, Anchor):
        for member in enum:
            assert f"`{member.value}`" in text, f"{enum.__name__}.{member.value}"


def test_docs_show_the_listing_as_the_command_prints_it(capsys):
    assert main(["services"]) == 0
    listing = capsys.readouterr().out.rstrip("\n")
    assert listing in DOC.read_text(encoding="utf-8")
