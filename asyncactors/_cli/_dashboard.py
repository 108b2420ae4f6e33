"""``asyncactors dashboard``: the live dashboard, served over a demo actor system."""

from __future__ import annotations

import argparse

from ..dashboard import _demo
from ._command import Command

__all__ = ["DASHBOARD"]


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    return _demo.run(args)


DASHBOARD = Command(
    name="dashboard",
    help="serve the live dashboard over a demo actor system (on 127.0.0.1)",
    # The module's docstring, as plain text: a terminal shows reST's ``literals`` as is.
    description=" ".join((_demo.__doc__ or "").replace("``", "").split()),
    add_arguments=_demo.add_arguments,
    run=_run,
)
