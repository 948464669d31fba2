"""Mermaid flowcharts generated from a service definition (sans-IO: definition in, text out).

The walk over the definition is ``services.graph``; this module only writes a :class:`~shlyuz.services.graph.Graph`
as Mermaid: processes as boxes, conditions as diamonds with yes/no edges, refusals as terminal stadium nodes, an
inferred edge dotted (``-.->``), a wrapped procedure as a subroutine node; a step list as one path, a decision step as
a diamond, a step's rule as a note with the alternative edges it opens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shlyuz.services.graph import Edge, Graph, Node, graphs
from shlyuz.services.model import Channel, Service, Step
from shlyuz.services.vocab import ChannelId

LABEL_MAX = 70


@dataclass(frozen=True)
class Diagram:
    """One flowchart: what it shows (``title``) and its Mermaid source."""

    channel: ChannelId
    title: str
    source: str


def _label(text: str, limit: int = LABEL_MAX) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def _node(n: Node) -> str:
    dur = f" ({n.duration})" if n.duration else ""
    if n.kind == "unnumbered":
        return f'  {n.id}["{n.head} {_label(n.text)}"]'
    if n.kind == "condition":
        return f'  {n.id}{{"{n.head}: {_label(n.text, 50)}{dur}"}}'
    if n.kind == "process":
        return f'  {n.id}["{n.head}: {_label(n.text)}{dur}"]'
    if n.kind in ("step", "decision"):
        text = f"{n.head} {n.actor}: {_label(n.text, 55)}{dur}"
        return f'  {n.id}{{"{text}"}}' if n.kind == "decision" else f'  {n.id}["{text}"]'
    if n.kind == "refusal":
        return f'  {n.id}(["{n.head}: {_label(n.text, 50)}"])'
    if n.kind == "note":
        return f'  {n.id}>"{n.head}: {_label(n.text, 90)}"]'
    return f"  {n.id}([{n.head}])"  # start, end


def _edge(g: Graph, e: Edge) -> str:
    if e.src == "START" and g.kind == "chain":
        return f"  START([start]) --> {e.dst}"
    if e.kind == "forms":
        return f"  {e.src} -.-|forms| {e.dst}"
    if e.kind == "wraps":
        return f"  {e.src} -.- {e.dst}[[{g.nodes[e.dst].head}]]"
    if e.kind == "rule":
        return f"  {e.src} -.- {e.dst}"
    arrow = "-.->" if e.inferred else "-->"
    return f"  {e.src} {arrow}{f'|{e.label}|' if e.label else ''} {e.dst}"


def flowchart(g: Graph) -> str:
    lines = ["flowchart TD"]
    if g.kind == "chain":
        lines += [_node(n) for n in g.nodes.values() if n.kind in ("process", "condition", "unnumbered")]
        lines += [_edge(g, e) for e in g.edges]
        lines += [_node(n) for n in g.nodes.values() if n.kind == "refusal"]
        if "END" in g.nodes:
            lines.append("  END([end])")
        return "\n".join(lines) + "\n"
    steps = [n for n in g.nodes.values() if n.kind in ("step", "decision")]
    lines += [_node(n) for n in steps]
    lines.append("  " + " --> ".join(["START([start])", *(n.id for n in steps), "END([end])"]))
    lines += [_node(n) for n in g.nodes.values() if n.kind in ("note", "refusal")]
    lines += [_edge(g, e) for e in g.edges if e.kind == "rule" or e.inferred]
    return "\n".join(lines) + "\n"


def chain_flowchart(service: Service, channel: Channel) -> str:
    """The numbered processes and conditions of one channel."""
    from shlyuz.services.graph import chain_graph

    return flowchart(chain_graph(service, channel))


def steps_flowchart(steps: list[Step], service: Service) -> str:
    """A numbered step list of ``service``: one box per step (actor, duration), in order; a decision step is a
    diamond with its refusal; a step's rules as notes."""
    from shlyuz.services.graph import steps_graph

    return flowchart(steps_graph(service, ChannelId.PROVIDER, steps, "", "steps"))


def diagrams(service: Service, channel: ChannelId | str | None = None) -> list[Diagram]:
    """All flowcharts of a service, or of one channel: its chain, its step list, then the procedures it runs."""
    return [Diagram(g.channel, g.title, flowchart(g)) for g in graphs(service, channel)]


def render(service: Service, channel: ChannelId | str | None = None) -> str:
    """Markdown-ready text: a heading and a ```mermaid block per diagram."""
    parts = []
    for d in diagrams(service, channel):
        parts.append(f"%% {d.title}\n```mermaid\n{d.source}```\n")
    return "\n".join(parts)
