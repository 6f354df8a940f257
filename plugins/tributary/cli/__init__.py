"""The ``tributary`` command: what an operator asks of the configs and the lake, from a shell.

``validate`` and ``pools`` read the YAML only; ``discover`` reads a source's catalog; ``sample``
and ``status`` read the lake through the same code as the operators (its Airflow connection,
manifests and ``_SUCCESS`` markers), never the source. Each subcommand is a function of
:mod:`.commands` that returns the exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from tributary.cli import commands
from tributary.errors import TributaryError

_EXAMPLES = {
    "validate": """examples:
  tributary validate                       # include/pipelines and include/pipelines/extracts
  tributary validate include/pipelines     # a folder of pipeline configs (and its extracts/)
exit code 1 when any file has an error: for CI and pre-commit""",
    "pools": """examples:
  tributary pools > pools.json && airflow pools import pools.json
  tributary pools include/pipelines""",
    "sample": """examples:
  tributary sample pos sales                # 10 rows of the newest committed partition
  tributary sample pos sales --rows 100 --partition month=2025-01
read from the lake (only the parts _SUCCESS names), never from the source""",
    "discover": """examples:
  tributary discover --conn-id pos > include/pipelines/pos.yaml
  tributary discover --conn-id crm_pg --schema sales --tables 'order*'
reads the source's catalog (and counts the rows of tables it has no estimate for)""",
    "status": """examples:
  tributary status pos
  tributary status pos --table sales --from 2025-01 --to 2025-06""",
}


def _folder_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--folder", help="the pipeline config folder (default: $TRIBUTARY_PIPELINES_DIR or include/pipelines)"
    )


def _subparser(subparsers: Any, name: str, text: str) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        name,
        help=text,
        description=text,
        epilog=_EXAMPLES[name],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tributary",
        description="Tributary's operator commands: check the configs, list the pools, read the lake.",
        epilog="run `tributary COMMAND --help` for a command's options and examples",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = _subparser(subparsers, "validate", "check every pipeline config, schema file and extract")
    validate.add_argument(
        "folder", nargs="?", help="the pipeline config folder (default: as the DAGs read it)"
    )
    validate.set_defaults(run=commands.validate)

    pools = _subparser(
        subparsers, "pools", "the Airflow pools the configs need, as `airflow pools import` JSON"
    )
    pools.add_argument("folder", nargs="?", help="the pipeline config folder (default: as the DAGs read it)")
    pools.set_defaults(run=commands.pools)

    sample = _subparser(subparsers, "sample", "the first rows of a committed partition as JSON lines")
    sample.add_argument("source", help="the source's name (source.name of its config)")
    sample.add_argument("table", help="the table's name")
    sample.add_argument("--rows", type=int, default=10, help="how many rows (default: 10)")
    sample.add_argument("--partition", help="key=value, e.g. month=2025-01 (default: the newest committed)")
    _folder_option(sample)
    sample.set_defaults(run=commands.sample)

    discover = _subparser(subparsers, "discover", "a draft pipeline config from a source's catalog")
    discover.add_argument("--conn-id", required=True, help="the source's Airflow connection")
    discover.add_argument("--schema", help="the schema to read (default: the dialect's: main, public, dbo)")
    discover.add_argument(
        "--tables", default="*", metavar="GLOB", help="the tables whose names match (default: *)"
    )
    discover.add_argument(
        "--small-rows",
        type=int,
        default=100_000,
        metavar="N",
        help="tables of fewer rows are suggested mode: full (default: 100000)",
    )
    discover.set_defaults(run=commands.discover)

    status = _subparser(subparsers, "status", "every partition of a source's tables, as the lake holds it")
    status.add_argument("source", help="the source's name (source.name of its config)")
    status.add_argument("--table", help="one table (default: every table of the source)")
    status.add_argument("--from", dest="start", metavar="YYYY-MM", help="partitions from this month")
    status.add_argument("--to", dest="end", metavar="YYYY-MM", help="partitions up to this month")
    _folder_option(status)
    status.set_defaults(run=commands.status)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The ``tributary`` command; returns its exit code (1: an error, 2: a usage error)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except TributaryError as exc:
        print(f"tributary {args.command}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # `tributary sample pos sales --rows 1000 | head`: the reader has what it wanted; the
        # interpreter's last flush at exit must not fail on the closed pipe either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


__all__ = ["build_parser", "main"]
