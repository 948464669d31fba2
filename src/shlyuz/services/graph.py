"""The flowchart of a channel, as data: the one walk over a definition that both renderers draw (sans-IO).

``services.mermaid`` turns a :class:`Graph` into Mermaid text, ``services.dot`` into Graphviz DOT (and SVG). A chain
graph has the numbered processes (boxes) and conditions (diamonds, yes/no edges), unnumbered items, refusals as end
nodes, ``start``/``end``; an edge the text does not state (``inferred``) is drawn dashed; a condition that stands for
the provider's procedure links to it (``wraps``) and carries that procedure as a sub-graph. A step-list graph has the
numbered steps in order (a decision step is a diamond). A step's rules (``services.rulespec``) add a note node and,
for annex 4's fee window and pickup, the alternative edges they open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from shlyuz.services.model import ChainItem, Channel, Service, Step
from shlyuz.services.rulespec import (
    FeeWindow,
    MissingDocuments,
    Pickup,
    RepeatApplication,
    Rule,
    SubFlows,
)
from shlyuz.services.vocab import ChannelId

NodeKind = Literal["start", "end", "process", "condition", "unnumbered", "refusal", "procedure", "step", "decision", "note"]
EdgeKind = Literal["flow", "forms", "wraps", "rule"]


@dataclass(frozen=True)
class Node:
    id: str
    kind: NodeKind
    head: str  # "1 процесс", "2 шарт", "3)", "4.", "refusal R_X", "start"
    text: str = ""  # what it does (English)
    duration: str | None = None  # human form, None when the regulation states none
    actor: str | None = None
    inferred: bool = False


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    label: str | None = None
    kind: EdgeKind = "flow"
    inferred: bool = False


@dataclass
class Graph:
    channel: ChannelId
    kind: Literal["chain", "steps"]
    title: str
    slug: str  # a file-name part: "chain", "steps", "procedure-issue"
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    subgraphs: dict[str, Graph] = field(default_factory=dict)  # a wrapped procedure, by the PROC node's id

    def add(self, node: Node) -> str:
        self.nodes.setdefault(node.id, node)
        return node.id

    def link(self, src: str, dst: str, label: str | None = None, kind: EdgeKind = "flow", inferred: bool = False) -> None:
        self.edges.append(Edge(src, dst, label, kind, inferred))


def target_id(target: str) -> str:
    if target == "end":
        return "END"
    kind, ref = target.split(" ", 1)
    return {"process": "P", "condition": "C", "refusal": "X_"}[kind] + ref


def item_id(item: ChainItem) -> str:
    return f"U{item.item}" if item.kind == "unnumbered" else target_id(item.label)


def _duration(d) -> str | None:
    return None if d.unit.value == "not_stated" else d.human()


def chain_graph(service: Service, channel: Channel) -> Graph:
    g = Graph(channel.id, "chain", f"{service.id} / {channel.id.value}: chain ({channel.paragraph})", "chain")
    by_code = {r.code: r for r in service.refusals}
    for item in channel.chain:
        if item.kind == "unnumbered":
            g.add(Node(item_id(item), "unnumbered", f"{item.item})", item.en, _duration(item.duration), inferred=item.inferred))
        else:
            word = "шарт" if item.kind == "condition" else "процесс"
            g.add(Node(item_id(item), item.kind, f"{item.number} {word}", item.en, _duration(item.duration),
                       inferred=item.inferred))  # fmt: skip
    g.add(Node("START", "start", "start"))
    g.link("START", target_id(channel.start) if channel.start else item_id(channel.chain[0]))

    def to(target: str) -> str:
        nid = target_id(target)
        if target == "end":
            g.add(Node("END", "end", "end"))
        elif target.startswith("refusal "):
            code = target[8:]
            g.add(Node(nid, "refusal", f"refusal {code}", by_code[code].en, inferred=by_code[code].inferred))
        return nid

    for item in channel.chain:
        src = item_id(item)
        if item.kind == "condition":
            assert item.if_yes is not None and item.if_no is not None
            g.link(src, to(item.if_yes), "yes", inferred=item.inferred)
            g.link(src, to(item.if_no), "no", inferred=item.inferred)
        else:
            assert item.next is not None
            if item.refusal and item.next == "end":
                g.link(src, to(f"refusal {item.refusal}"), inferred=item.inferred)
            else:
                if item.refusal:
                    g.link(src, to(f"refusal {item.refusal}"), "forms", "forms")
                g.link(src, to(item.next), inferred=item.inferred)
        if item.wraps_procedure:
            pid = item.wraps_procedure
            proc = service.procedure(pid)
            nid = g.add(Node(f"PROC_{pid.replace('-', '_')}", "procedure", f"procedure {pid}", proc.title))
            g.link(src, nid, kind="wraps")
            g.subgraphs[nid] = steps_graph(service, channel.id, proc.steps, f"procedure {pid} ({proc.title})",
                                           f"procedure-{pid}", prefix=f"{nid}_", procedure=pid)  # fmt: skip
    # refusal and end nodes last, in order of first use (how the Mermaid text has always listed them)
    order = {"refusal": 1, "end": 2}
    g.nodes = dict(sorted(g.nodes.items(), key=lambda kv: order.get(kv[1].kind, 0)))
    return g


def steps_graph(service: Service, channel: ChannelId, steps: list[Step], title: str, slug: str, prefix: str = "",
                procedure: str | None = None) -> Graph:  # fmt: skip
    """A numbered step list. Outside a chain (``prefix`` empty) a decision step's refusal ends the run: an
    inferred "refuse" edge to the refusal the engine uses by default (:meth:`Service.default_refusal`)."""
    g = Graph(channel, "steps", title, slug)
    previous, label = g.add(Node(f"{prefix}START", "start", "start")), None
    for s in steps:
        number = "/".join(str(n) for n in (s.number, *s.merged_numbers))
        nid = g.add(Node(f"{prefix}S{s.number}", "decision" if s.decision else "step", f"{number}.", s.action,
                         s.duration.human(), actor=s.actor.value, inferred=s.inferred))  # fmt: skip
        g.link(previous, nid, label)
        previous, label = nid, None
        if s.decision and not prefix:
            code = service.default_refusal(procedure, s.number)
            ground = next((r for r in service.refusals if r.code == code), None)
            xid = g.add(Node(f"X_{code}", "refusal", f"refusal {code}", ground.en if ground else "motivated refusal",
                             inferred=ground.inferred if ground else True))  # fmt: skip
            g.link(nid, xid, "refuse", inferred=True)
            label = "approve"
    # inside a chain the procedure's end answers the wrapping condition (its decision gives yes or no)
    g.add(Node(f"{prefix}END", "end", "end" if not prefix else "end: answers the condition"))
    g.link(previous, f"{prefix}END", label)
    for s in steps:
        for k, rule in enumerate(s.rules):
            _rule(service, g, f"{prefix}S{s.number}", rule, k, prefix)
    return g


def rule_text(rule: Rule) -> str:
    """One line saying what a rule does (diagram notes and the docs pages)."""
    if isinstance(rule, RepeatApplication):
        changes = ", ".join({"residence": "residence", "family": "family composition", "income": "income"}[c] for c in rule.reinspect_on)
        return f"repeat application within a calendar year: new inspection only if {changes} changed"
    if isinstance(rule, FeeWindow):
        return f"fee proof due within {rule.window.human()}; otherwise {rule.on_missed}"
    if isinstance(rule, Pickup):
        return (f"not collected within {rule.timeout.human()}: hand-over {rule.handover.human()}, then step "
                f"{rule.posting_step} posts it; collected: no posting")  # fmt: skip
    if isinstance(rule, MissingDocuments):
        return f"documents missing ({' / '.join(rule.cases)}): decision within {rule.deadline.human()} of acceptance"
    assert isinstance(rule, SubFlows)
    flows = "; ".join(f"{f.id}: {' + '.join(d.human() for d in f.durations)}" for f in rule.flows)
    ext = f"; +{rule.extension.human()} for extra checks" if rule.extension else ""
    return f"sub-flows — {flows}{ext}"


def _rule(service: Service, g: Graph, src: str, rule: Rule, k: int, prefix: str) -> None:
    note = g.add(Node(f"{src}_R{k}", "note", f"rule {rule.kind}", rule_text(rule), inferred=bool(rule.inferred)))
    g.link(src, note, kind="rule")
    if isinstance(rule, FeeWindow):
        code = rule.on_missed
        refusal = next(r for r in service.refusals if r.code == code)
        nid = g.add(Node(f"{prefix}X_{code}", "refusal", f"refusal {code}", refusal.en, inferred=refusal.inferred))
        g.link(src, nid, f"no fee proof in {rule.window.human()}", inferred=True)
    elif isinstance(rule, Pickup):
        g.link(src, f"{prefix}END", f"collected within {rule.timeout.human()}", inferred=True)
        post = f"{prefix}S{rule.posting_step}"
        for i, e in enumerate(g.edges):  # the stated way on: not collected, handed over, posted
            if e.src == src and e.dst == post and e.kind == "flow":
                g.edges[i] = Edge(src, post, f"not collected: after {rule.timeout.human()} + hand-over", "flow", e.inferred)


def graphs(service: Service, channel: ChannelId | str | None = None) -> list[Graph]:
    """Every flowchart of a service, or of one channel: its chain, its step list, then the procedures it runs
    (when it has neither chain nor step list)."""
    channels = [service.channel(channel)] if channel is not None else list(service.channels)
    out: list[Graph] = []
    for ch in channels:
        head = f"{service.id} / {ch.id.value}"
        if ch.chain:
            out.append(chain_graph(service, ch))
        if ch.steps:
            out.append(steps_graph(service, ch.id, ch.steps, f"{head}: steps ({ch.paragraph})", "steps"))
        if not ch.chain and not ch.steps:
            for pid in ch.procedures:
                proc = service.procedure(pid)
                out.append(steps_graph(service, ch.id, proc.steps, f"{head}: procedure {pid} ({proc.title})",
                                       f"procedure-{pid}", procedure=pid))  # fmt: skip
    return out
