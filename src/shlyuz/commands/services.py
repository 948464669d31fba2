"""``shlyuz services`` lists the regulations encoded in fixtures/services/; ``shlyuz services schema`` exports the
JSON Schema of a definition; ``shlyuz services docs`` writes docs/services/; ``shlyuz diagram SERVICE`` prints
Mermaid flowcharts of a service's channels, or writes them as SVG (``--svg``, through Graphviz)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from shlyuz.services.dot import DotError, dot_source
from shlyuz.services.dot import render as render_dot
from shlyuz.services.graph import Graph, graphs
from shlyuz.services.loader import ServiceCatalogue, ServiceDefinitionError
from shlyuz.services.mermaid import render
from shlyuz.services.schema import check_schema, schema_path, write_schema
from shlyuz.services.vocab import ChannelId


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "services", help="list the 15 encoded regulations (annexes, channels) or export their JSON Schema",
        description="List the service definitions of fixtures/services/ (the seed's 15 regulations).",
    )  # fmt: skip
    parser.add_argument("--dir", type=Path, default=None, help="definitions directory (default: fixtures/services)")
    parser.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    parser.set_defaults(func=run_services, services_command=None, _parser=parser)
    sub = parser.add_subparsers(dest="services_command", metavar="ACTION")
    schema = sub.add_parser("schema", help="write schemas/services/service-definition.schema.json from the model")
    schema.add_argument("--check", action="store_true", help="exit 1 if the committed schema differs from the model")
    schema.add_argument("--output", type=Path, default=None, help="write here instead")
    docs = sub.add_parser("docs", help="write docs/services/: a page and SVG diagrams per service, and the index")
    docs.add_argument("--check", action="store_true", help="exit 1 if the committed pages or DOT sources are stale")
    docs.add_argument("--out", type=Path, default=None, help="write here instead of docs/services/")

    diagram = subparsers.add_parser(
        "diagram", help="print Mermaid flowcharts of a service's channels",
        description="Print Mermaid flowcharts generated from a service definition: per channel its process/condition "
        "chain (conditions as diamonds with yes/no edges, refusals as end nodes), its step list, or its procedures.",
    )  # fmt: skip
    diagram.add_argument("service", metavar="SERVICE", help="service id (see `shlyuz services`) or 2017 annex number")
    diagram.add_argument("--channel", choices=[c.value for c in ChannelId], default=None, help="only this channel")
    diagram.add_argument("--dir", type=Path, default=None, help="definitions directory (default: fixtures/services)")
    fmt = diagram.add_mutually_exclusive_group()
    fmt.add_argument("--svg", action="store_true", help="write one SVG per diagram (Graphviz `dot`) instead of Mermaid")
    fmt.add_argument("--dot", action="store_true", help="print the Graphviz DOT source instead of Mermaid")
    diagram.add_argument("--out", type=Path, default=Path("."), metavar="DIR", help="where --svg writes (default: .)")
    diagram.set_defaults(func=run_diagram)


def _catalogue(directory: Path | None) -> ServiceCatalogue | None:
    try:
        return ServiceCatalogue.load(directory)
    except ServiceDefinitionError as exc:
        print(f"shlyuz: {exc}", file=sys.stderr)
        return None


def run_services(args: argparse.Namespace) -> int:
    if args.services_command == "schema":
        target = args.output or schema_path()
        if args.check:
            if check_schema(target):
                print(f"{target}: up to date")
                return 0
            print(f"{target}: differs from the model; run `shlyuz services schema`", file=sys.stderr)
            return 1
        print(write_schema(args.output))
        return 0
    if args.services_command == "docs":
        from shlyuz.services.docs import main as docs_main

        return docs_main((["--check"] if args.check else []) + (["--out", str(args.out)] if args.out else []))
    catalogue = _catalogue(args.dir)
    if catalogue is None:
        return 1
    rows = []
    for s in catalogue:
        chain = [c for ch in s.channels for c in ch.chain]
        rows.append({
            "annex_2017": s.annexes.order_2017.number,
            "annex_2015": s.annexes.order_2015.number,
            "annex_2015_inferred": s.annexes.order_2015.inferred,
            "id": s.id,
            "channels": [c.id.value for c in s.channels],
            "procedure_steps": sum(len(p.steps) for p in s.procedures),
            "processes": sum(1 for c in chain if c.kind == "process"),
            "conditions": sum(1 for c in chain if c.kind == "condition"),
            "name_en": s.names.en,
        })  # fmt: skip
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    print(f"{'2017':>4} {'2015':>5}  {'id':<34} {'channels':<27} {'steps':>5} {'proc':>4} {'cond':>4}  name")
    for r in rows:
        y15 = f"{r['annex_2015']}{'*' if r['annex_2015_inferred'] else ''}"
        print(f"{r['annex_2017']:>4} {y15:>5}  {r['id']:<34} {','.join(r['channels']):<27} "
              f"{r['procedure_steps']:>5} {r['processes']:>4} {r['conditions']:>4}  {r['name_en']}")  # fmt: skip
    if any(r["annex_2015_inferred"] for r in rows):
        print("* annex number inferred: the header is missing from the seed")
    return 0


def run_diagram(args: argparse.Namespace) -> int:
    catalogue = _catalogue(args.dir)
    if catalogue is None:
        return 1
    try:
        service = catalogue.find(args.service)
        if args.svg or args.dot:
            found = graphs(service, args.channel)
        else:
            text = render(service, args.channel)
    except KeyError as exc:
        print(f"shlyuz diagram: {exc.args[0]}", file=sys.stderr)
        return 2
    if args.dot:
        sys.stdout.write("\n".join(f"// {g.title}\n{dot_source(g)}" for g in found))
        return 0
    if not args.svg:
        sys.stdout.write(text)
        return 0
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        for g in found:
            path = args.out / f"{diagram_name(service, g)}.svg"
            path.write_bytes(render_dot(dot_source(g)))
            print(path)
    except DotError as exc:
        print(f"shlyuz diagram: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"shlyuz diagram: cannot write to {args.out}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0


def diagram_name(service: object, g: Graph) -> str:
    """``<service>--<channel>--<chain|steps|procedure-ID>``: the file name of one diagram (without extension)."""
    return f"{service.id}--{g.channel.value}--{g.slug}"  # type: ignore[attr-defined]
