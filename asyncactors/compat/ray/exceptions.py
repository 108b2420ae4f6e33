"""``ray.exceptions``: Ray's exception classes, names and hierarchy, for one process.

A task's or actor method's exception reaches its caller as ``RayTaskError``
made an instance of the original's class too (``as_instanceof_cause()``), so
both ``except RayTaskError`` and ``except ValueError`` catch it; the original
is its ``cause``. The engine's own errors (a dead actor, a cancelled call, a
timeout) arrive as Ray's classes (``from_native()``).
"""

from __future__ import annotations

import os
import traceback
from typing import Any, Final

from ... import _exceptions as native

__all__ = [
    "ActorAlreadyExistsError",
    "ActorDiedError",
    "ActorHandleNotFoundError",
    "ActorPlacementGroupRemoved",
    "ActorUnavailableError",
    "ActorUnschedulableError",
    "AsyncioActorExit",
    "AuthenticationError",
    "CrossLanguageError",
    "GetTimeoutError",
    "LocalRayletDiedError",
    "NodeDiedError",
    "ObjectFetchTimedOutError",
    "ObjectFreedError",
    "ObjectLostError",
    "ObjectReconstructionFailedError",
    "ObjectRefStreamEndOfStreamError",
    "ObjectStoreFullError",
    "OufOfBandObjectRefSerializationException",
    "OutOfDiskError",
    "OutOfMemoryError",
    "OwnerDiedError",
    "PendingCallsLimitExceeded",
    "PlasmaObjectNotAvailable",
    "RayActorError",
    "RayCgraphCapacityExceeded",
    "RayChannelError",
    "RayChannelTimeoutError",
    "RayDirectTransportError",
    "RayError",
    "RaySystemError",
    "RayTaskError",
    "ReferenceCountingAssertionError",
    "RpcError",
    "RuntimeEnvSetupError",
    "StreamingGeneratorReplayInconsistentError",
    "TaskCancelledError",
    "TaskPlacementGroupRemoved",
    "TaskUnschedulableError",
    "UnserializableException",
    "UnsupportedFeatureError",
    "UserCodeException",
    "WorkerCrashedError",
    "from_native",
    "task_error",
]


# Frames of this package (the code that runs tasks, ray.get ...), left out of a
# RayTaskError's text as Ray leaves out its own.
_INTERNAL: Final = f'"{os.path.dirname(__file__)}{os.sep}'


class RayError(Exception):
    """The base class of Ray's errors."""


class CrossLanguageError(RayError):
    """An error from another language's worker (never raised in one Python process)."""


class TaskCancelledError(RayError):
    """The task or actor call was cancelled (``ray.cancel``)."""

    def __init__(self, task_id: Any = None, error_message: str | None = None) -> None:
        super().__init__(task_id, error_message)
        self.task_id = task_id
        self.error_message = error_message

    def __str__(self) -> str:
        text = f"Task: {self.task_id} was cancelled. " if self.task_id else ""
        return text + (self.error_message or "")


