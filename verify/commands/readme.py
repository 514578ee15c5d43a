"""``implreg readme --check|--write``: the README's claims table, from the registry."""
from __future__ import annotations

import sys

from analytic.errors import InputError

from .common import input_file, integer, output_directory


def _add_arguments(p):
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if the table is out of date (default)")
    mode.add_argument("--write", action="store_true", help="rewrite the table in place")
    p.add_argument("--readme", default="README.md", type=input_file,
                   help="the README to update (default README.md)")
    p.add_argument("--results", metavar="FILE", type=input_file,
                   help="take the statuses from a results.json instead of a quick run")
    p.add_argument("--jobs", type=integer(1, 64), default=1, help="parallel processes for the quick run, 1..64")
    p.add_argument("--assets", metavar="DIR", type=output_directory,
                   help="also regenerate the README's pictures in DIR (e.g. docs)")


def _run(args) -> int:
    from ..progress import progress_printer
    from ..readme import quick_statuses, statuses_from_results, update_readme
    from ..registry import all_claims
    claims = all_claims()
    if args.results and args.jobs != 1:
        raise InputError("--jobs", args.jobs, "only applies to the quick run, not with --results")
    if args.assets:
        from ..readme import write_assets
        for p in write_assets(args.assets):
            print(f"wrote {p}")
    if args.results:
        statuses = statuses_from_results(args.results)
    else:
        statuses = quick_statuses(claims, jobs=args.jobs, progress=progress_printer(sys.stderr))
    current = update_readme(args.readme, statuses, claims, write=args.write)
    if args.write:
        print(f"{args.readme}: claims table {'already current' if current else 'updated'} ({len(claims)} claims)")
        return 0
    if not current:
        print(f"{args.readme}: the claims table is out of date; run 'implreg readme --write'", file=sys.stderr)
        return 1
    print(f"{args.readme}: claims table current ({len(claims)} claims)")
    return 0


COMMANDS = {"readme": ("check or rewrite the README's table of claims", _add_arguments, _run)}
