"""SVG diagrams (Graphviz DOT from the same graph model as the Mermaid text) and the generated docs/services/ pages:
the committed pages and DOT sources are what the definitions give, every diagram has its SVG, and a page says what the
definition says (numbers, durations, refusals, inferences, defects, rules)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from shlyuz.cli import main
from shlyuz.services import docs as D
from shlyuz.services.dot import DotError, dot_source, render
from shlyuz.services.graph import graphs
from shlyuz.services.loader import ServiceCatalogue
from shlyuz.services.mermaid import diagrams


@pytest.fixture(scope="module")
def catalogue() -> ServiceCatalogue:
    return ServiceCatalogue.load()


def _nodes(src: str) -> dict[str, str]:
    """node id -> its attribute list, from a DOT source."""
    return {m[1]: m[2] for m in re.finditer(r"^\s+(\w+) \[(.*)\];$", src, re.MULTILINE) if " -> " not in m[0]}


def _edges(src: str) -> list[tuple[str, str, str]]:
    return [(m[1], m[2], m[3] or "") for m in re.finditer(r"^\s+(\w+) -> (\w+)(?: \[(.*)\])?;$", src, re.MULTILINE)]


def test_mermaid_and_dot_draw_the_same_graph(catalogue):
    for s in catalogue:
        for g, d in zip(graphs(s), diagrams(s), strict=True):
            assert g.title == d.title
            src = dot_source(g)
            for n in g.nodes.values():
                if n.kind not in ("start", "end", "procedure"):
                    assert re.search(rf"^\s+{n.id} \[", src, re.MULTILINE) or n.id in d.source, (s.id, n.id)


def test_chain_dot_conditions_are_diamonds_with_yes_no_and_inferred_edges_dashed(catalogue):
    s = catalogue.get("child-allowance")
    [chain] = [g for g in graphs(s, "state-corp") if g.kind == "chain"]
    src = dot_source(chain)
    nodes, edges = _nodes(src), _edges(src)
    assert "shape=diamond" in nodes["C1"] and "shape=diamond" in nodes["C2"]
    assert "shape=diamond" not in nodes["P1"]
    assert r"1 шарт\n" in nodes["C1"] and "[1 min]" in nodes["C1"]  # number and duration on the node
    yes = next(a for x, y, a in edges if (x, y) == ("C1", "P5"))
    no = next(a for x, y, a in edges if (x, y) == ("C1", "P4"))
    assert 'label="yes"' in yes and 'label="no"' in no and "style=dashed" in yes  # branches inferred
    assert "style=dashed" not in next(a for x, y, a in edges if (x, y) == ("P1", "P2"))  # stated order: solid
    # refusals are end nodes: double border, no way out
    assert "peripheries=2" in nodes["X_R_DATA_UNAVAILABLE"]
    assert not [e for e in edges if e[0] == "X_R_DATA_UNAVAILABLE"]
    # the wrapped procedure is drawn inside the diagram, its steps with their durations
    assert "subgraph cluster_PROC_main {" in src
    assert "lhead=cluster_PROC_main" in next(a for x, y, a in edges if x == "C2" and y.startswith("PROC_main_"))
    assert "[3 WD]" in nodes["PROC_main_S4"] and "rule repeat_application" in nodes["PROC_main_S4_R0"]


def test_provider_steps_dot_decision_refuses_to_its_ground(catalogue):
    s = catalogue.get("wheelchairs")
    [g] = graphs(s, "provider")
    src = dot_source(g)
    nodes, edges = _nodes(src), _edges(src)
    assert "shape=diamond" in nodes["S4"]
    refuse = [(y, a) for x, y, a in edges if x == "S4" and 'label="refuse"' in a]
    assert refuse and refuse[0][0].startswith("X_") and "style=dashed" in refuse[0][1]
    assert 'label="approve"' in next(a for x, y, a in edges if (x, y) == ("S4", "S5"))


def test_rule_edges_are_drawn(catalogue):
    s = catalogue.get("foreign-labour-permits")
    issue = next(g for g in graphs(s, "provider") if g.slug == "procedure-issue")
    edges = _edges(dot_source(issue))
    assert any(x == "S13" and y == "X_R_FEE_NOT_PAID" for x, y, _ in edges)
    assert any(x == "S13" and y == "END" and "collected within 2 WD" in a for x, y, a in edges)


def test_diagram_svg_command_writes_one_svg_per_diagram(tmp_path: Path, capsys):
    assert main(["diagram", "child-allowance", "--svg", "--out", str(tmp_path)]) == 0
    written = capsys.readouterr().out.split()
    names = sorted(Path(p).name for p in written)
    assert names == ["child-allowance--provider--procedure-main.svg", "child-allowance--state-corp--chain.svg",
                     "child-allowance--state-corp--steps.svg"]  # fmt: skip
    svg = (tmp_path / "child-allowance--state-corp--chain.svg").read_text(encoding="utf-8")
    assert re.search(r'<svg width="\d+pt" height="\d+pt"', svg) and svg.rstrip().endswith("</svg>")
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)  # graphviz writes one <text> per label line
    assert "1 шарт" in texts and "refusal R_DATA_UNAVAILABLE" in texts and any("procedure main" in t for t in texts)


def test_diagram_dot_command_and_missing_graphviz(tmp_path: Path, capsys, monkeypatch):
    assert main(["diagram", "wheelchairs", "--dot"]) == 0
    assert capsys.readouterr().out.startswith("// wheelchairs / provider: procedure main")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(DotError, match="apt-get install graphviz"):
        render("digraph x {}")
    assert main(["diagram", "wheelchairs", "--svg", "--out", str(tmp_path)]) == 1
    assert "Graphviz `dot` is not installed" in capsys.readouterr().err


# -- docs/services/ ----------------------------------------------------------------------------------------------
def test_committed_pages_and_dot_sources_are_up_to_date():
    problems = D.stale(D.docs_dir(), D.expected(ServiceCatalogue.load()))
    assert not problems, f"{problems[:5]} — regenerate with: python -m shlyuz.services.docs"


def test_services_docs_check_command(capsys):
    assert main(["services", "docs", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_a_stale_or_stray_file_is_reported(tmp_path: Path):
    files = {"a.md": "x\n", "diagrams/b.dot": "digraph b {}\n"}
    (tmp_path / "diagrams").mkdir()
    (tmp_path / "a.md").write_text("old\n")
    (tmp_path / "diagrams" / "b.dot").write_text("digraph b {}\n")
    (tmp_path / "stray.md").write_text("x")
    assert D.stale(tmp_path, files) == ["a.md: differs", "diagrams/b.svg: missing", "stray.md: not generated any more"]


def test_every_page_embeds_its_diagrams_and_the_index_lists_every_service(catalogue):
    out = D.docs_dir()
    readme = (out / "README.md").read_text(encoding="utf-8")
    for s in catalogue:
        text = (out / f"{s.id}.md").read_text(encoding="utf-8")
        for ref in re.findall(r"\]\((diagrams/[^)]+\.svg)\)", text):
            assert (out / ref).is_file(), ref
        assert len(re.findall(r"!\[", text)) == len(graphs(s))
        assert f"]({s.id}.md)" in readme


def test_page_says_what_the_definition_says(catalogue):
    text = (D.docs_dir() / "foreign-labour-permits.md").read_text(encoding="utf-8")
    assert "| 13 | labour_migration_specialist |" in text and "fee window" in text  # numbers, timers
    assert "| `R_FEE_NOT_PAID` |" in text and "| yes |" in text  # the inferred ground is marked
    assert "**`fee_window`** on procedure `issue` step 13" in text and "**`pickup`** on procedure `extend` step 9" in text
    assert "## What was inferred" in text and "rule `fee_window`" in text
    s = catalogue.get("foreign-labour-permits")
    for n in s.notes:  # every defect of the seed is on the page
        assert D._c(n.text) in text
    semey = (D.docs_dir() / "semey-test-site-victims.md").read_text(encoding="utf-8")
    assert "| 2/3 |" in semey  # the merged numbering stays visible