class RayTaskError(RayError):
    """A task or actor method raised; ``cause`` is what it raised.

    ``as_instanceof_cause()`` gives an exception that is an instance of both
    this class and the cause's class: what ``ray.get`` raises.
    """

    # Another task's error that this task raised (its text is part of this one's).
    _raised: BaseException | None = None

    def __init__(
        self,
        function_name: str,
        traceback_str: str,
        cause: BaseException,
        proctitle: str | None = None,
        pid: int | None = None,
        ip: str | None = None,
        actor_repr: str | None = None,
        actor_id: str | None = None,
    ) -> None:
        super().__init__(function_name, traceback_str, cause)
        self.function_name = function_name
        self._traceback_str = traceback_str
        self.cause = cause
        self.proctitle = proctitle or f"ray::{function_name}"
        self.pid = pid or os.getpid()
        self.ip = ip or "127.0.0.1"
        self.actor_repr = actor_repr
        self._actor_id = actor_id

    @property
    def traceback_str(self) -> str:
        """The cause's traceback, formatted when first asked for.

        Not formatted when the error is made: that runs in a worker thread, and
        CPython 3.11's traceback formatting parses source with ``ast``, whose
        recursion guard is not thread-safe there (gh-106905).
        """
        text = self._traceback_str
        if not text:
            raised = self._raised
            if raised is not None:
                # A task re-raised another task's error (a ray.get inside it): its
                # own frames, then that error, which shows the other task's.
                lines = traceback.format_exception(raised, chain=False)
            else:
                lines = traceback.format_exception(self.cause)
            text = self._traceback_str = "".join(lines)
        return text

    def __str__(self) -> str:
        """Ray's format: the traceback, each ``Traceback ...`` line replaced by a
        line naming the task and where it ran, without this package's frames."""
        where = f"pid={self.pid}, ip={self.ip}"
        if self._actor_id is not None:
            where += f", actor_id={self._actor_id}"
        if self.actor_repr is not None:
            where += f", repr={self.actor_repr}"
        header = f"{self.proctitle}() ({where})"
        out: list[str] = []
        hidden = False
        for line in self.traceback_str.strip().split("\n"):
            if line.startswith("Traceback "):
                hidden = False
                out.append(header)
            elif line.startswith("  File "):
                hidden = _INTERNAL in line
                if not hidden:
                    out.append(line)
            elif not (hidden and line.startswith("    ")):
                hidden = False
                out.append(line)
        return "\n".join(out)

    def as_instanceof_cause(self) -> RayTaskError:
        """This error as an instance of its cause's class too, where that class allows it.

        A cause whose class this one already is (``Exception``, ``RayError``), or
        whose class cannot be combined with this one (a layout conflict), gives
        ``self``; a ``TaskCancelledError`` cause gives ``RayTaskError(TaskCancelledError)``.
        """
        cause_cls = type(self.cause)
        if issubclass(RayTaskError, cause_cls):
            return self
        dual = _dual_class(cause_cls)
        if dual is None:
            return self
        cause = self.cause
        # An exception group is made with its message and exceptions (its __new__ needs them).
        parts = (cause.message, cause.exceptions) if isinstance(cause, BaseExceptionGroup) else ()
        try:
            err: RayTaskError = dual.__new__(dual, *parts)
        except Exception:  # a __new__ of the cause's class that refuses: Ray's plain error
            return self
        err.__dict__.update(self.__dict__)
        err.args = (self.cause,)
        return err

    def __reduce__(self) -> Any:
        return (
            _rebuild_task_error,
            (
                self.function_name,
                self.traceback_str,
                self.cause,
                self.proctitle,
                self.pid,
                self.ip,
                self.actor_repr,
                self._actor_id,
                type(self) is not RayTaskError,
            ),
        )


def _rebuild_task_error(*parts: Any) -> RayTaskError:
    *args, dual = parts
    err = RayTaskError(*args)
    return err.as_instanceof_cause() if dual else err


_duals: dict[type[BaseException], type[RayTaskError] | None] = {}


def _dual_class(cause_cls: type[BaseException]) -> type[RayTaskError] | None:
    """``RayTaskError(Cause)``, made once per cause class; ``None`` where Python refuses it."""
    if cause_cls in _duals:
        return _duals[cause_cls]
    dual = _duals[cause_cls] = _make_dual(cause_cls)
    return dual


def _make_dual(cause_cls: type[BaseException]) -> type[RayTaskError] | None:
    name = f"RayTaskError({cause_cls.__name__})"

    def __getattr__(self: RayTaskError, attr: str) -> Any:
        # The cause's own attributes (a custom exception's fields) read through.
        if attr == "cause" or attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(self.cause, attr)

    namespace = {
        "__getattr__": __getattr__,
        "__str__": RayTaskError.__str__,
        "__init__": RayTaskError.__init__,
        "__module__": __name__,
        "__qualname__": name,
    }
    try:
        return type(name, (RayTaskError, cause_cls), namespace)
    except TypeError:  # incompatible layouts (C-level fields, __slots__)
        return None


class LocalRayletDiedError(RayError):
    """The local raylet died (never in one process)."""


class WorkerCrashedError(RayError):
    """The worker running the task died (here: the task called ``sys.exit()``)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(
            *(
                args
                or (
                    "The worker died unexpectedly while executing this task. Check "
                    "python-core-worker-*.log files for more information.",
                )
            )
        )


class RayActorError(RayError):
    """The actor is dead or unavailable and could not finish the call."""

    BASE_ERROR_MSG = "The actor experienced an error before finishing this task."

    def __init__(
        self,
        actor_id: str | None = None,
        error_msg: str = BASE_ERROR_MSG,
        actor_init_failed: bool = False,
        preempted: bool = False,
    ) -> None:
        super().__init__(error_msg)
        self.actor_id = actor_id
        self.error_msg = error_msg
        self._actor_init_failed = actor_init_failed
        self._preempted = preempted

    def __str__(self) -> str:
        return self.error_msg

    @property
    def actor_init_failed(self) -> bool:
        """Whether the actor died in ``__init__``."""
        return self._actor_init_failed

    @property
    def preempted(self) -> bool:
        """Whether the actor's node was preempted (never in one process)."""
        return self._preempted


