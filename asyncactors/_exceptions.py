"""Every exception asyncactors raises on its own account.

Exceptions raised by an actor's method are not wrapped: awaiting the ref
re-raises the method's own exception object, so ``except ValueError`` at the
caller catches a ``ValueError`` raised inside the actor.
"""

from __future__ import annotations

__all__ = [
    "ActorAlreadyExistsError",
    "ActorDiedError",
    "AsyncActorsError",
    "CheckpointCorruptError",
    "CheckpointError",
    "DeadlockError",
    "GetTimeoutError",
    "MailboxFullError",
    "PendingCallsLimitExceeded",
    "TaskCancelledError",
]


class AsyncActorsError(Exception):
    """Base class of the errors asyncactors raises itself."""


class ActorDiedError(AsyncActorsError, RuntimeError):
    """The actor cannot run the call: it failed to start, was killed, exited or shut down.

    Raised by awaiting an ``ObjectRef`` (or ``ObjectRef.result()``, ``asyncactors.get()``)
    whose call was queued, running or submitted when the actor died, and by awaiting
    an ``ActorHandle`` whose ``__init__`` or ``__post_create__`` raised. When the
    actor died because of an exception, that exception is the ``__cause__``.
    ``by_shutdown`` is true when the actor system's shutdown is all that failed the
    call: an expected casualty, logged at DEBUG only if nobody awaits its ref.
    """

    def __init__(
        self,
        message: str,
        *,
        actor_id: int | None = None,
        class_name: str | None = None,
        name: str | None = None,
        by_shutdown: bool = False,
    ) -> None:
        super().__init__(message)
        self.actor_id = actor_id
        self.class_name = class_name
        self.name = name
        self.by_shutdown = by_shutdown


class ActorAlreadyExistsError(AsyncActorsError, ValueError):
    """The name is already taken in that namespace.

    Raised by ``ActorClass.remote()`` for an actor with ``name=`` set, unless
    ``get_if_exists=True``. Subclasses ``ValueError``, which is what Ray raises.
    """


class GetTimeoutError(AsyncActorsError, TimeoutError):
    """The result was not ready in time.

    Raised by ``asyncactors.get(..., timeout=)``, ``ObjectRef.result(timeout=)`` and
    ``ActorPool.get_next(timeout=)`` / ``get_next_unordered(timeout=)``. The call
    itself is not cancelled.
    """


class DeadlockError(AsyncActorsError, RuntimeError):
    """Waiting for this ref from inside an actor's method would never end.

    Raised by ``await ref``, ``asyncactors.get()`` and ``asyncactors.wait()``
    without a timeout, at once, in an actor's async method, when the call waited
    for cannot finish until the waiting method does: it is queued behind that method
    (a self-call with ``max_concurrency=1``), or behind calls that are themselves
    waiting on it through a chain of actors (A -> B -> A), or it waits for the
    waiting method's own result as an argument. The message names the chain;
    ``chain`` holds its calls, from the waiting method back to it. The call
    waited for is cancelled as by ``ObjectRef.cancel()``, so it never runs behind
    the waiter's back.
    """

    def __init__(self, message: str, chain: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.chain = chain


class TaskCancelledError(AsyncActorsError):
    """The call was cancelled with ``ObjectRef.cancel()``.

    Raised by awaiting the cancelled ``ObjectRef`` (or its ``result()``).
    """


class PendingCallsLimitExceeded(AsyncActorsError, RuntimeError):
    """The actor already has ``max_pending_calls`` calls submitted and not finished.

    Raised by ``handle.method.remote()``, ``submit()`` and ``submit_nowait()``, at once.
    """


class MailboxFullError(AsyncActorsError):
    """The actor's mailbox has no room for another call right now.

    Raised by ``handle.method.submit_nowait()``; ``submit()`` waits for room instead.
    """


class CheckpointError(AsyncActorsError):
    """Saving or loading an actor's checkpoint failed.

    Raised by ``await handle.checkpoint()`` when the state cannot be encoded or
    the store's ``save`` fails, and by awaiting a call whose result waits for a
    checkpoint (``checkpoint_every``) that could not be saved; the actor is then
    rolled back to its last good checkpoint. The encoder's ``TypeError`` (naming
    the attribute) or the store's own exception is the ``__cause__``.
    """


class CheckpointCorruptError(CheckpointError, ValueError):
    """A stored checkpoint cannot be decoded; the message names the file or key.

    Raised by ``FileStore.load()`` and ``MemoryStore.load()`` on a corrupt or
    truncated checkpoint, and when restoring one that is not a dict of attribute
    names. An actor that meets one fails to start, at once and for good (no
    restart can mend it), with ``ActorDiedError`` caused by it, as do the calls
    waiting for it, unless ``on_corrupt_checkpoint="start_fresh"``.
    """


class _ActorExit(BaseException):
    """Raised by ``exit_actor()`` to end the method; a BaseException, so that
    ``except Exception`` in user code lets it by. Engines catch it."""
