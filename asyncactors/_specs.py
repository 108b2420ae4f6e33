"""What the engines know about actor classes, methods and options, built once by ``@remote``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

from ._signature import ArgChecker
from ._types import ASYNC, STREAM_ASYNC, STREAMS, MethodKind, RestartType

__all__ = [
    "EAGER_BUDGET",
    "ActorConfig",
    "BatchSpec",
    "ClassSpec",
    "MethodSpec",
    "actor_demand",
]

# Here, not in _protocols (the Host protocol that counts it down): the engines and
# the system need it at run time, and the protocols only for type checking.
EAGER_BUDGET: Final = 128
"""Calls of ``eager=True`` actors run inside ``.remote()`` in a row, system-wide, before
a call must wait for the loop to turn: a caller looping over such calls never yields
otherwise."""


class MethodSpec:
    """What the engine knows about one actor method.

    ``group`` is the concurrency group the method runs in (``None``: the
    default group); for a batched method it is the method's ``BatchSpec``
    instead, which keys the actor's queue of items waiting for a batch (the
    batch runs in ``batch.run.group``). ``batch`` is ``None`` for other methods.
    """

    __slots__ = (
        "batch",
        "check",
        "class_name",
        "func",
        "group",
        "kind",
        "max_task_retries",
        "name",
        "num_returns",
        "retry_exceptions",
        "stream_buffer",
    )

    def __init__(
        self,
        class_name: str,
        name: str,
        func: Callable[..., Any],
        kind: MethodKind,
        group: str | BatchSpec | None,
        max_task_retries: int | None,
        retry_exceptions: bool | tuple[type[BaseException], ...] | None,
        *,
        batch: BatchSpec | None = None,
        num_returns: int = 1,
        stream_buffer: int = 16,
    ) -> None:
        self.class_name = class_name
        self.name = name
        self.func = func
        self.kind = kind
        self.group = group
        self.max_task_retries = max_task_retries
        self.retry_exceptions = retry_exceptions
        self.batch = batch
        # How many refs .remote() returns (Ray's num_returns); 1 for streams and items.
        self.num_returns = num_returns
        # How far a generator method may run ahead of its consumer, in items.
        self.stream_buffer = stream_buffer
        self.check = ArgChecker(func, f"{class_name}.{name}", drop_first=True)

    @property
    def concurrency_group(self) -> str | None:
        """The concurrency group the method runs in (a batched method's batches, too)."""
        if self.batch is not None:
            return self.batch.run.concurrency_group
        assert not isinstance(self.group, BatchSpec)
        return self.group

    def with_options(self, opts: Mapping[str, Any]) -> MethodSpec:
        """A copy with per-call options applied."""
        new = object.__new__(MethodSpec)
        for slot in MethodSpec.__slots__:
            setattr(new, slot, getattr(self, slot))
        for key, value in opts.items():
            if key == "concurrency_group":
                new.group = value
            elif key == "retry_exceptions" and isinstance(value, list):
                new.retry_exceptions = tuple(value)
            elif key == "num_returns":
                new.num_returns = 1 if value in (None, "streaming") else value
            elif key == "stream_buffer":
                if value is not None:  # None: the method's own
                    new.stream_buffer = value
            else:
                setattr(new, key, value)
        return new


class BatchSpec:
    """A batched method (``@asyncactors.batch``): its declared limits and what a batch runs.

    Callers send one item each (the item's ``MethodSpec`` has this as its
    ``batch``); a flushed batch is one call of ``run``, the method's own
    function, kind and options, with the list of items.
    """

    __slots__ = ("batch_wait_timeout_s", "max_batch_size", "run")

    def __init__(self, max_batch_size: int, batch_wait_timeout_s: float, run: MethodSpec) -> None:
        self.max_batch_size = max_batch_size
        self.batch_wait_timeout_s = batch_wait_timeout_s
        self.run = run

    def __repr__(self) -> str:
        return f"<batch of {self.run.class_name}.{self.run.name}()>"


class ClassSpec:
    """What the engine knows about an actor class, built once by ``@remote``."""

    __slots__ = (
        "batched",
        "cls",
        "handle_type",
        "has_async",
        "has_streams",
        "init_check",
        "method_kinds",
        "methods",
        "name",
        "post_create",
        "pre_destroy",
        "stop",
    )

    def __init__(
        self,
        cls: type,
        methods: dict[str, MethodSpec],
        post_create: Callable[[Any], Any] | None,
        pre_destroy: Callable[[Any], Any] | None,
    ) -> None:
        self.cls = cls
        self.name = cls.__name__
        self.methods = methods
        # An async generator method makes an async actor too, as in Ray.
        self.has_async = any(m.kind in (ASYNC, STREAM_ASYNC) for m in methods.values())
        # Whether its actors can have open streams (calls of generator methods).
        self.has_streams = any(m.kind in STREAMS for m in methods.values())
        # The batched methods, each of which gets a queue in every actor's mailbox.
        self.batched = tuple(m for m in methods.values() if m.batch is not None)
        self.post_create = post_create
        self.pre_destroy = pre_destroy
        self.init_check = ArgChecker(cls, cls.__name__, drop_first=False)
        # What a stop call (asyncactors.stop(), __ray_terminate__) runs: made by
        # the engine on first use.
        self.stop: MethodSpec | None = None
        # Set by ActorClass: the ActorHandle subclass with one attribute per method,
        # called with an engine core to make a handle.
        self.handle_type: Any = _unset_handle_type
        # Set by ActorClass with handle_type: the ActorMethod class of each method
        # that has a slot in the handle type (see make_handle_type).
        self.method_kinds: dict[str, type] = {}


class ActorConfig:
    """What every actor made from one ``ActorClass`` shares: its resolved options."""

    __slots__ = (
        "checkpoint_every",
        "detached",
        "eager",
        "groups",
        "mailbox_size",
        "max_concurrency",
        "max_pending_calls",
        "max_restarts",
        "max_task_retries",
        "on_corrupt_checkpoint",
        "plain",
        "resources",
        "restart",
        "restart_on",
        "store",
    )

    def __init__(self, spec: ClassSpec, opts: Mapping[str, Any]) -> None:
        self.detached = opts["lifetime"] == "detached"
        self.max_pending_calls: int = opts["max_pending_calls"]
        self.mailbox_size: int = opts["mailbox_size"]
        mc = opts["max_concurrency"]
        self.max_concurrency: int = mc if mc is not None else (1000 if spec.has_async else 1)
        self.groups: Mapping[str, int] | None = opts["concurrency_groups"]
        self.max_restarts: int = opts["max_restarts"]
        self.max_task_retries: int = opts["max_task_retries"]
        # The Supervisor itself is the system's business; the engine needs only
        # its consequence for the default restart type.
        supervised = opts["supervisor"] is not None
        restart = opts["restart"]
        if restart is None:
            # OTP's default under an explicit supervisor; Ray's (restart on
            # crashes only) under the root.
            restart = "permanent" if supervised else "transient"
        self.restart: RestartType = restart
        self.restart_on: tuple[type[BaseException], ...] = tuple(opts["restart_on"])
        self.store: Any = opts["checkpoint_store"]
        self.checkpoint_every: int = opts["checkpoint_every"] if self.store is not None else 0
        self.on_corrupt_checkpoint: str = opts["on_corrupt_checkpoint"]
        self.resources = actor_demand(opts)
        self.eager: bool = opts["eager"]
        # No name, no supervisor and nothing to reserve: the system registers such
        # an actor and starts it at once, with nothing to look up, lock or wait for.
        self.plain: bool = opts["name"] is None and not supervised and self.resources is None


def actor_demand(opts: Mapping[str, Any]) -> Mapping[str, float] | None:
    """What an actor with these options reserves: ``num_cpus``, ``num_gpus``,
    ``memory`` and custom ``resources`` by name; ``None`` if nothing (the usual
    case, which creation then tests in one comparison)."""
    named = {"CPU": opts["num_cpus"], "GPU": opts["num_gpus"], "memory": opts["memory"]}
    demand = {k: v for k, v in {**named, **(opts["resources"] or {})}.items() if v}
    return MappingProxyType(demand) if demand else None


def _unset_handle_type(core: Any) -> Any:
    raise RuntimeError("ClassSpec.handle_type is set by ActorClass before any actor is created")