class ActorDiedError(RayActorError):
    """The actor died (killed, exited, failed to start, shut down) before finishing the call."""

    BASE_ERROR_MSG = "The actor died unexpectedly before finishing this task."

    def __init__(
        self,
        cause: Any = None,
        *,
        actor_id: str | None = None,
        actor_init_failed: bool = False,
    ) -> None:
        message = str(cause) if cause is not None else self.BASE_ERROR_MSG
        super().__init__(actor_id, message, actor_init_failed)


class ActorUnavailableError(RayActorError):
    """The actor is temporarily unreachable (never in one process)."""


class RaySystemError(RayError):
    """An error of Ray itself."""


class UserCodeException(RayError):
    """Marks an error raised by user code."""


class ObjectStoreFullError(RayError):
    """The object store is full (never in one process: there is none)."""


class OutOfDiskError(RayError):
    """The local disk is full."""


class OutOfMemoryError(RayError):
    """The node ran out of memory."""


class NodeDiedError(RayError):
    """The node died."""


class ObjectLostError(RayError):
    """The object's value is gone; for a ref whose last holder went away before it was read."""

    def __init__(
        self, object_ref_hex: str = "", owner_address: str = "", call_site: str = ""
    ) -> None:
        super().__init__(object_ref_hex)
        self.object_ref_hex = object_ref_hex
        self.owner_address = owner_address
        self.call_site = call_site

    def __str__(self) -> str:
        return f"Failed to retrieve object {self.object_ref_hex}: its value is lost."


class ObjectFetchTimedOutError(ObjectLostError):
    """Fetching the object timed out."""


class RpcError(RayError):
    """An RPC failed."""


class ReferenceCountingAssertionError(ObjectLostError, AssertionError):
    """A reference counting invariant was broken."""


class ObjectFreedError(ObjectLostError):
    """The object was freed."""


class OwnerDiedError(ObjectLostError):
    """The object's owner died."""


class ObjectReconstructionFailedError(ObjectLostError):
    """The object could not be reconstructed."""


class GetTimeoutError(RayError, TimeoutError):
    """``ray.get`` timed out; the calls go on."""


class PlasmaObjectNotAvailable(RayError):
    """The object is not available in the object store."""


class AsyncioActorExit(RayError):
    """Raised to exit an async actor."""


class RuntimeEnvSetupError(RayError):
    """The runtime environment could not be set up."""

    def __init__(self, error_message: str | None = None) -> None:
        super().__init__(error_message or "Failed to set up the runtime environment.")
        self.error_message = error_message


class TaskPlacementGroupRemoved(RayError):
    """The task's placement group was removed."""


class ActorPlacementGroupRemoved(RayError):
    """The actor's placement group was removed."""


class PendingCallsLimitExceeded(RayError):
    """The actor already has ``max_pending_calls`` calls pending from this process."""


class TaskUnschedulableError(RayError):
    """The task cannot be scheduled."""


class ActorUnschedulableError(RayError):
    """The actor cannot be scheduled."""


class ObjectRefStreamEndOfStreamError(RayError):
    """A streaming generator has no more items."""


class UnserializableException(RayError):
    """An exception that could not be serialized; ``original_stack_trace`` describes it."""

    def __init__(self, original_stack_trace: str) -> None:
        super().__init__(original_stack_trace)
        self.original_stack_trace = original_stack_trace


class AuthenticationError(RayError):
    """A token was missing or did not match (never in one process: nothing to connect to)."""


class StreamingGeneratorReplayInconsistentError(RaySystemError):
    """A retried streaming generator yielded a different number of items."""


class OufOfBandObjectRefSerializationException(RayError):
    """A ref was serialized out of band (Ray's spelling of the name)."""


class RayChannelError(RaySystemError):
    """An error of a Compiled Graph channel (Ray's ``ray.experimental.channel``)."""


class RayChannelTimeoutError(RayChannelError, TimeoutError):
    """A Compiled Graph channel operation timed out."""


class RayCgraphCapacityExceeded(RaySystemError):
    """A Compiled Graph channel's buffer is full."""


class RayDirectTransportError(RaySystemError):
    """A direct transport transfer failed."""


class ActorAlreadyExistsError(ValueError, RayError):
    """An actor with that name already exists in the namespace."""


class ActorHandleNotFoundError(ValueError, RayError):
    """No actor has that name or id."""


class UnsupportedFeatureError(NotImplementedError):
    """A Ray feature that cannot exist in one process was asked for; ``feature`` names it.

    Not one of Ray's classes: Ray either provides the feature or fails elsewhere.
    """

    def __init__(self, feature: str, why: str) -> None:
        super().__init__(
            f"{feature} is not supported by asyncactors.compat.ray, which runs Ray code in "
            f"one process: {why}"
        )
        self.feature = feature


