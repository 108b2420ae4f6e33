"""Bad input gets a clear error at the call site, and nothing is lost (issue 2, "Bad input").

Every test checks both the exception type and that the message names the problem:
the option, method or actor name involved and, where there are few, the valid choices.
"""

from __future__ import annotations

import asyncio
import math
import re
from typing import Any

import pytest

import asyncactors
from asyncactors import (
    ActorAlreadyExistsError,
    ActorDiedError,
    MailboxFullError,
    PendingCallsLimitExceeded,
)
from asyncactors._options import validate_call_options

TASK_ONLY_OPTIONS = [
    ("num_returns", 2),
    ("max_retries", 3),
    ("retry_exceptions", True),
    ("max_calls", 1),
]

WRONG_TYPE_OPTIONS = [
    ("max_concurrency", "4"),
    ("mailbox_size", "10"),
    ("max_pending_calls", "3"),
    ("name", 42),
    ("namespace", 7),
    ("concurrency_groups", ["io"]),
    ("concurrency_groups", {"io": "2"}),
    ("max_restarts", "1"),
    ("max_task_retries", "1"),
    ("num_cpus", "1"),
    ("num_gpus", "1"),
    ("memory", "1GB"),
    ("resources", ["CPU"]),
]

OUT_OF_RANGE_OPTIONS = [
    ("max_concurrency", 0),
    ("mailbox_size", 0),
    ("mailbox_size", -5),
    ("max_pending_calls", 0),
    ("max_pending_calls", -2),
    ("max_restarts", -2),
    ("max_task_retries", -2),
    ("num_cpus", -1),
    ("num_gpus", -0.5),
    ("memory", -1),
    ("concurrency_groups", {"io": 0}),
    ("resources", {"accelerator": -1}),
    # Not finite: NaN compares false with every bound, and inf is no amount to reserve.
    ("num_cpus", math.nan),
    ("num_cpus", math.inf),
    ("num_gpus", math.nan),
    ("num_gpus", math.inf),
    ("memory", math.nan),
    ("memory", math.inf),
    ("resources", {"accelerator": math.nan}),
    ("resources", {"accelerator": math.inf}),
]


class Plain:
    """An undecorated class, decorated inside each test."""

    def ping(self) -> str:
        return "pong"


@asyncactors.remote
class Counter:
    def __init__(self, start: int) -> None:
        self.value = start

    def increment(self) -> int:
        self.value += 1
        return self.value

    def add(self, left: int, right: int) -> int:
        self.value += left + right
        return self.value

    def get_value(self) -> int:
        return self.value

    def _secret(self) -> str:
        return "hidden"


