"""serving_actor_system(): the lifespan core shared by the FastAPI and aiohttp integrations."""

from __future__ import annotations

import pytest

import asyncactors
from asyncactors.integrations import serving_actor_system


async def test_a_second_system_on_the_loop_is_refused_with_advice_the_caller_can_follow() -> None:
    """The refusal says what to do, not init()'s ignore_reinit_error, which no integration takes."""
    async with serving_actor_system():
        with pytest.raises(RuntimeError) as info:
            async with serving_actor_system():
                pass  # pragma: no cover
    message = str(info.value)
    assert "one application per event loop" in message
    assert "ignore_reinit_error" not in message
    assert "asyncactors.init() was already called" not in message
    assert isinstance(info.value.__cause__, RuntimeError)
    # The first system was shut down on leaving its block: the loop can start another.
    system = asyncactors.init()
    await system.shutdown()
