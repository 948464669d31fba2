"""``shlyuz iin``: check and build IINs (and BINs) with the checksum of kz_egov.md §4."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from shlyuz.fixtures.iin import make_iin, parse_bin, parse_iin


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "iin", help="check or build IINs (ИИН/ЖСН) and BINs",
        description="Check and build IINs (ИИН/ЖСН) and BINs (БИН/БСН) with their checksum.",
    )  # fmt: skip
    parser.set_defaults(func=run, iin_command=None)
    sub = parser.add_subparsers(dest="iin_command", metavar="ACTION")

    check = sub.add_parser("check", help="validate IINs (or BINs with --bin); exit 1 if any is invalid")
    check.add_argument("values", nargs="+", metavar="IIN")
    check.add_argument("--bin", action="store_true", help="treat the values as BINs (business identification numbers)")

    make = sub.add_parser("make", help="build an IIN from a birth date, sex and serial")
    make.add_argument("--birth-date", required=True, type=date.fromisoformat, metavar="YYYY-MM-DD")
    make.add_argument("--sex", required=True, choices=("M", "F"))
    make.add_argument(
        "--serial", type=int, metavar="N",
        help="the 4-digit serial (0-9999); by default the first serial from 1 up that has a valid check digit",
    )  # fmt: skip
    parser.set_defaults(_parser=parser)


def run(args: argparse.Namespace) -> int:
    if args.iin_command == "check":
        return _check(args.values, as_bin=args.bin)
    if args.iin_command == "make":
        return _make(args.birth_date, args.sex, args.serial)
    args._parser.print_help()
    return 2


def _check(values: list[str], *, as_bin: bool) -> int:
    bad = 0
    for raw in values:
        value = raw.strip()
        try:
            if as_bin:
                b = parse_bin(value)
                detail = (f"registered {b.registration_year:04d}-{b.registration_month:02d}, {b.type_name}, "
                          f"{b.attribute_name}")  # fmt: skip
            else:
                i = parse_iin(value)
                detail = f"born {i.birth_date.isoformat()}, sex {i.sex}"
        except ValueError as exc:
            bad += 1
            print(f"{value}\tinvalid\t{exc}")
        else:
            print(f"{value}\tvalid\t{detail}")
    return 1 if bad else 0


def _make(birth: date, sex: str, serial: int | None) -> int:
    try:
        if serial is not None:
            print(make_iin(birth, sex, serial))
            return 0
        for candidate in range(1, 10000):
            try:
                print(make_iin(birth, sex, candidate))
                return 0
            except ValueError as exc:
                if "no valid check digit" not in str(exc):
                    raise
        raise ValueError("no serial gives a valid check digit")  # pragma: no cover - about 1 prefix in 11 lacks one
    except ValueError as exc:
        print(f"shlyuz iin make: {exc}", file=sys.stderr)
        return 1