def task_error(
    exc: BaseException,
    function_name: str,
    actor_id: str | None = None,
    actor_repr: str | None = None,
) -> BaseException:
    """What a caller gets for ``exc`` raised by a task or method named ``function_name``.

    A ``RayTaskError`` as an instance of ``exc``'s class. An ``exc`` that
    already is a ``RayTaskError`` (another task's error, got inside this one)
    keeps its cause, and its text follows this task's frames, as in Ray.
    """
    raised = None
    if isinstance(exc, RayTaskError):
        raised, exc = exc, exc.cause
    if isinstance(exc, StopIteration):
        # A StopIteration cannot travel through the coroutines that carry an outcome
        # (PEP 479 would turn it into a RuntimeError naming no function): it arrives as
        # a RuntimeError that names the function, caused by the StopIteration.
        stop = exc
        exc = RuntimeError(f"{function_name}() raised StopIteration({stop})")
        exc.__cause__ = stop
    err = RayTaskError(function_name, "", exc, actor_repr=actor_repr, actor_id=actor_id)
    if raised is not None:
        err._raised = raised
    err = err.as_instanceof_cause()
    err.__cause__ = exc if raised is None else raised
    return err


def _dependency_failed(exc: RayTaskError, task: str) -> BaseException:
    """Task ``task`` never ran: a ref passed to it failed with ``exc``. Ray's error for
    it names the task, then says so, then shows the argument's error."""
    kind = type(exc)
    text = (
        "Traceback (most recent call last):\n"
        "  At least one of the input arguments for this task could not be computed:\n"
        f"{kind.__module__}.{kind.__qualname__}: {exc}"
    )
    err = RayTaskError(task, text, exc.cause).as_instanceof_cause()
    err.__cause__ = exc
    return err


def from_native(
    exc: BaseException, task: str | None = None, failed_argument: bool = False
) -> BaseException:
    """The Ray exception for one of asyncactors' own; anything else as it is.

    ``task``: the name of the task whose outcome ``exc`` is, so that a cancelled
    or cut-off task's error names it rather than the hidden actor that runs tasks
    (the latter as ``WorkerCrashedError``, Ray's error for a task whose worker died).
    ``failed_argument``: the task never ran, as a ref passed to it failed with
    ``exc``; a task's ``RayTaskError`` then becomes Ray's error for that.
    """
    if getattr(exc, "_worker_exit", False):  # _exec.TaskExited (a module above this one)
        crashed = WorkerCrashedError(str(exc))
        crashed.__cause__ = exc.__cause__
        return crashed
    if task is not None and failed_argument and isinstance(exc, RayTaskError):
        return _dependency_failed(exc, task)
    if isinstance(exc, RayError) or not isinstance(exc, native.AsyncActorsError):
        return exc
    if isinstance(exc, native.TaskCancelledError):
        # Cancelled while it ran: ray.cancel() made Ray's error for it (_api._cancel).
        interrupted: BaseException | None = getattr(exc, "ray_error", None)
        if interrupted is not None:
            return interrupted
    if task is not None and isinstance(exc, native.TaskCancelledError):
        cancelled = TaskCancelledError(error_message=f"task {task}() was cancelled")
        cancelled.__cause__ = exc
        return cancelled
    err: BaseException
    if task is not None and isinstance(exc, native.ActorDiedError):
        # What runs tasks is hidden: for Ray a task's worker went away.
        why = "ray.shutdown() stopped it" if exc.by_shutdown else "the worker running it died"
        err = WorkerCrashedError(f"task ray::{task}() did not finish: {why}")
    elif isinstance(exc, native.ActorDiedError):
        actor_id = None if exc.actor_id is None else format(exc.actor_id, "032x")
        cause = exc.__cause__
        if isinstance(cause, RayTaskError) and cause.function_name == f"{exc.class_name}.__init__":
            # The class's __init__ raised (the engine ran it in a hook of its own):
            # Ray's message for a failed creation task, the error and its traceback.
            err = ActorDiedError(
                f"The actor died because of an error raised in its creation task, {cause}",
                actor_id=actor_id,
                actor_init_failed=True,
            )
        else:
            err = ActorDiedError(str(exc), actor_id=actor_id)
    elif isinstance(exc, native.TaskCancelledError):
        err = TaskCancelledError(error_message=str(exc))
    elif isinstance(exc, native.GetTimeoutError):
        err = GetTimeoutError(str(exc))
    elif isinstance(exc, native.PendingCallsLimitExceeded):
        err = PendingCallsLimitExceeded(str(exc))
    elif isinstance(exc, native.ActorAlreadyExistsError):
        err = ActorAlreadyExistsError(str(exc))
    else:
        return exc
    err.__cause__ = exc
    return err
