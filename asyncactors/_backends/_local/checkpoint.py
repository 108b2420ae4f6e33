"""Durable state: saving checkpoints, restoring them, and rolling back a failed save."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, Final, TypeVar

from ..._context import current_actor
from ..._exceptions import CheckpointCorruptError, CheckpointError
from ..._ref import logger
from ..._types import ActorState
from .base import CoreBase
from .call import Call

__all__ = ["Checkpoints"]

_get_running_loop = asyncio._get_running_loop

_T = TypeVar("_T")

_ALIVE: Final = ActorState.ALIVE
_RESTARTING: Final = ActorState.RESTARTING


class Checkpoints(CoreBase):
    """Capture, save, restore and roll back."""

    __slots__ = ()

    @property
    def checkpoint_key(self) -> str:
        """Where this actor's state lives in its store (see ``_stores.checkpoint_key``)."""
        cold = self._cold()
        key = cold.key
        if key is None:
            from ..._stores import checkpoint_key as store_key

            key = cold.key = store_key(self.namespace, self.name, self.actor_id)
        return key

    async def _checkpoint_after(self, call: Call, value: Any) -> None:
        """Count a successful call; every N-th, save before the caller sees its result.

        A failed save fails the call and rolls the actor back to its last
        checkpoint: what the caller was told never differs from what is durable.
        """
        cold = self._cold()
        cold.since_checkpoint += 1
        if cold.since_checkpoint < self.config.checkpoint_every:
            call._set_result(value)
            return
        cold.since_checkpoint = 0
        incarnation = self.incarnation
        try:
            await self._save_state("ran the call but could not save its state")
        except CheckpointError as exc:
            self.failed += 1
            err = CheckpointError(f"{exc}; the actor is rolled back to its last checkpoint")
            err.__cause__ = exc.__cause__
            call._set_exception(err)
            del call  # see _run_inline
            if self.incarnation == incarnation:
                self._roll_back(err)
        else:
            call._set_result(value)

    def _roll_back(self, exc: CheckpointError) -> None:
        """Rebuild the actor from its last good checkpoint, undoing what was not saved.

        Not a crash: the supervisor is not asked and no restart is counted, so it
        happens even with ``max_restarts=0``. Queued calls run on the rebuilt actor.
        """
        self._take_down("was rolled back to its last checkpoint", exc=exc)
        if self.state is _RESTARTING:
            self._cold().rollbacks += 1
            self._start_again()

    def _capture(self) -> bytes:
        # Imported here, as below: msgpack and the stores load only for actors
        # that checkpoint.
        from ..._state import checkpoint_bytes

        return checkpoint_bytes(self.instance)

    async def _save_state(self, failure: str) -> None:
        """Capture the state now and save it.

        Raises:
            CheckpointError: ``<actor> <failure>: <why>``, caused by what the
                encoder (``TypeError`` naming the attribute) or the store raised.
        """
        try:
            await self._save(self._capture())
        except Exception as exc:
            raise CheckpointError(f"{self.describe()} {failure}: {exc}") from exc

    async def _save(self, data: bytes) -> None:
        store = self.config.store
        assert store is not None
        cold = self._cold()
        if cold.save_lock is None:
            cold.save_lock = asyncio.Lock()
        # Saves go out in capture order, so an older state never lands last.
        async with cold.save_lock:
            await _in_store(store.save(self.checkpoint_key, data))

    async def checkpoint(self) -> None:
        """Save the actor's state now.

        Raises:
            RuntimeError: the actor has no ``checkpoint_store``.
            ActorDiedError: the actor is dead.
            CheckpointError: the state cannot be encoded (naming the attribute;
                the cause is a ``TypeError``) or the store could not save it.
        """
        if self.config.store is None:
            raise RuntimeError(f"{self.describe()} has no checkpoint_store option")
        if _get_running_loop() is not self.loop:
            cf = asyncio.run_coroutine_threadsafe(self.checkpoint(), self.loop)
            await asyncio.wrap_future(cf)
            return
        while self.state is not _ALIVE:
            await self.wait_ready()  # raises ActorDiedError once it is DEAD
        await self._save_state("could not save its state")

    async def _restore(self) -> None:
        from ..._state import decode_state, restore_state
        from ..._stores import checkpoint_source

        store = self.config.store
        assert store is not None
        key = self.checkpoint_key
        try:
            data = await _in_store(store.load(key))
            if data is not None:
                source = checkpoint_source(store, key)
                restore_state(self.instance, decode_state(data, source=source), source=source)
        except CheckpointCorruptError:
            if self.config.on_corrupt_checkpoint != "start_fresh":
                raise
            logger.warning(
                "%s: corrupt checkpoint ignored (on_corrupt_checkpoint='start_fresh')",
                self.describe(),
                exc_info=True,
            )
        # The instance now holds the last checkpoint: no call since it is unsaved.
        self._cold().since_checkpoint = 0

    def _drop_checkpoint(self) -> None:
        """Delete this actor's checkpoint, in the background, if it ever had a key."""
        cold = self.cold
        store = self.config.store
        if cold is not None and cold.key and store is not None:
            task = asyncio.Task(_delete_quietly(store, cold.key), loop=self.loop)  # the engine's
            self.host.keep_task(task)


async def _in_store(step: Awaitable[_T]) -> _T:
    """Await a store's ``step`` as the engine's code, not the actor's.

    A task the store starts (a connection pool's, made on first use) is the
    store's, which other actors share: no actor's incarnation owns it (tasks.py).
    """
    token = current_actor.set(None)
    try:
        return await step
    finally:
        current_actor.reset(token)


async def _delete_quietly(store: Any, key: str) -> None:
    try:
        await store.delete(key)
    except Exception:
        logger.exception("deleting checkpoint %r from %r failed", key, store)
