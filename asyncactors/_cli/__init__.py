"""The ``asyncactors`` command line: ``asyncactors COMMAND`` or ``python -m asyncactors COMMAND``.

Each subcommand is a :class:`Command` in :data:`COMMANDS`; :func:`main` dispatches.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._command import Command
from ._dashboard import DASHBOARD
from ._load import LOAD

__all__ = ["COMMANDS", "Command", "console_main", "main"]

COMMANDS: tuple[Command, ...] = (LOAD, DASHBOARD)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run the command line on ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    Raises:
        SystemExit: for ``--help``, ``--version`` and usage errors (code 2).
    """
    from .. import __version__

    parser = argparse.ArgumentParser(prog=prog, description="Tools for asyncactors applications.")
    parser.add_argument("--version", action="version", version=f"asyncactors {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for command in COMMANDS:
        sub = subparsers.add_parser(
            command.name, help=command.help, description=command.description
        )
        command.add_arguments(sub)
        sub.set_defaults(_command=command, _parser=sub)
    args = parser.parse_args(argv)
    chosen: Command = args._command
    return chosen.run(args._parser, args)


def console_main() -> None:
    """The ``asyncactors`` console script."""
    sys.exit(main())
