"""Graphviz DOT (and SVG through ``dot``) of a service's flowcharts: the same :class:`~shlyuz.services.graph.Graph`
the Mermaid text is written from.

Drawing conventions (the legend under each diagram says them too): a process is a rounded box, a condition a
diamond with green "yes" and red "no" edges, a refusal a red double-bordered end node, start/end ovals; an edge
the text states is solid, one inferred from the order of the items is dashed; each node carries its number and
the regulation's duration; a condition that stands for the provider's procedure points (dashed, "wraps") into a
box holding that procedure's steps; a step's rule is a yellow note with the alternative edges it opens.

:func:`dot_source` is pure; :func:`render` runs the ``dot`` program (Debian package ``graphviz``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import textwrap

from shlyuz.services.graph import Edge, Graph, Node

FONT = "DejaVu Sans"
WRAP = 34
TEXT_MAX = 150
LEGEND = "solid: order stated by the text · dashed: inferred · diamond: condition / decision · red: refusal · yellow: rule"
FILL = {
    "process": "#e8f1fb", "condition": "#fff4d6", "unnumbered": "#f1f1f1", "refusal": "#fde2e1",
    "step": "#e8f1fb", "decision": "#fff4d6", "note": "#fffbe0", "start": "#dff3e3", "end": "#dff3e3",
    "procedure": "#ffffff",
}  # fmt: skip


class DotError(RuntimeError):
    """``dot`` is missing or failed; the message says which and how to fix it."""


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _wrap(text: str, width: int = WRAP, limit: int = TEXT_MAX) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return "\n".join(textwrap.wrap(text, width)) or " "


def _label(n: Node) -> str:
    dur = f"\n[{n.duration}]" if n.duration else ""
    if n.kind in ("start", "end"):
        return n.head
    if n.kind == "condition":
        return f"{n.head}\n{_wrap(n.text, 26, 80)}{dur}"
    if n.kind == "decision":
        return f"{n.head} {n.actor}\n{_wrap(n.text, 26, 80)}{dur}"
    if n.kind == "step":
        return f"{n.head} {n.actor}\n{_wrap(n.text)}{dur}"
    if n.kind == "refusal":
        return f"{n.head}\n{_wrap(n.text, 30, 110)}"
    if n.kind == "note":
        return f"{n.head}\n{_wrap(n.text, 40, 260)}"
    if n.kind == "procedure":
        return f"{n.head}\n{_wrap(n.text, 40, 120)}"
    return f"{n.head}\n{_wrap(n.text)}{dur}"


def _node(n: Node, indent: str = "  ") -> str:
    attrs = {"label": _q(_label(n)), "fillcolor": _q(FILL[n.kind])}
    if n.kind in ("condition", "decision"):
        attrs["shape"] = "diamond"
        attrs["style"] = '"filled"'
        attrs["margin"] = '"0.02,0.02"'
    elif n.kind in ("start", "end"):
        attrs["shape"] = "oval"
        attrs["style"] = '"filled"'
        if n.kind == "end":
            attrs["peripheries"] = "2"
    elif n.kind == "refusal":
        attrs["peripheries"] = "2"
        attrs["color"] = '"#b3261e"'
        if n.inferred:
            attrs["style"] = '"rounded,filled,dashed"'
    elif n.kind == "note":
        attrs["shape"] = "note"
        attrs["style"] = '"filled"'
        attrs["fontsize"] = "9"
    elif n.kind == "unnumbered":
        attrs["style"] = '"filled"'
    body = ", ".join(f"{k}={v}" for k, v in attrs.items())
    return f"{indent}{n.id} [{body}];"


def _edge(g: Graph, e: Edge, indent: str = "  ") -> str:
    attrs: dict[str, str] = {}
    if e.label:
        attrs["label"] = _q(e.label)
    if e.label in ("yes", "approve"):
        attrs["color"] = attrs["fontcolor"] = '"#1b7f3b"'
    elif e.label in ("no", "refuse"):
        attrs["color"] = attrs["fontcolor"] = '"#b3261e"'
    if e.kind == "forms":
        attrs.update(style="dotted", arrowhead="none", color='"#b3261e"')
    elif e.kind == "rule":
        attrs.update(style="dotted", arrowhead="none", color='"#9a8700"')
    elif e.kind == "wraps":
        sub = g.subgraphs.get(e.dst)
        attrs.update(style="dashed", label=_q("wraps"), color='"#555555"')
        if sub is not None:  # into the procedure's box: to its first step
            attrs["lhead"] = f"cluster_{e.dst}"
            return f"{indent}{e.src} -> {next(iter(sub.nodes))} [{', '.join(f'{k}={v}' for k, v in attrs.items())}];"
    elif e.inferred:
        attrs["style"] = "dashed"
    body = f" [{', '.join(f'{k}={v}' for k, v in attrs.items())}]" if attrs else ""
    return f"{indent}{e.src} -> {e.dst}{body};"


def dot_source(g: Graph) -> str:
    """The DOT text of one flowchart (deterministic: the same definition gives the same bytes)."""
    lines = [
        "digraph shlyuz {",
        (f"  graph [fontname={_q(FONT)}, fontsize=12, labelloc=t, labeljust=l, rankdir=TB, nodesep=0.35, ranksep=0.4, "
         f"compound=true, newrank=true, label={_q(g.title + chr(10) + LEGEND)}];"),
        f"  node [fontname={_q(FONT)}, fontsize=10, shape=box, style=\"rounded,filled\", margin=\"0.12,0.06\"];",
        f"  edge [fontname={_q(FONT)}, fontsize=9];",
    ]
    for nid, n in g.nodes.items():
        if n.kind == "procedure" and nid in g.subgraphs:
            sub = g.subgraphs[nid]
            lines.append(f"  subgraph cluster_{nid} {{")
            lines.append(f"    graph [label={_q(_wrap(n.head + ': ' + n.text, 60, 160))}, style=\"rounded,dashed\", "
                         f"color=\"#555555\", fontsize=10];")  # fmt: skip
            lines += [_node(s, "    ") for s in sub.nodes.values()]
            lines += [_edge(sub, e, "    ") for e in sub.edges]
            lines.append("  }")
        else:
            lines.append(_node(n))
    lines += [_edge(g, e) for e in g.edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(source: str, fmt: str = "svg", *, timeout: float = 60.0) -> bytes:
    """Run ``dot -T<fmt>`` on ``source``. Raises :class:`DotError` when Graphviz is missing or fails."""
    exe = shutil.which("dot")
    if exe is None:
        raise DotError("Graphviz `dot` is not installed (Debian/Ubuntu: apt-get install graphviz)")
    try:
        done = subprocess.run([exe, f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise DotError(f"`dot -T{fmt}` took longer than {timeout:.0f} s") from None
    if done.returncode != 0:
        raise DotError(f"`dot -T{fmt}` failed: {done.stderr.decode('utf-8', 'replace').strip()[:500]}")
    return done.stdout
