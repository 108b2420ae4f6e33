"""``ray._private.test_utils``: where Ray test suites have long imported
``wait_for_condition`` from (Ray 2.60 keeps it in ``ray._common.test_utils`` too)."""

from __future__ import annotations

from .._common.test_utils import wait_for_condition

__all__ = ["wait_for_condition"]
