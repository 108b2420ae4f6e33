"""Actor and method options: names, defaults and validation, after Ray's."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from typing import Any, Final, Literal

__all__ = [
    "ACTOR_DEFAULTS",
    "CALL_OPTION_NAMES",
    "METHOD_DEFAULTS",
    "check_batch_option",
    "check_batched_method_options",
    "check_block_warning",
    "check_gpu_amount",
    "check_name_for_get_if_exists",
    "check_resource_amounts",
    "check_stream_options",
    "check_timeout",
    "thread_timeout",
    "validate_actor_options",
    "validate_call_options",
    "validate_method_options",
]

ACTOR_DEFAULTS: Final[Mapping[str, Any]] = {
    "name": None,
    "namespace": None,
    "get_if_exists": False,
    "lifetime": None,
    "max_concurrency": None,
    "concurrency_groups": None,
    "max_pending_calls": -1,
    "mailbox_size": 1000,
    "max_restarts": 0,
    "max_task_retries": 0,
    "num_cpus": None,
    "num_gpus": None,
    "memory": None,
    "resources": None,
    "supervisor": None,
    "restart": None,
    "restart_on": (),
    "checkpoint_store": None,
    "checkpoint_every": 0,
    "on_corrupt_checkpoint": "raise",
    "eager": False,
}

METHOD_DEFAULTS: Final[Mapping[str, Any]] = {
    "concurrency_group": None,
    "run_in_thread": False,
    "max_task_retries": None,
    "retry_exceptions": None,
    # None: 1 for a method, "streaming" for a generator method.
    "num_returns": None,
    # None: STREAM_BUFFER, for generator methods only.
    "stream_buffer": None,
}

# How far a generator method runs ahead of its consumer unless told otherwise.
STREAM_BUFFER: Final = 16

CALL_OPTION_NAMES: Final = (
    "concurrency_group",
    "max_task_retries",
    "num_returns",
    "retry_exceptions",
    "stream_buffer",
)

_TASK_ONLY: Final = ("num_returns", "max_retries", "retry_exceptions", "max_calls")
_LIFETIMES: Final = (None, "detached", "non_detached")


def check_block_warning(value: object) -> None:
    """Refuse a ``block_warning_s`` that is neither ``None`` nor a positive number.

    Raises:
        ValueError: a number <= 0.
        TypeError: not a number.
    """
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"block_warning_s must be a number of seconds or None, got {value!r}")
    if not value > 0:
        raise ValueError(
            f"block_warning_s must be > 0 (or None to turn the watchdog off), got {value}"
        )


def check_timeout(timeout: object, name: str = "timeout") -> None:
    """Refuse a timeout that is neither ``None`` nor a number >= 0, naming it ``name``.

    ``math.inf`` is accepted: it waits as long as ``None`` does.

    Raises:
        TypeError: not a number or ``None``.
        ValueError: negative, or NaN.
    """
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(f"{name} must be a number or None, got {type(timeout).__name__}")
    if not timeout >= 0:  # NaN too: it compares false with everything
        raise ValueError(f"{name} must be >= 0 or None, got {timeout}")


def thread_timeout(timeout: float | None) -> float | None:
    """``timeout`` (checked by ``check_timeout``) as a blocking wait of a thread takes it.

    Beyond ``threading.TIMEOUT_MAX`` (``math.inf`` included) a lock's wait
    raises ``OverflowError``; so long a wait is a wait without a timeout.
    """
    return None if timeout is None or timeout > threading.TIMEOUT_MAX else timeout


def _choices(names: Any) -> str:
    return ", ".join(sorted(names))


def _unknown(key: str, valid: Mapping[str, Any], kind: str) -> str:
    """The message refusing option ``key``: the closest valid names first, if any."""
    import difflib  # here: only a mistyped option needs it

    close = difflib.get_close_matches(key, list(valid), n=3)
    names = _choices(valid)
    if not close:
        return f"unknown {kind} option {key!r}; valid {kind} options: {names}"
    guess = " or ".join(map(repr, close))
    return f"unknown {kind} option {key!r}; did you mean {guess}? Valid {kind} options: {names}"


def _check_int(option: str, value: object, *, minimum: int, allow_minus_one: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"option {option!r} must be an int, got {type(value).__name__}")
    if value < minimum and not (allow_minus_one and value == -1):
        allowed = f"-1 or >= {minimum}" if allow_minus_one else f">= {minimum}"
        raise ValueError(f"option {option!r} must be {allowed}, got {value}")


def _check_number(option: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"option {option!r} must be a number, got {type(value).__name__}")
    if not 0 <= value < math.inf:  # NaN too
        raise ValueError(f"option {option!r} must be a finite number >= 0, got {value}")


def check_gpu_amount(option: str, value: float) -> None:
    """Refuse a number of GPUs above 1 that is not whole, as Ray does.

    A fraction of one GPU shares that GPU with other actors; more than one GPU
    means whole GPUs.

    Raises:
        ValueError: ``value`` is above 1 and not a whole number.
    """
    if value > 1 and value != int(value):
        raise ValueError(
            f"{option} must be a fraction of one GPU or a whole number of GPUs "
            f"(as in Ray), got {value}"
        )


def check_resource_amounts(resources: object, api: str) -> None:
    """Check a mapping of resource names (``CPU``, ``GPU``, ``memory`` or custom) to amounts.

    Raises:
        TypeError: not a mapping, a name that is not a str, or an amount that is
            not a number.
        ValueError: an empty name, a negative amount, or a number of GPUs above
            1 that is not whole.
    """
    if not isinstance(resources, Mapping):
        raise TypeError(
            f"{api} takes a dict of resource name -> amount, got {type(resources).__name__}"
        )
    for key, amount in resources.items():
        if not isinstance(key, str):
            raise TypeError(f"resource names must be str, got {key!r}")
        if not key:
            raise ValueError(f"{api}: resource names must not be empty")
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            raise TypeError(
                f"{api}: the amount of {key!r} must be a number, got {type(amount).__name__}"
            )
        if not 0 <= amount < math.inf:  # NaN too
            raise ValueError(
                f"{api}: the amount of {key!r} must be a finite number >= 0, got {amount}"
            )
        if key == "GPU":
            check_gpu_amount(f"{api}: the amount of 'GPU'", amount)


# The most GPUs a count in ActorSystem(resources={"GPU": n}) may declare.
MAX_GPUS: Final = 1 << 16


def _gpu_ids(value: object) -> list[str]:
    """The ids of ``ActorSystem(resources={"GPU": ...})``: a count, or a list of ids.

    Raises:
        TypeError: neither a number nor a list of ints or strs.
        ValueError: a count that is negative, fractional, not finite or above
            ``MAX_GPUS``, or duplicate ids.
    """
    if isinstance(value, list | tuple):
        if not all(isinstance(i, int | str) and not isinstance(i, bool) for i in value):
            raise TypeError(f"GPU ids must be ints or strs, got {value!r}")
        ids = [str(i) for i in value]
        if len(set(ids)) != len(ids):
            raise ValueError(f"GPU ids must be unique, got {value!r}")
        return ids
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(
            f"resources['GPU'] must be a number of GPUs or a list of GPU ids, got {value!r}"
        )
    # NaN and inf too; the cap, since the system keeps each GPU's share free.
    if not 0 <= value <= MAX_GPUS or value != int(value):
        raise ValueError(
            f"resources['GPU'] must be a whole number of GPUs from 0 to {MAX_GPUS}, got {value}"
        )
    return [str(i) for i in range(int(value))]


def check_capacity(resources: object) -> dict[str, Any] | None:
    """Check ``ActorSystem(resources=...)``: a copy of it whose ``GPU``, if given, is
    the list of the GPUs' ids; ``None`` for ``None``.

    The system checks its capacity when it is made, and builds its ledger of
    resources from this only once something needs it.

    Raises:
        TypeError, ValueError: a bad mapping, name or amount (the message names it).
    """
    if resources is None:
        return None
    if not isinstance(resources, Mapping):
        raise TypeError(
            f"ActorSystem(resources=...) takes a dict of resource name -> capacity, "
            f"got {type(resources).__name__}"
        )
    given = dict(resources)
    ids = _gpu_ids(given.pop("GPU")) if "GPU" in given else None
    check_resource_amounts(given, "ActorSystem(resources=...)")
    return given if ids is None else {"GPU": ids, **given}


def _check_optional_str(option: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise TypeError(f"option {option!r} must be a str or None, got {type(value).__name__}")
    if not value:
        raise ValueError(f"option {option!r} must not be empty")


def _check_retry_exceptions(option: str, value: object) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, list | tuple) and all(
        isinstance(t, type) and issubclass(t, BaseException) for t in value
    ):
        return
    raise TypeError(f"option {option!r} must be a bool or a list of exception types, got {value!r}")


def _check_groups(value: object) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise TypeError(
            f"option 'concurrency_groups' must be a dict of name -> int, got {type(value).__name__}"
        )
    for group, limit in value.items():
        if not isinstance(group, str) or not group:
            raise TypeError(f"concurrency group names must be non-empty str, got {group!r}")
        _check_int(f"concurrency_groups[{group!r}]", limit, minimum=1)


def _check_resources(value: object) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise TypeError(f"option 'resources' must be a dict, got {type(value).__name__}")
    for key, amount in value.items():
        if not isinstance(key, str):
            raise TypeError(f"resource names must be str, got {key!r}")
        if key in ("CPU", "GPU", "memory"):
            raise ValueError(
                f"resource {key!r} cannot be set through 'resources'; "
                "use num_cpus, num_gpus or memory"
            )
        _check_number(f"resources[{key!r}]", amount)


def _refuse_unknown(opts: Mapping[str, Any], valid: Mapping[str, Any], kind: str) -> None:
    """Refuse option names not in ``valid``; ``kind`` is ``"actor"`` or ``"method"``."""
    for key in opts:
        if key in valid:
            continue
        if key in _TASK_ONLY:
            article = "an" if kind[0] in "aeiou" else "a"
            raise ValueError(
                f"{key!r} is a task option, not {article} {kind} option; asyncactors has no "
                f"remote functions. Valid {kind} options: {_choices(valid)}"
            )
        raise ValueError(_unknown(key, valid, kind))


def validate_actor_options(opts: Mapping[str, Any]) -> None:
    """Check actor options' names, types and ranges.

    Raises:
        ValueError: an unknown or task-only option, or a value out of range.
        TypeError: a value of the wrong type.
    """
    _refuse_unknown(opts, ACTOR_DEFAULTS, "actor")
    for key, value in opts.items():
        if key in ("name", "namespace"):
            _check_optional_str(key, value)
        elif key in ("get_if_exists", "eager"):
            if not isinstance(value, bool):
                raise TypeError(f"option {key!r} must be a bool, got {value!r}")
        elif key == "lifetime":
            if value not in _LIFETIMES:
                raise ValueError(
                    f"option 'lifetime' must be one of None, 'detached', 'non_detached'; "
                    f"got {value!r}"
                )
        elif key == "max_concurrency":
            if value is not None:
                _check_int(key, value, minimum=1)
        elif key == "concurrency_groups":
            _check_groups(value)
        elif key == "max_pending_calls":
            _check_int(key, value, minimum=1, allow_minus_one=True)
        elif key == "mailbox_size":
            _check_int(key, value, minimum=1)
        elif key in ("max_restarts", "max_task_retries"):
            _check_int(key, value, minimum=0, allow_minus_one=True)
        elif key in ("num_cpus", "num_gpus", "memory"):
            if value is not None:
                _check_number(key, value)
                if key == "num_gpus":
                    check_gpu_amount("option 'num_gpus'", value)
        elif key == "resources":
            _check_resources(value)
        # "supervisor" is checked by _actor_class, above the Supervisor class.
        elif key == "restart":
            if value not in (None, "permanent", "transient", "temporary"):
                raise ValueError(
                    f"option 'restart' must be one of 'permanent', 'transient', "
                    f"'temporary'; got {value!r}"
                )
        elif key == "restart_on":
            if not isinstance(value, tuple | list) or not all(
                isinstance(t, type) and issubclass(t, BaseException) for t in value
            ):
                raise TypeError(
                    f"option 'restart_on' must be a tuple of exception types, got {value!r}"
                )
        elif key == "checkpoint_store":
            if value is not None and not all(
                callable(getattr(value, m, None)) for m in ("load", "save", "delete")
            ):
                raise TypeError(
                    "option 'checkpoint_store' must implement asyncactors.CheckpointStore "
                    f"(async load, save, delete); got {type(value).__name__}"
                )
        elif key == "checkpoint_every":
            _check_int(key, value, minimum=0)
        elif key == "on_corrupt_checkpoint" and value not in ("raise", "start_fresh"):
            raise ValueError(
                f"option 'on_corrupt_checkpoint' must be 'raise' or 'start_fresh', got {value!r}"
            )
    check_name_for_get_if_exists(opts)


def check_name_for_get_if_exists(opts: Mapping[str, Any]) -> None:
    """Refuse ``get_if_exists`` without a ``name``, in options as given or merged.

    Raises:
        ValueError: ``get_if_exists`` is true and ``name`` is empty.
    """
    if opts.get("get_if_exists") and not opts.get("name"):
        raise ValueError("option 'get_if_exists' requires option 'name'")


def check_batch_option(
    option: Literal["max_batch_size", "batch_wait_timeout_s"], value: object
) -> None:
    """Check a limit of ``@asyncactors.batch``: ``max_batch_size`` or ``batch_wait_timeout_s``.

    Raises:
        TypeError: a value of the wrong type.
        ValueError: a value out of range.
    """
    if option == "max_batch_size":
        wanted = "an int >= 1"
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"option {option!r} must be {wanted}, got {value!r}")
        if value < 1:
            raise ValueError(f"option {option!r} must be {wanted}, got {value}")
    else:
        wanted = "a finite number of seconds >= 0"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"option {option!r} must be {wanted}, got {value!r}")
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"option {option!r} must be {wanted}, got {value}")


def validate_method_options(opts: Mapping[str, Any]) -> None:
    """Check ``@asyncactors.method`` options.

    Raises:
        ValueError: an unknown option or a value out of range.
        TypeError: a value of the wrong type.
    """
    _refuse_unknown(opts, METHOD_DEFAULTS, "method")
    for key, value in opts.items():
        if key == "concurrency_group":
            _check_optional_str(key, value)
        elif key == "run_in_thread":
            if not isinstance(value, bool):
                raise TypeError(f"option 'run_in_thread' must be a bool, got {value!r}")
        elif key == "max_task_retries":
            if value is not None:
                _check_int(key, value, minimum=0, allow_minus_one=True)
        elif key == "retry_exceptions":
            _check_retry_exceptions(key, value)
        elif key == "num_returns":
            _check_num_returns(value)
        elif key == "stream_buffer" and value is not None:
            _check_int(key, value, minimum=1)


def _check_num_returns(value: object) -> None:
    if value is None or value == "streaming":
        return
    if value == "dynamic":
        raise ValueError(
            "option 'num_returns' cannot be 'dynamic' (Ray's deprecated generator of refs); "
            "declare a generator method instead: it streams its items"
        )
    if isinstance(value, str):
        raise ValueError(f"option 'num_returns' must be an int >= 1 or 'streaming', got {value!r}")
    _check_int("num_returns", value, minimum=1)


def check_batched_method_options(where: str, opts: Mapping[str, Any]) -> None:
    """Refuse ``@asyncactors.method`` options that do not fit a batched method.

    Each call of a batched method sends one item and gets that item's one
    result, and the method returns a list, not a stream.

    Raises:
        ValueError: ``num_returns`` other than 1, or ``stream_buffer``.
    """
    num_returns = opts.get("num_returns")
    if num_returns not in (None, 1):
        raise ValueError(
            f"{where} is a batched method: each call sends one item and gets its one "
            f"result, so option 'num_returns' can only be 1, got {num_returns!r}"
        )
    if opts.get("stream_buffer") is not None:
        raise ValueError(
            f"{where} is a batched method, not a generator method: option "
            "'stream_buffer' does not apply"
        )


def check_stream_options(where: str, stream: bool, opts: Mapping[str, Any]) -> None:
    """Refuse method options that do not fit the kind of method ``where`` names.

    ``stream`` says whether it is a generator method. A stream is never retried
    (its consumer has its items already) and returns one stream, not refs.

    Raises:
        ValueError: ``stream_buffer`` or ``num_returns="streaming"`` on a method
            that is no generator; ``num_returns`` other than "streaming",
            ``max_task_retries`` or ``retry_exceptions`` on a generator method.
    """
    num_returns = opts.get("num_returns")
    if stream:
        if num_returns not in (None, "streaming"):
            raise ValueError(
                f"{where} is a generator method: it returns a stream, so option "
                f"'num_returns' can only be 'streaming' (the default), got {num_returns!r}"
            )
        for key in ("max_task_retries", "retry_exceptions"):
            if opts.get(key) is not None:
                raise ValueError(
                    f"{where} is a generator method, and streams are never retried "
                    f"(its consumer may have items already): option {key!r} does not apply"
                )
    else:
        if opts.get("stream_buffer") is not None:
            raise ValueError(
                f"option 'stream_buffer' is for generator methods, and {where} is not one"
            )
        if num_returns == "streaming":
            raise ValueError(
                f"num_returns='streaming' is for generator methods, and {where} is not one; "
                "make it a generator (yield its items) to stream them"
            )


def validate_call_options(opts: Mapping[str, Any]) -> None:
    """Check the options of ``handle.method.options(...)``.

    Raises:
        ValueError: an unknown option or a value out of range.
        TypeError: a value of the wrong type.
    """
    valid = {k: METHOD_DEFAULTS[k] for k in CALL_OPTION_NAMES}
    for key in opts:
        if key not in valid:
            raise ValueError(_unknown(key, valid, "call"))
    validate_method_options(opts)