@asyncactors.remote
class Gate:
    """An async actor whose ``wait_open`` call stays running until ``open`` is called."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()

    async def wait_open(self) -> str:
        await self.opened.wait()
        return "opened"

    def open(self) -> None:
        self.opened.set()

    def result_of(self, boxed_ref: list[Any]) -> Any:
        # A sync method runs inline on the loop thread, where result() would deadlock.
        # The ref is boxed in a list so that it is not resolved before the call (only
        # top-level ref arguments are).
        return boxed_ref[0].result(timeout=5)


def plain_function() -> None:
    """A function, not a class."""


async def plain_coroutine_function() -> None:
    """An async function, not a class."""


def _declare_actor_with_method(
    method_options: dict[str, Any], actor_options: dict[str, Any]
) -> asyncactors.ActorClass:
    """Declare a fresh class whose ``fetch`` method has ``method_options``, as an actor."""

    class Fetcher:
        @asyncactors.method(**method_options)
        async def fetch(self) -> str:
            return "fetched"

    return asyncactors.remote(**actor_options)(Fetcher)


def _message(exc_info: pytest.ExceptionInfo[BaseException]) -> str:
    return str(exc_info.value)


# --- declaring -------------------------------------------------------------------------------


def test_unknown_option_raises_value_error_naming_it_and_listing_valid_options() -> None:
    with pytest.raises(ValueError, match="max_concurency") as exc_info:
        asyncactors.remote(max_concurency=4)(Plain)
    message = _message(exc_info)
    for valid in ("max_concurrency", "mailbox_size", "concurrency_groups", "max_pending_calls"):
        assert valid in message, f"valid option {valid!r} not listed in: {message}"


@pytest.mark.parametrize(("option", "value"), WRONG_TYPE_OPTIONS)
def test_wrong_option_type_raises_type_error_naming_the_option(option: str, value: Any) -> None:
    with pytest.raises(TypeError, match=re.escape(option)):
        asyncactors.remote(**{option: value})(Plain)


def test_negative_max_concurrency_raises_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        asyncactors.remote(max_concurrency=-1)(Plain)


@pytest.mark.parametrize(("option", "value"), OUT_OF_RANGE_OPTIONS)
def test_out_of_range_option_raises_value_error_naming_the_option(option: str, value: Any) -> None:
    with pytest.raises(ValueError, match=re.escape(option)):
        asyncactors.remote(**{option: value})(Plain)


def test_unknown_lifetime_raises_value_error_listing_the_choices() -> None:
    with pytest.raises(ValueError, match="lifetime") as exc_info:
        asyncactors.remote(lifetime="forever")(Plain)
    assert "forever" in _message(exc_info)
    assert "detached" in _message(exc_info)


def test_concurrency_group_not_declared_raises_value_error_naming_group_and_choices() -> None:
    with pytest.raises(ValueError, match="cpu") as exc_info:
        _declare_actor_with_method({"concurrency_group": "cpu"}, {"concurrency_groups": {"io": 2}})
    assert "io" in _message(exc_info), "the declared groups should be listed"


def test_concurrency_group_without_any_groups_declared_raises_value_error() -> None:
    with pytest.raises(ValueError, match="cpu"):
        _declare_actor_with_method({"concurrency_group": "cpu"}, {})


@pytest.mark.parametrize(("option", "value"), TASK_ONLY_OPTIONS)
def test_task_only_option_raises_value_error_saying_it_is_a_task_option(
    option: str, value: Any
) -> None:
    with pytest.raises(ValueError, match="task option") as exc_info:
        asyncactors.remote(**{option: value})(Plain)
    assert option in _message(exc_info)


def test_option_error_messages_read_as_english() -> None:
    """Unknown and task-only option messages say "actor option", never "an actor option"."""
    with pytest.raises(ValueError, match="unknown actor option 'max_concurency'") as unknown:
        asyncactors.remote(max_concurency=4)(Plain)
    assert "Valid actor options: " in _message(unknown)
    with pytest.raises(ValueError, match="not an actor option") as task_only:
        asyncactors.remote(num_returns=2)(Plain)
    assert "Valid actor options: " in _message(task_only)
    for message in (_message(unknown), _message(task_only)):
        assert "an actor options" not in message
        assert "unknown an " not in message


def test_mistyped_option_names_the_closest_valid_ones() -> None:
    """A mistyped actor or call option is answered with the valid names closest to it;
    a name like none of them, with the list alone."""
    with pytest.raises(ValueError, match="did you mean 'max_concurrency'") as close:
        asyncactors.remote(max_concurency=4)(Plain)
    assert "Valid actor options: " in _message(close)
    with pytest.raises(ValueError, match="unknown actor option 'zzz'; valid actor") as far:
        asyncactors.remote(zzz=1)(Plain)
    assert "did you mean" not in _message(far)
    with pytest.raises(ValueError, match="call option 'num_return'; did you mean 'num_returns'"):
        validate_call_options({"num_return": 2})


@pytest.mark.parametrize(
    "target",
    [plain_function, plain_coroutine_function, Plain()],
    ids=["function", "async-function", "instance"],
)
@pytest.mark.parametrize("with_options", [False, True], ids=["bare", "with-options"])
def test_decorating_something_not_a_class_raises_type_error(
    target: Any, with_options: bool
) -> None:
    decorator = asyncactors.remote(max_concurrency=2) if with_options else asyncactors.remote
    with pytest.raises(TypeError, match="class"):
        decorator(target)


def test_run_in_thread_on_async_method_raises_type_error_naming_the_option() -> None:
    with pytest.raises(TypeError, match="run_in_thread"):
        _declare_actor_with_method({"run_in_thread": True}, {})


# --- ActorClass misuse -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "needle"),
    [
        ({"max_concurency": 2}, ValueError, "max_concurency"),
        ({"max_concurrency": "2"}, TypeError, "max_concurrency"),
        ({"max_concurrency": -1}, ValueError, "max_concurrency"),
        ({"mailbox_size": 0}, ValueError, "mailbox_size"),
        ({"lifetime": "forever"}, ValueError, "lifetime"),
        ({"num_returns": 2}, ValueError, "task option"),
    ],
    ids=["unknown", "wrong-type", "negative", "zero-mailbox", "bad-lifetime", "task-only"],
)
async def test_invalid_actor_class_options_raise_at_options_and_leave_class_usable(
    options: dict[str, Any], error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=re.escape(needle)):
        Counter.options(**options)
    async with asyncactors.ActorSystem() as system:
        handle = await Counter.remote(5)
        assert await handle.increment.remote() == 6
        (info,) = system.list_actors()
        assert info.mailbox_capacity == 1000, "the failed .options() call changed the class"


async def test_checkpoint_every_without_a_store_raises_value_error_at_remote() -> None:
    """checkpoint_every without checkpoint_store would save nothing: remote() refuses it."""
    declared = Counter.options(checkpoint_every=1)
    async with asyncactors.ActorSystem() as system:
        with pytest.raises(ValueError, match="'checkpoint_every' needs option 'checkpoint_store'"):
            declared.remote(0)
        assert system.list_actors() == []
        # The store may come in a later options(), as a deployment's choice.
        handle = declared.options(checkpoint_store=asyncactors.MemoryStore()).remote(0)
        assert await handle.increment.remote() == 1


def test_instantiating_actor_class_directly_raises_type_error_pointing_to_remote() -> None:
    with pytest.raises(TypeError, match="remote"):
        Counter(1)


@pytest.mark.parametrize(
    ("args", "kwargs", "detail"),
    [
        ((1, 2), {}, r"too many|positional"),
        ((), {}, r"start"),
        ((0,), {"bogus_kw": 1}, r"bogus_kw"),
    ],
    ids=["too-many", "missing", "unexpected-keyword"],
)
async def test_init_with_wrong_arguments_raises_type_error_at_remote_and_creates_nothing(
    args: tuple[Any, ...], kwargs: dict[str, Any], detail: str
) -> None:
    async with asyncactors.ActorSystem() as system:
        with pytest.raises(TypeError, match=detail) as exc_info:
            Counter.options(name="counter").remote(*args, **kwargs)
        assert re.search(r"Counter|__init__", _message(exc_info)), _message(exc_info)
        assert system.list_actors() == []
        # The failed creation did not take the name.
        handle = await Counter.options(name="counter").remote(0)
        assert await handle.increment.remote() == 1


def test_remote_without_running_loop_or_system_raises_runtime_error_saying_what_to_do() -> None:
    with pytest.raises(RuntimeError, match=r"ActorSystem|init|loop"):
        Counter.remote(0)


# --- calling methods -------------------------------------------------------------------------


async def test_unknown_method_raises_attribute_error_suggesting_the_close_name() -> None:
    async with asyncactors.ActorSystem():
        handle = await Counter.remote(0)
        with pytest.raises(AttributeError, match="incremnt") as exc_info:
            handle.incremnt.remote()
        assert "increment" in _message(exc_info).replace("incremnt", "")
        assert await handle.get_value.remote() == 0


async def test_private_method_raises_attribute_error_saying_it_is_private() -> None:
    async with asyncactors.ActorSystem():
        handle = await Counter.remote(0)
        with pytest.raises(AttributeError, match="private") as exc_info:
            handle._secret.remote()
        assert "_secret" in _message(exc_info)


@pytest.mark.parametrize(
    ("args", "kwargs", "detail"),
    [
        ((1, 2, 3), {}, r"too many|positional"),
        ((1,), {}, r"right"),
        ((1, 2), {"bogus_kw": 3}, r"bogus_kw"),
    ],
    ids=["too-many", "missing", "unexpected-keyword"],
)
async def test_method_with_wrong_arguments_raises_type_error_naming_the_method(
    args: tuple[Any, ...], kwargs: dict[str, Any], detail: str
) -> None:
    async with asyncactors.ActorSystem():
        handle = await Counter.remote(0)
        with pytest.raises(TypeError, match=r"\badd\b") as exc_info:
            handle.add.remote(*args, **kwargs)
        assert re.search(detail, _message(exc_info)), _message(exc_info)
        # Nothing was submitted: the next valid call sees the initial state.
        assert await handle.add.remote(1, 2) == 3


async def test_max_pending_calls_exceeded_raises_at_once_and_loses_no_accepted_call() -> None:
    async with asyncactors.ActorSystem():
        handle = await Counter.options(max_pending_calls=2).remote(0)
        first, second = handle.increment.remote(), handle.increment.remote()
        with pytest.raises(PendingCallsLimitExceeded, match=r"(?i)pending"):
            handle.increment.remote()
        assert await asyncactors.get([first, second], timeout=10) == [1, 2]
        assert await handle.get_value.remote() == 2


def _submit_nowait_until_full(handle: Any, accepted: list[Any], limit: int) -> None:
    for _ in range(limit):
        accepted.append(handle.increment.submit_nowait())


async def test_submit_nowait_on_full_mailbox_raises_mailbox_full_and_loses_nothing() -> None:
    async with asyncactors.ActorSystem():
        handle = await Counter.options(mailbox_size=2, max_concurrency=1).remote(0)
        accepted: list[Any] = []
        with pytest.raises(MailboxFullError, match=r"(?i)full|mailbox"):
            _submit_nowait_until_full(handle, accepted, limit=20)
        values = await asyncactors.get(accepted, timeout=10)
        assert values == list(range(1, len(accepted) + 1))
        assert await handle.get_value.remote() == len(accepted)


# --- names -----------------------------------------------------------------------------------


async def test_duplicate_name_raises_actor_already_exists_error_naming_it() -> None:
    async with asyncactors.ActorSystem():
        first = await Counter.options(name="dup-name").remote(0)
        with pytest.raises(ActorAlreadyExistsError, match="dup-name") as exc_info:
            await Counter.options(name="dup-name").remote(100)
        assert isinstance(exc_info.value, ValueError)
        assert await first.increment.remote() == 1


async def test_get_actor_of_missing_name_raises_value_error_naming_it() -> None:
    async with asyncactors.ActorSystem() as system:
        with pytest.raises(ValueError, match="no-such-actor"):
            asyncactors.get_actor("no-such-actor")
        with pytest.raises(ValueError, match="no-such-actor"):
            system.get_actor("no-such-actor")


@pytest.mark.parametrize(
    ("name", "namespace", "match"),
    [
        (None, None, "non-empty actor name"),
        ("", None, "non-empty actor name"),
        ("svc", "", "not a valid namespace"),
    ],
    ids=["none-name", "empty-name", "empty-namespace"],
)
async def test_get_actor_with_empty_name_or_namespace_raises_value_error_as_in_ray(
    name: Any, namespace: Any, match: str
) -> None:
    async with asyncactors.ActorSystem() as system:
        with pytest.raises(ValueError, match=match):
            asyncactors.get_actor(name, namespace)
        with pytest.raises(ValueError, match=match):
            system.get_actor(name, namespace)


@pytest.mark.parametrize(
    ("name", "namespace", "match"),
    [(42, None, "actor name must be a str"), ("svc", 7, "namespace must be a str")],
    ids=["int-name", "int-namespace"],
)
async def test_get_actor_with_a_non_str_name_or_namespace_raises_type_error(
    name: Any, namespace: Any, match: str
) -> None:
    async with asyncactors.ActorSystem():
        with pytest.raises(TypeError, match=match):
            asyncactors.get_actor(name, namespace)


async def test_empty_namespace_for_a_system_raises_value_error_as_in_ray() -> None:
    with pytest.raises(ValueError, match="not a valid namespace"):
        asyncactors.ActorSystem(namespace="")
    with pytest.raises(ValueError, match="not a valid namespace"):
        asyncactors.init(namespace="")
    with pytest.raises(TypeError, match="namespace must be a str"):
        asyncactors.ActorSystem(namespace=None)


async def test_get_actor_in_other_namespace_raises_value_error_naming_it() -> None:
    async with asyncactors.ActorSystem():
        await Counter.options(name="only-here").remote(0)
        with pytest.raises(ValueError, match="only-here"):
            asyncactors.get_actor("only-here", namespace="elsewhere")


# --- dead actors -----------------------------------------------------------------------------


async def test_call_after_kill_fails_with_actor_died_error_mentioning_killed() -> None:
    async with asyncactors.ActorSystem():
        handle = await Counter.remote(0)
        asyncactors.kill(handle)
        ref = handle.increment.remote()
        with pytest.raises(ActorDiedError, match="killed"):
            await ref
        assert ref.done()


async def test_kill_fails_running_and_queued_calls_with_actor_died_error_saying_killed() -> None:
    async with asyncactors.ActorSystem():
        gate = await Gate.options(max_concurrency=1).remote()
        running = gate.wait_open.remote()
        queued = [gate.wait_open.remote() for _ in range(3)]
        await asyncio.sleep(0)
        asyncactors.kill(gate)
        for ref in [running, *queued]:
            with pytest.raises(ActorDiedError, match="killed"):
                await asyncactors.get(ref, timeout=10)


@pytest.mark.parametrize(
    "target", [object(), Counter, "actor-name"], ids=["object", "class", "str"]
)
async def test_kill_of_something_not_a_handle_raises_value_error_as_in_ray(target: Any) -> None:
    async with asyncactors.ActorSystem():
        with pytest.raises(ValueError, match=r"(?i)handle"):
            asyncactors.kill(target)


@pytest.mark.parametrize(
    "target", [object(), Counter, "actor-name"], ids=["object", "class", "str"]
)
async def test_stop_of_something_not_a_handle_raises_value_error_like_kill(target: Any) -> None:
    async with asyncactors.ActorSystem():
        with pytest.raises(ValueError, match=r"stop\(\) takes an ActorHandle"):
            asyncactors.stop(target)


async def test_call_after_explicit_shutdown_fails_with_actor_died_error_saying_shut_down() -> None:
    async with asyncactors.ActorSystem() as system:
        handle = await Counter.remote(0)
        await system.shutdown()
        ref = handle.increment.remote()
        with pytest.raises(ActorDiedError, match="shut down"):
            await ref


async def test_call_after_leaving_system_fails_with_actor_died_error_mentioning_shut_down() -> None:
    async with asyncactors.ActorSystem():
        handle = await Counter.remote(0)
    ref = handle.increment.remote()
    with pytest.raises(ActorDiedError, match="shut down"):
        await ref


def test_exit_actor_outside_an_actor_raises_type_error() -> None:
    with pytest.raises(TypeError, match="actor"):
        asyncactors.exit_actor()


async def test_exit_actor_in_a_system_but_outside_an_actor_raises_type_error() -> None:
    async with asyncactors.ActorSystem():
        with pytest.raises(TypeError, match="actor"):
            asyncactors.exit_actor()


# --- wait / get ------------------------------------------------------------------------------


async def test_wait_with_duplicate_refs_raises_value_error() -> None:
    async with asyncactors.ActorSystem():
        first, second = asyncactors.put(1), asyncactors.put(2)
        with pytest.raises(ValueError, match=r"(?i)duplicate|unique"):
            await asyncactors.wait([first, second, first])


@pytest.mark.parametrize("num_returns", [0, -1, 3])
async def test_wait_with_num_returns_out_of_range_raises_value_error_naming_it(
    num_returns: int,
) -> None:
    async with asyncactors.ActorSystem():
        refs = [asyncactors.put(1), asyncactors.put(2)]
        with pytest.raises(ValueError, match="num_returns"):
            await asyncactors.wait(refs, num_returns=num_returns)


async def test_wait_with_negative_timeout_raises_value_error_naming_it() -> None:
    async with asyncactors.ActorSystem():
        refs = [asyncactors.put(1)]
        with pytest.raises(ValueError, match="timeout"):
            await asyncactors.wait(refs, timeout=-1)


async def test_a_nan_timeout_raises_value_error_naming_it_instead_of_timing_out_at_once() -> None:
    """NaN passed the >= 0 check (it compares false): get() and wait() then never timed out,
    shutdown() cut its calls off at once."""
    nan_timeout = r"timeout must be >= 0 or None, got nan"
    async with asyncactors.ActorSystem() as system:
        ref = asyncactors.put(1)
        with pytest.raises(ValueError, match=nan_timeout):
            await asyncactors.get(ref, timeout=math.nan)
        with pytest.raises(ValueError, match=nan_timeout):
            await asyncactors.wait([ref], timeout=math.nan)
        with pytest.raises(ValueError, match=nan_timeout):
            await system.shutdown(timeout=math.nan)
        with pytest.raises(ValueError, match=nan_timeout):
            asyncactors.ActorSystem(shutdown_timeout=math.nan)


@pytest.mark.parametrize("gpus", [math.nan, math.inf, 1e300, 2.5, -1])
def test_a_gpu_count_not_whole_finite_and_bounded_is_refused_at_once(gpus: float) -> None:
    """A huge count used to build a list of that many GPU ids (hanging the process)."""
    with pytest.raises(ValueError, match=r"resources\['GPU'\] must be a whole number of GPUs from"):
        asyncactors.ActorSystem(resources={"GPU": gpus})


@pytest.mark.parametrize("refs", [1, "ref", {1: 2}], ids=["int", "str", "dict"])
async def test_get_of_neither_a_ref_nor_a_list_raises_value_error_as_in_ray(refs: Any) -> None:
    async with asyncactors.ActorSystem():
        with pytest.raises(ValueError, match="ObjectRef or a list"):
            await asyncactors.get(refs)


async def test_get_of_a_list_holding_non_refs_raises_type_error_as_in_ray() -> None:
    async with asyncactors.ActorSystem():
        with pytest.raises(TypeError, match="ObjectRefs only"):
            await asyncactors.get([asyncactors.put(1), 2])


async def test_wait_with_a_single_ref_instead_of_a_list_raises_type_error() -> None:
    async with asyncactors.ActorSystem():
        with pytest.raises(TypeError, match="list"):
            await asyncactors.wait(asyncactors.put(1))


async def test_wait_with_non_refs_in_the_list_raises_type_error_naming_object_ref() -> None:
    async with asyncactors.ActorSystem():
        with pytest.raises(TypeError, match="ObjectRef"):
            await asyncactors.wait([1, 2])


@pytest.mark.parametrize("result_timeout", [None, 5.0])
async def test_result_on_the_loop_thread_raises_runtime_error_and_call_still_completes(
    result_timeout: float | None,
) -> None:
    async with asyncactors.ActorSystem():
        gate = await Gate.remote()
        ref = gate.wait_open.remote()
        with pytest.raises(RuntimeError, match=r"(?i)loop|deadlock|await") as exc_info:
            ref.result(timeout=result_timeout)
        assert not isinstance(exc_info.value, ActorDiedError)
        await gate.open.remote()
        assert await asyncactors.get(ref, timeout=10) == "opened"


async def test_result_inside_an_actor_method_raises_runtime_error() -> None:
    async with asyncactors.ActorSystem():
        gate = await Gate.remote()
        pending = gate.wait_open.remote()
        with pytest.raises(RuntimeError, match=r"(?i)loop|deadlock|await") as exc_info:
            await gate.result_of.remote([pending])
        assert not isinstance(exc_info.value, ActorDiedError)
        await gate.open.remote()
        assert await asyncactors.get(pending, timeout=10) == "opened"
