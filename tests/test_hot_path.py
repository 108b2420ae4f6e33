"""The engine's hot path: its inlined shortcuts stay in step with what they inline."""

from __future__ import annotations

import asyncio
from typing import Any

from asyncactors._backends._local.call import Call
from asyncactors._backends._local.dispatch import Dispatch
from asyncactors._specs import MethodSpec
from asyncactors._types import SYNC

_MISSING = object()


def _fields(obj: object) -> dict[str, Any]:
    names = {s for cls in type(obj).__mro__ for s in getattr(cls, "__slots__", ())}
    return {n: getattr(obj, n, _MISSING) for n in sorted(names - {"__weakref__"})}


class _OffLoop:
    """A stand-in core whose loop is not running, so ``call`` hands its call over untouched."""

    pending = None

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def _submit_threadsafe(self, call: Call) -> Call:
        return call


def test_call_makes_the_same_call_object_as_the_call_constructor() -> None:
    """Dispatch.call builds its Call without Call.__init__: every field must match."""
    core = _OffLoop()
    try:
        spec = MethodSpec("C", "m", lambda self: None, SYNC, None, 0, None)
        made = Dispatch.call(core, spec, (1, 2), {"k": 3})  # type: ignore[arg-type]
        built = Call(core, spec, (1, 2), {"k": 3})  # type: ignore[arg-type]
        assert type(made) is Call
        assert _fields(made) == _fields(built)
    finally:
        core.loop.close()
