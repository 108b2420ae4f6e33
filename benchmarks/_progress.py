"""A progress display on stderr: one live status line on a terminal, plain lines elsewhere."""

from __future__ import annotations

import math
import shutil
import sys
import time
from typing import TextIO

from asyncactors._tools import format_duration

__all__ = ["ProgressDisplay", "format_duration"]


class ProgressDisplay:
    """Counts steps towards ``total`` and shows the latest one with a bar and the time.

    On a terminal the status line is rewritten in place and notes scroll above
    it; otherwise (a pipe, a CI log) every step is a line of its own.
    """

    def __init__(self, total: int, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.total = max(1, total)
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.live = bool(isatty and isatty()) if live is None else live
        self._start = time.monotonic()
        self._line = ""
        self._last_status = -math.inf

    def _status(self, text: str) -> str:
        frac = min(1.0, self.done / self.total)
        width = 20
        filled = int(frac * width)
        bar = "#" * filled + "." * (width - filled)
        elapsed = time.monotonic() - self._start
        left = f", ~{format_duration(elapsed / frac - elapsed)} left" if 0 < frac < 1 else ""
        return (
            f"[{bar}] {self.done}/{self.total} {frac:4.0%} "
            f"{format_duration(elapsed)}{left} | {text}"
        )

    def _write(self, line: str) -> None:
        if self.live:
            cols = shutil.get_terminal_size((100, 20)).columns
            self.stream.write("\r\x1b[K" + line[: cols - 1])
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._line = line

    def status(self, text: str) -> None:
        """Show ``text`` as the current status without counting a step.

        Off a terminal, at most one such line a second is printed.
        """
        now = time.monotonic()
        if not self.live and now - self._last_status < 1.0:
            return
        self._last_status = now
        self._write(text)

    def step(self, text: str) -> None:
        """One step done: show it."""
        self.done += 1
        self._write(self._status(text))

    def skip(self, steps: int) -> None:
        """``steps`` of the announced steps will not happen."""
        self.total = max(self.done, self.total - steps, 1)

    def note(self, text: str) -> None:
        """Print ``text`` on its own line, keeping the status line below it."""
        if self.live:
            self.stream.write("\r\x1b[K" + text + "\n")
            if self._line:
                self._write(self._line)
            else:
                self.stream.flush()
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def close(self) -> None:
        """End the status line (on a terminal, leave the last one visible)."""
        if self.live and self._line:
            self.stream.write("\n")
            self.stream.flush()
        self._line = ""
