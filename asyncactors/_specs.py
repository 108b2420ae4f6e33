"""What the engines know about actor classes, methods and options, built once by ``@remote``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._signature import ArgChecker
from ._types import ASYNC, MethodKind, RestartType

__all__ = ["ActorConfig", "ClassSpec", "MethodSpec"]


class MethodSpec:
    """What the engine knows about one actor method."""

    __slots__ = (
        "check",
        "class_name",
        "func",
        "group",
        "kind",
        "max_task_retries",
        "name",
        "retry_exceptions",
    )

    def __init__(
        self,
        class_name: str,
        name: str,
        func: Callable[..., Any],
        kind: MethodKind,
        group: str | None,
        max_task_retries: int | None,
        retry_exceptions: bool | tuple[type[BaseException], ...] | None,
    ) -> None:
        self.class_name = class_name
        self.name = name
        self.func = func
        self.kind = kind
        self.group = group
        self.max_task_retries = max_task_retries
        self.retry_exceptions = retry_exceptions
        self.check = ArgChecker(func, f"{class_name}.{name}", drop_first=True)

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
            else:
                setattr(new, key, value)
        return new


class ClassSpec:
    """What the engine knows about an actor class, built once by ``@remote``."""

    __slots__ = (
        "cls",
        "handle_type",
        "has_async",
        "init_check",
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
        self.has_async = any(m.kind == ASYNC for m in methods.values())
        self.post_create = post_create
        self.pre_destroy = pre_destroy
        self.init_check = ArgChecker(cls, cls.__name__, drop_first=False)
        # What a stop call (asyncactors.stop(), __ray_terminate__) runs: made by
        # the engine on first use.
        self.stop: MethodSpec | None = None
        # Set by ActorClass: the ActorHandle subclass with one attribute per method,
        # called with an engine core to make a handle.
        self.handle_type: Callable[[Any], Any] = _unset_handle_type


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
        self.eager: bool = opts["eager"]


def _unset_handle_type(core: Any) -> Any:
    raise RuntimeError("ClassSpec.handle_type is set by ActorClass before any actor is created")
