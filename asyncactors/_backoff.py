"""``Backoff``: the exponential backoff with jitter of supervisors' restarts.

Apart from ``_supervisor``: a frozen dataclass takes longer to make than most
modules to load, and only a supervisor that restarts something needs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter between restarts.

    The n-th restart within a supervisor's window waits
    ``min(max_s, initial_s * multiplier ** (n - 1))``, scaled by a random factor in
    ``[1 - jitter, 1 + jitter]``. A quiet window (no restart for ``within_s``)
    starts again from ``initial_s``. The root restarts a failed top-level
    supervisor after ``delay(n)`` of that supervisor's backoff, n counting its
    failures in a row.

    Raises:
        TypeError: a field that is not a number.
        ValueError: a field that is not finite (NaN, inf), a negative time, a
            multiplier below 1, or jitter outside [0, 1].
    """

    initial_s: float = 0.01
    max_s: float = 1.0
    multiplier: float = 2.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        for field in ("initial_s", "max_s", "multiplier", "jitter"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"Backoff {field} must be a number, got {value!r}")
            # A NaN delay would put a timer in the loop's heap that sorts nowhere.
            if not math.isfinite(value):
                raise ValueError(f"Backoff {field} must be a finite number, got {value}")
        if self.initial_s < 0 or self.max_s < 0:
            raise ValueError("Backoff times must be >= 0")
        if self.multiplier < 1:
            raise ValueError(f"Backoff multiplier must be >= 1, got {self.multiplier}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"Backoff jitter must be within [0, 1], got {self.jitter}")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before restart number ``attempt`` (1-based) of a window."""
        # Grow step by step: multiplier ** attempt overflows a float after a
        # thousand restarts, and the cap is reached long before anyway.
        base = self.initial_s
        for _ in range(min(max(0, attempt - 1), 64)):
            if base >= self.max_s:
                break
            base *= self.multiplier
        base = min(base, self.max_s)
        if self.jitter:
            import random  # here: most programs never restart an actor

            base *= 1 + self.jitter * (2 * random.random() - 1)
        return max(0.0, base)
