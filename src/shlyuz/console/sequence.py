"""A chain run as a sequence diagram, in SVG (sans-IO: a run record in, an SVG string out).

The run record is what ``GET /chains/runs/{run}`` answers (``id``, ``service``, ``status``, ``waitingFor``, ``trace``
as :meth:`shlyuz.chains.trace.Trace.to_json` gives it). Columns are the systems (lifelines): the applicant, the
portal, the State Corporation's workstation, SHEP, the PKI checks, GBD FL, ENIS, E-sobes, E-licensing, АРМ РШЭП and
the provider's people. Each step of the trace is one row, numbered as the regulation numbers it (``P3`` process 3,
``C1`` condition 1, ``S4`` step 4 of the provider's procedure, ``I1`` an unnumbered item): a message a step sent over
SHEP is an arrow from the step's first system to the one it called, red when it failed; a step without messages is an
activation box across the systems it touches. A condition shows the branch taken (yes / no), a decision step
approve / refuse; a run that waits for a person's decision ends with a highlighted row. Under the diagram, a timeline
of simulated time: each step as a bar, and the regulation's deadlines as markers (met or missed).

All text is escaped (``xml.sax.saxutils``); nothing of the record is put into the SVG unescaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

# lane id -> (label, systems of the trace drawn on it)
LANES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("applicant", "Applicant", ("applicant",)),
    ("portal", "Portal (egov.kz)", ("portal",)),
    ("state-corp", "State Corporation (АРМ ИИС ЦОН)", ("arm-con", "state-corp", "electronic-queue", "sc-is")),
    ("shep", "SHEP (ШЭП)", ("shep",)),
    ("pki", "PKI / EDS check", ("pki",)),
    ("gbdfl", "GBD FL", ("gbdfl",)),
    ("enis", "ENIS", ("enis",)),
    ("esobes", "E-sobes", ("esobes",)),
    ("elicensing", "E-licensing", ("elicensing",)),
    ("arm-rshep", "АРМ РШЭП", ("arm-rshep",)),
    ("provider", "Provider", ("provider", "ais-unnamed")),
)
# always drawn, used or not: every application crosses the gateway (the others are drawn when the run uses them, so
# that a run's diagram fits the page: eleven lanes would not)
CORE_LANES = ("shep",)
LANE_OF = {system: lane for lane, _, systems in LANES for system in systems}
# systems reached through SHEP (a call to them is drawn via the SHEP lifeline)
VIA_SHEP = {"gbdfl", "enis", "esobes", "elicensing", "arm-rshep"}
# where a channel's own work happens: the sender of a step's messages when the step names only the called systems
HOME_LANE = {"state-corp": "state-corp", "portal": "portal", "provider": "arm-rshep"}

LANE_W = 118
GUTTER = 210  # left: step number, ref, simulated time
TOP = 70
HEAD_H = 40
ROW_H = 46
TEXT_MAX = 70
FONT = "DejaVu Sans, Arial, sans-serif"
DEFS = (
    "<defs>"
    '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
    '<path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker>'
    '<marker id="arrow-bad" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
    '<path d="M0,0 L10,5 L0,10 z" fill="#c2261d"/></marker>'
    "</defs>"
)


@dataclass(frozen=True)
class Row:
    ref: str
    tag: str  # P3, C1, S4, I1
    kind: str
    text: str
    lanes: tuple[str, ...]
    calls: tuple[Mapping[str, Any], ...]
    branch: str | None
    duration: str
    started_at: datetime | None
    ended_at: datetime | None
    overdue: bool
    inferred: bool


def _e(text: Any) -> str:
    return escape(str(text))


def _a(text: Any) -> str:
    return quoteattr(str(text))


def _cut(text: str, limit: int = TEXT_MAX) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def tag(step: Mapping[str, Any]) -> str:
    """The short number of a step: ``P3`` (process 3), ``C1`` (condition 1), ``S4`` (a numbered step), ``I1``."""
    ref = str(step.get("ref", ""))
    number = step.get("number")
    kind = step.get("kind")
    last = ref.rsplit(" ", 1)[-1]
    if kind == "process":
        return f"P{number}"
    if kind == "condition":
        return f"C{number}"
    if kind == "step":
        return f"S{number if number is not None else last}"
    return f"I{last}" if last.isdigit() else "•"


def _lanes_of(step: Mapping[str, Any], channel: str | None) -> tuple[str, ...]:
    out: list[str] = []
    for system in step.get("systems") or ():
        lane = LANE_OF.get(str(system))
        if lane and lane not in out:
            out.append(lane)
    if not out:  # a provider procedure's step (its actor is a person at the provider), or an unmapped system
        out.append("provider" if step.get("kind") == "step" or channel == "provider" else "state-corp")
    return tuple(out)


def rows(trace: Mapping[str, Any]) -> list[Row]:
    channel = trace.get("channel")
    out = []
    for step in trace.get("steps") or ():
        out.append(Row(
            ref=str(step.get("ref", "")), tag=tag(step), kind=str(step.get("kind", "")), text=str(step.get("text", "")),
            lanes=_lanes_of(step, channel), calls=tuple(c for c in step.get("calls") or () if isinstance(c, Mapping)),
            branch=step.get("branch"), duration=str(step.get("duration", "")),
            started_at=_when(step.get("started_at")), ended_at=_when(step.get("ended_at")),
            overdue=bool(step.get("overdue")), inferred=bool(step.get("inferred")),
        ))  # fmt: skip
    return out


def participants(trace: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The lifelines drawn for ``trace``: SHEP, and the systems the run's steps and calls use, in LANES order."""
    used = {lane for row in rows(trace) for lane in row.lanes}
    for row in rows(trace):
        for call in row.calls:
            used.add(LANE_OF.get(str(call.get("system")), "shep"))
            if str(call.get("system")) in VIA_SHEP:
                used.add("shep")
    return [(lane, label) for lane, label, _ in LANES if lane in CORE_LANES or lane in used]


