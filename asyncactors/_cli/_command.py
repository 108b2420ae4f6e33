"""What a subcommand of the ``asyncactors`` command line is."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Command"]


@dataclass(frozen=True, slots=True)
class Command:
    """A subcommand: its name, its help, its arguments and what runs it."""

    name: str
    help: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.ArgumentParser, argparse.Namespace], int]
    """Given the subcommand's parser (for usage errors) and the parsed arguments,
    does the work and returns the exit code."""
