"""Benchmarks for asyncactors' hot path: submit -> mailbox -> run -> reply.

Every scenario is measured against "the floor", a plain asyncio actor (one task
draining an ``asyncio.Queue``) running the same user class in the same process,
with the two systems' runs interleaved so machine noise hits both alike.

Run ``python -m benchmarks --help`` for the command line.
"""

from __future__ import annotations