def _fmt(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M") if dt else ""


def _branch_style(branch: str | None) -> tuple[str, str]:
    if branch in ("yes", "approve"):
        return "#1a7f37", "#dafbe1"
    if branch in ("no", "refuse"):
        return "#c2261d", "#ffebe9"
    return "#555", "#eee"


def sequence_svg(run: Mapping[str, Any]) -> str:
    """The SVG of a chain run record (see the module doc)."""
    trace: Mapping[str, Any] = run.get("trace") or {}
    lanes = participants(trace)
    x_of = {lane: GUTTER + LANE_W * i + LANE_W // 2 for i, (lane, _) in enumerate(lanes)}
    body = rows(trace)
    waiting = run.get("status") == "waiting"
    n_rows = len(body) + (1 if waiting else 0) + (1 if trace.get("outcome") else 0)
    width = GUTTER + LANE_W * len(lanes) + 90  # room for a branch mark beside the last lane
    diagram_bottom = TOP + HEAD_H + 12 + ROW_H * n_rows + 10
    timeline = _timeline(trace, body, x0=GUTTER, width=width - GUTTER - 30, y=diagram_bottom + 30)
    height = diagram_bottom + 30 + timeline[1] + 20
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family={_a(FONT)} font-size="11" data-run={_a(run.get("id", ""))}>'
    )
    out: list[str] = [head, DEFS, '<rect width="100%" height="100%" fill="#fff"/>']
    title = f"{run.get('service', trace.get('service', ''))} — {trace.get('channel', '')}"
    if trace.get("procedure"):
        title += f" (procedure {trace.get('procedure')})"
    status = str(run.get("status", trace.get("status", "")))
    summary = f"run {run.get('id', '')} · {status}"
    if trace.get("outcome"):
        summary += f" · outcome {trace.get('outcome')}"
    if run.get("waitingFor"):
        summary += f" · waiting for {run.get('waitingFor')}"
    out.append(f'<text x="12" y="24" font-size="15" font-weight="bold" class="title">{_e(title)}</text>')
    out.append(f'<text x="12" y="44" font-size="12" fill="#555" class="summary">{_e(summary)}</text>')
    # lifelines
    for lane, label in lanes:
        x = x_of[lane]
        out.append(f'<g class="participant" data-lane={_a(lane)}>')
        out.append(f'<rect x="{x - LANE_W // 2 + 4}" y="{TOP}" width="{LANE_W - 8}" height="{HEAD_H - 6}" rx="4" '
                   f'fill="#eef1f6" stroke="#8a97ad"/>')  # fmt: skip
        words = _split_label(label)
        for k, line in enumerate(words):
            y = TOP + (HEAD_H - 6) / 2 + 4 + (k - (len(words) - 1) / 2) * 12
            out.append(f'<text x="{x}" y="{y:.0f}" text-anchor="middle" font-weight="bold">{_e(line)}</text>')
        out.append(f'<line x1="{x}" y1="{TOP + HEAD_H - 6}" x2="{x}" y2="{diagram_bottom}" stroke="#b5bfcf" '
                   f'stroke-dasharray="4 3"/>')  # fmt: skip
        out.append("</g>")
    y = TOP + HEAD_H + 12
    for row in body:
        out += _row(row, x_of, y, trace.get("channel"))
        y += ROW_H
    if waiting:
        x1, x2 = GUTTER + 4, width - 24
        out.append(f'<g class="waiting"><rect x="{x1}" y="{y + 4}" width="{x2 - x1}" height="{ROW_H - 10}" rx="5" '
                   f'fill="#fff8c5" stroke="#9a6700"/>'
                   f'<text x="{x1 + 10}" y="{y + ROW_H / 2 + 4:.0f}" fill="#9a6700" font-weight="bold">'
                   f'{_e("waiting for a decision: " + str(run.get("waitingFor") or ""))}</text></g>')  # fmt: skip
        y += ROW_H
    if trace.get("outcome"):
        refusal = trace.get("refusal") or {}
        text = f"outcome: {trace.get('outcome')}"
        if refusal:
            text += f" — refusal {refusal.get('code', '')}: {_cut(str(refusal.get('text', '')), 90)}"
        colour = "#c2261d" if trace.get("outcome") == "refusal" else "#1a7f37"
        out.append(f'<g class="outcome"><text x="12" y="{y + ROW_H / 2 + 4:.0f}" fill="{colour}" font-weight="bold">'
                   f'{_e(text)}</text></g>')  # fmt: skip
    out += timeline[0]
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _split_label(label: str) -> list[str]:
    if len(label) <= 17:
        return [label]
    cut = label.rfind(" ", 0, 18)
    if cut <= 0:
        return [label[:17], label[17:34]]
    return [label[:cut], _cut(label[cut + 1 :], 18)]


def _row(row: Row, x_of: Mapping[str, int], y: int, channel: str | None) -> list[str]:
    out = [f'<g class="step" data-ref={_a(row.ref)} data-kind={_a(row.kind)}>', f"<title>{_e(row.ref)}: {_e(row.text)}</title>"]
    mid = y + ROW_H // 2
    # gutter: number badge, ref, time
    badge_fill = {"condition": "#fff3d6", "step": "#e7f0ff", "process": "#eef1f6"}.get(row.kind, "#f4f4f4")
    out.append(f'<rect x="8" y="{y + 6}" width="34" height="18" rx="9" fill="{badge_fill}" stroke="#8a97ad"/>')
    out.append(f'<text x="25" y="{y + 19}" text-anchor="middle" font-weight="bold" class="num">{_e(row.tag)}</text>')
    out.append(f'<text x="48" y="{y + 19}" font-weight="bold">{_e(_cut(row.ref, 26))}</text>')
    clock = _fmt(row.started_at)
    dur = row.duration if row.duration and row.duration != "not_stated" else "no duration stated"
    out.append(f'<text x="48" y="{y + 33}" fill="#667085" font-size="10">{_e(clock)} · {_e(_cut(dur, 18))}'
               f'{" · overdue" if row.overdue else ""}</text>')  # fmt: skip
    xs = [x_of[lane] for lane in row.lanes if lane in x_of]
    targets = {x_of.get(LANE_OF.get(str(c.get("system", "")), "")) for c in row.calls}
    passive = {x_of.get(lane) for lane in ("shep", "pki", *VIA_SHEP)}
    senders = [x for x in xs if x not in targets and x not in passive]
    home = x_of.get(HOME_LANE.get(channel or "", ""))
    origin = senders[0] if senders else home if home is not None else xs[0] if xs else GUTTER + LANE_W // 2
    right = max(x_of.values(), default=GUTTER) + LANE_W // 2 - 4
    label_y = y + 13
    if row.calls:
        for k, call in enumerate(row.calls[:3]):
            system = str(call.get("system", ""))
            target = x_of.get(LANE_OF.get(system, ""), origin)
            ok = bool(call.get("ok"))
            colour, marker = ("#333", "arrow") if ok else ("#c2261d", "arrow-bad")
            cy = y + 24 + k * 7
            via = x_of.get("shep") if system in VIA_SHEP and "shep" in x_of and origin != x_of.get("shep") else None
            if via is not None and target != via:
                out.append(f'<circle cx="{via}" cy="{cy}" r="3" fill="{colour}"/>')
            if target != origin:
                out.append(f'<line x1="{origin}" y1="{cy}" x2="{target}" y2="{cy}" stroke="{colour}" stroke-width="1.4" '
                           f'marker-end="url(#{marker})" class="message" data-system={_a(system)} data-ok="{str(ok).lower()}"/>')  # fmt: skip
            else:
                out.append(f'<path d="M{origin},{cy} h18 v6 h-16" fill="none" stroke="{colour}" marker-end="url(#{marker})" '
                           f'class="message" data-system={_a(system)} data-ok="{str(ok).lower()}"/>')  # fmt: skip
        first = row.calls[0]
        label = f"{first.get('service_id') or first.get('action', '')}"
        if not first.get("ok"):
            label += " ✗"
        if len(row.calls) > 1:
            label += f" (+{len(row.calls) - 1})"
        lx = (origin + x_of.get(LANE_OF.get(str(first.get("system", "")), ""), origin)) / 2
        out.append(_label(_cut(label, 40), lx, label_y, right))
    else:
        x1, x2 = (min(xs), max(xs)) if xs else (origin, origin)
        fill = "#fff3d6" if row.kind == "condition" else "#e7f0ff"
        out.append(f'<rect x="{x1 - 40}" y="{y + 18}" width="{x2 - x1 + 80}" height="14" rx="3" fill="{fill}" '
                   f'stroke="#8a97ad" stroke-dasharray="{"3 2" if row.inferred else "0"}" class="activation"/>')  # fmt: skip
        for x in xs:
            out.append(f'<circle cx="{x}" cy="{y + 25}" r="2.5" fill="#1f5fbf"/>')
        out.append(_label(_cut(row.text, 46 + (x2 - x1) // 7), (x1 + x2) / 2, label_y, right))
    if row.branch:
        stroke, fill = _branch_style(row.branch)
        bx = max(xs) + 46 if xs else origin + 46
        out.append(f'<g class="branch" data-branch={_a(row.branch)}>'
                   f'<path d="M{bx},{mid - 9} l9,9 l-9,9 l-9,-9 z" fill="{fill}" stroke="{stroke}"/>'
                   f'<text x="{bx + 13}" y="{mid + 4}" fill="{stroke}" font-weight="bold">{_e(row.branch)}</text></g>')  # fmt: skip
    out.append(f'<line x1="8" y1="{y + ROW_H - 1}" x2="{max(x_of.values(), default=GUTTER) + LANE_W // 2}" '
               f'y2="{y + ROW_H - 1}" stroke="#f0f2f5"/>')  # fmt: skip
    out.append("</g>")
    return out


def _label(text: str, centre: float, y: int, right: float) -> str:
    """A label centred on ``centre`` but kept inside the lanes (about 6 px a character at 11 px)."""
    half = len(text) * 3.1
    x = min(max(centre, GUTTER + half), right - half)
    return f'<text x="{x:.0f}" y="{y}" text-anchor="middle" class="label">{_e(text)}</text>'


def _timeline(trace: Mapping[str, Any], body: Sequence[Row], *, x0: int, width: int, y: int) -> tuple[list[str], int]:
    """Simulated time, start to the last step's end (or the latest deadline), with the regulation's deadlines."""
    start = _when(trace.get("started_at"))
    ends = [r.ended_at for r in body if r.ended_at] + [r.started_at for r in body if r.started_at]
    deadlines = [d for d in trace.get("deadlines") or () if isinstance(d, Mapping)]
    dues = [(d, _when(d.get("due"))) for d in deadlines]
    points = [t for t in ends + [due for _, due in dues] if t is not None]
    out = [f'<g class="timeline" transform="translate(0,{y})">',
           '<text x="12" y="0" font-weight="bold">Simulated time</text>']  # fmt: skip
    if start is None or not points:
        out.append('<text x="12" y="18" fill="#667085">no simulated time yet</text></g>')
        return out, 30
    end = max(points + [start])
    span = (end - start).total_seconds() or 1.0

    def x(t: datetime) -> float:
        return x0 + width * max(0.0, min(1.0, (t - start).total_seconds() / span))

    bar_y = 14
    out.append(f'<rect x="{x0}" y="{bar_y}" width="{width}" height="16" fill="#eef1f6" rx="3"/>')
    last = max(ends) if ends else start
    late = bool(trace.get("overdue")) or any(d.get("met") is False for d in deadlines)
    out.append(f'<rect x="{x0}" y="{bar_y}" width="{max(1.0, x(last) - x0):.1f}" height="16" rx="3" '
               f'fill="{"#f5b5b0" if late else "#b7cdf1"}" class="elapsed"/>')  # fmt: skip
    for row in body:  # step boundaries
        if row.started_at:
            out.append(f'<line x1="{x(row.started_at):.1f}" y1="{bar_y}" x2="{x(row.started_at):.1f}" y2="{bar_y + 16}" '
                       f'stroke="#fff" stroke-width="1"/>')  # fmt: skip
    out.append(f'<text x="{x0}" y="{bar_y + 30}" font-size="10" fill="#667085">{_e(_fmt(start))}</text>')
    out.append(f'<text x="{x0 + width}" y="{bar_y + 30}" font-size="10" fill="#667085" text-anchor="end">{_e(_fmt(end))}</text>')
    wd = trace.get("working_days")
    if wd is not None:
        out.append(f'<text x="{x0 + width / 2:.0f}" y="{bar_y + 30}" font-size="10" fill="#667085" text-anchor="middle">'
                   f'{_e(f"{float(wd):.2f} working days simulated")}</text>')  # fmt: skip
    line_y = bar_y + 46
    for k, (d, due) in enumerate(dues):
        if due is None:
            continue
        met = d.get("met")
        label = f"deadline {d.get('total', '')}: due {_fmt(due)}"
        colour = "#1a7f37" if met else "#c2261d" if met is False else "#667085"
        dx = x(due)
        out.append(f'<g class="deadline" data-met="{str(met).lower()}"><line x1="{dx:.1f}" y1="{bar_y - 4}" x2="{dx:.1f}" '
                   f'y2="{line_y + 14 * k - 4}" stroke="{colour}" stroke-width="2"/>'
                   f'<text x="{x0 - 6}" y="{line_y + 14 * k + 6}" text-anchor="end" fill="{colour}" font-size="10">'
                   f'{"met" if met else "missed" if met is False else "n/a"}</text>'
                   f'<text x="{x0}" y="{line_y + 14 * k + 6}" font-size="10" fill="{colour}">'
                   f'{_e(_cut(label, 120))}</text></g>')  # fmt: skip
    out.append("</g>")
    return out, line_y + 14 * len(dues) + 10
