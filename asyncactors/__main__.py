"""``python -m asyncactors COMMAND``: the ``asyncactors`` command line."""

import sys

from ._cli import main

sys.exit(main(prog="python -m asyncactors"))
