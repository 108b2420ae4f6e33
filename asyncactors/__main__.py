"""``python -m asyncactors COMMAND``: the tools that come with asyncactors.

Commands:

- ``dashboard``: serve the live dashboard over a demo actor system.

Each command lives in its own module, with ``add_arguments(parser)`` and
``run(args) -> int``; a new one is a line in ``_COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Final

# name -> (module, one-line help)
_COMMANDS: Final = {
    "dashboard": ("asyncactors.dashboard._demo", "serve the live dashboard over a demo system"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: the command line), run the command, return its exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m asyncactors", description="Tools that come with asyncactors."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, summary) in _COMMANDS.items():
        module = importlib.import_module(module_name)
        command = commands.add_parser(
            name,
            help=summary,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
