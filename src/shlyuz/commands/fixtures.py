"""``shlyuz fixtures``: regenerate the synthetic fixture files, or summarise fixture directories."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from shlyuz.fixtures.generate import DEFAULT_PERSONS, DEFAULT_SEED, write_fixtures
from shlyuz.fixtures.store import FixtureError, load_dirs


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fixtures", help="generate or summarise fixture data",
        description="Regenerate the synthetic fixture files, or summarise fixture directories.",
    )  # fmt: skip
    parser.set_defaults(func=run, fixtures_command=None, _parser=parser)
    sub = parser.add_subparsers(dest="fixtures_command", metavar="ACTION")

    gen = sub.add_parser("generate", help="write persons/organisations/powers_of_attorney/senders JSON files")
    gen.add_argument("--out", type=Path, default=Path("fixtures"), metavar="DIR",
                     help="output directory (default: fixtures)")  # fmt: skip
    gen.add_argument("--seed", type=int, default=DEFAULT_SEED, metavar="N",
                     help=f"random seed (default: {DEFAULT_SEED})")  # fmt: skip
    gen.add_argument(
        "--persons", type=int, default=DEFAULT_PERSONS, metavar="N",
        help=f"number of persons (default: {DEFAULT_PERSONS}; the fixed family structure alone makes 210-225)",
    )  # fmt: skip

    show = sub.add_parser("show", help="count records per kind and per tag")
    show.add_argument(
        "--fixtures", type=Path, action="append", metavar="DIR",
        help="fixture directory; repeat to layer directories, later ones override records by key (default: fixtures)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    if args.fixtures_command == "generate":
        for path in write_fixtures(args.out, seed=args.seed, persons=args.persons):
            print(f"wrote {path}")
        return 0
    if args.fixtures_command == "show":
        return _show(args.fixtures or [Path("fixtures")])
    args._parser.print_help()
    return 2


def _show(directories: list[Path]) -> int:
    try:
        fs = load_dirs(directories)
    except FixtureError as exc:
        print(f"shlyuz fixtures show: {exc}", file=sys.stderr)
        return 1
    print("fixtures from: " + ", ".join(str(d) for d in directories))
    for kind, records in (("persons", fs.persons), ("organisations", fs.organisations),
                          ("powers_of_attorney", fs.powers_of_attorney), ("senders", fs.senders)):  # fmt: skip
        print(f"{kind}: {len(records)}")
        tags = Counter(t for r in records.values() for t in getattr(r, "tags", []))
        for tag, n in sorted(tags.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"  {tag}: {n}")
    return 0
