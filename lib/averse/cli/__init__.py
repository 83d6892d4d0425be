"""The ``averse`` command.

``averse info PATH`` describes a file; ``averse run-notebooks`` executes the
numbered notebooks through papermill; ``averse twin`` generates a twin world;
``averse dashboard NAME`` serves a Panel dashboard.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of the ``averse`` command."""
    parser = argparse.ArgumentParser(prog="averse", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="print what a file, glob or catalog entry holds")
    info.add_argument("path", help="file, folder, glob or catalog entry name")
    info.add_argument("--reader", help="force a reader instead of sniffing the format")

    run = sub.add_parser("run-notebooks", help="execute the numbered notebooks with papermill")
    run.add_argument("--out", default="runs/main", help="output folder for executed notebooks and figures")
    run.add_argument("--dataset", default="twin", help="catalog entry for notebooks that take a `dataset` parameter")
    run.add_argument("--size", default="small", help="parameter preset of notebooks/presets.yaml (test, small, full)")
    run.add_argument("--device", default="auto", help='torch device for training notebooks ("auto", "cpu", "cuda")')
    run.add_argument("--only", nargs="*", default=None, help="notebook name prefixes to run (e.g. 00 01 10)")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="extra parameter for every notebook that declares it (VALUE parsed as YAML)")
    run.add_argument("--keep-going", action="store_true", help="run the remaining notebooks after a failure")

    catalog = sub.add_parser("catalog", help="list the catalog entries and whether their files are present")
    catalog.add_argument("--check", action="store_true", help="exit non-zero when a file-backed entry is missing")

    twin = sub.add_parser("twin", help="generate (or reuse) a cached twin world and print where it lives")
    twin.add_argument("--region", default="idf")
    twin.add_argument("--seed", type=int, default=0)
    twin.add_argument("--days", type=float, default=None)
    twin.add_argument("--regenerate", action="store_true")

    dash = sub.add_parser("dashboard", help="serve a Panel dashboard of results")
    dash.add_argument("name", help="dashboard name (see `averse dashboard --list`)", nargs="?")
    dash.add_argument("--results", default="runs/main", help="folder the evaluation notebooks wrote")
    dash.add_argument("--address", default="127.0.0.1")
    dash.add_argument("--port", type=int, default=5006)
    dash.add_argument("--allow-origin", action="append", default=None, help="extra websocket origin to accept")
    dash.add_argument("--export", metavar="HTML", help="write a static HTML snapshot instead of serving")
    dash.add_argument("--list", action="store_true", help="list the dashboards")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``averse`` console script."""
    args = build_parser().parse_args(argv)
    from averse.errors import AverseError

    try:
        if args.command == "info":
            from averse.cli.info import describe

            print(describe(args.path, reader=args.reader))
            return 0
        if args.command == "run-notebooks":
            from averse.cli.notebooks import run_notebooks_cli

            return run_notebooks_cli(args)
        if args.command == "catalog":
            from averse.cli.info import catalog_report

            text, missing = catalog_report()
            print(text)
            return 1 if (args.check and missing) else 0
        if args.command == "twin":
            from averse import open_dataset

            kwargs = {"region": args.region, "seed": args.seed, "regenerate": args.regenerate}
            if args.days is not None:
                kwargs["days"] = args.days
            tree = open_dataset("twin", **kwargs)
            print(tree.attrs.get("store", ""))
            print(tree)
            return 0
        if args.command == "dashboard":
            from averse.dashboards import serve_cli

            return serve_cli(args)
    except AverseError as exc:
        print(f"averse: error: {exc}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
