"""@remote, ActorClass.options and @method: declaring actors and their options."""

from __future__ import annotations

import asyncio
import inspect
import threading

import pytest

import asyncactors
from asyncactors import ActorSystem


class Plain:
    def __init__(self, n: int = 0) -> None:
        self.n = n

    def get(self) -> int:
        return self.n


class WithAsync:
    async def ping(self) -> str:
        return "pong"


async def test_remote_bare_and_with_options_give_actor_classes() -> None:
    """@remote and @remote(**opts) both return an ActorClass whose actors answer calls."""
    bare = asyncactors.remote(Plain)
    configured = asyncactors.remote(max_concurrency=2)(Plain)
    assert isinstance(bare, asyncactors.ActorClass)
    assert isinstance(configured, asyncactors.ActorClass)
    async with ActorSystem():
        assert await bare.remote(3).get.remote() == 3
        assert await configured.remote(4).get.remote() == 4


def test_options_returns_new_class_and_leaves_original() -> None:
    """options() merges into a new ActorClass; the original keeps its options."""
    cls = asyncactors.remote(Plain)
    named = cls.options(name="x", mailbox_size=5)
    assert named is not cls
    assert named._options["name"] == "x"
    assert named._options["mailbox_size"] == 5
    assert cls._options["name"] is None
    assert cls._options["mailbox_size"] == 1000
    assert named.options(max_concurrency=3)._options["name"] == "x"


def test_option_values_validated_when_declared() -> None:
    """Bad option values fail at @remote / options() time, naming the option."""
    with pytest.raises(TypeError, match="'mailbox_size' must be an int"):
        asyncactors.remote(mailbox_size="big")(Plain)
    with pytest.raises(ValueError, match="'max_pending_calls' must be -1 or >= 1"):
        asyncactors.remote(Plain).options(max_pending_calls=0)
    with pytest.raises(ValueError, match="'lifetime' must be one of"):
        asyncactors.remote(lifetime="forever")(Plain)
    with pytest.raises(ValueError, match="'num_cpus' must be a finite number >= 0"):
        asyncactors.remote(num_cpus=-1)(Plain)
    with pytest.raises(ValueError, match="use num_cpus"):
        asyncactors.remote(resources={"CPU": 1})(Plain)
    with pytest.raises(ValueError, match="'get_if_exists' requires option 'name'"):
        asyncactors.remote(get_if_exists=True)(Plain)
    with pytest.raises(TypeError, match="'max_restarts' must be an int"):
        asyncactors.remote(max_restarts=1.5)(Plain)
    with pytest.raises(TypeError, match="concurrency_groups"):
        asyncactors.remote(concurrency_groups=["io"])(Plain)


def test_valid_resource_options_are_accepted() -> None:
    """Ray's resource options are accepted and kept for later accounting."""
    cls = asyncactors.remote(num_cpus=0.5, num_gpus=0, memory=1024, resources={"db": 1})(Plain)
    assert cls._options["num_cpus"] == 0.5
    assert cls._options["resources"] == {"db": 1}


def test_remote_rejects_mixing_bare_and_options() -> None:
    """@remote takes a class or options, not both."""
    with pytest.raises(TypeError, match="not both"):
        asyncactors.remote(Plain, max_concurrency=2)


def test_method_decorator_validates_options() -> None:
    """@method checks its option values and refuses run_in_thread on async methods."""
    with pytest.raises(TypeError, match="'run_in_thread' must be a bool"):
        asyncactors.method(run_in_thread=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'max_task_retries' must be -1 or >= 0"):
        asyncactors.method(max_task_retries=-2)
    with pytest.raises(TypeError, match="run_in_thread=True is for blocking sync methods"):

        class Bad:
            @asyncactors.method(run_in_thread=True)
            async def m(self) -> None: ...


async def test_default_max_concurrency_follows_ray() -> None:
    """max_concurrency=None means 1000 with an async method, else 1."""
    async with ActorSystem() as system:
        sync_actor = asyncactors.remote(Plain).remote()
        async_actor = asyncactors.remote(WithAsync).remote()
        await sync_actor
        await async_actor
        assert sync_actor._core.config.max_concurrency == 1
        assert async_actor._core.config.max_concurrency == 1000
        assert len(system.list_actors()) == 2


async def test_max_concurrency_bounds_concurrent_async_calls() -> None:
    """No more than max_concurrency async calls run at once, and that many do."""

    class Gauge:
        def __init__(self) -> None:
            self.now = 0
            self.peak = 0

        async def work(self) -> None:
            self.now += 1
            self.peak = max(self.peak, self.now)
            await asyncio.sleep(0.01)
            self.now -= 1

        def peak_seen(self) -> int:
            return self.peak

    async with ActorSystem():
        g = asyncactors.remote(max_concurrency=3)(Gauge).remote()
        await asyncactors.get([g.work.remote() for _ in range(12)])
        assert await g.peak_seen.remote() == 3


async def test_concurrency_groups_have_their_own_limits() -> None:
    """A full group does not block another group's calls; each group keeps its limit."""

    class Grouped:
        def __init__(self) -> None:
            self.release = asyncio.Event()
            self.io_now = 0
            self.io_peak = 0

        @asyncactors.method(concurrency_group="io")
        async def io(self) -> None:
            self.io_now += 1
            self.io_peak = max(self.io_peak, self.io_now)
            await self.release.wait()
            self.io_now -= 1

        @asyncactors.method(concurrency_group="fast")
        async def fast(self) -> str:
            return "fast"

        async def default(self) -> int:
            return self.io_now

        def open_gate(self) -> int:
            self.release.set()
            return self.io_peak

    async with ActorSystem():
        a = asyncactors.remote(concurrency_groups={"io": 2, "fast": 1}, max_concurrency=1)(
            Grouped
        ).remote()
        blocked = [a.io.remote() for _ in range(5)]
        assert await asyncio.wait_for(a.fast.remote().future(), 2) == "fast"
        assert await asyncio.wait_for(a.default.remote().future(), 2) == 2
        assert await a.open_gate.remote() == 2
        await asyncactors.get(blocked)


async def test_call_option_picks_a_concurrency_group() -> None:
    """handle.method.options(concurrency_group=...) runs that one call in that group."""

    class Two:
        def __init__(self) -> None:
            self.gate = asyncio.Event()

        async def hold(self) -> None:
            await self.gate.wait()

        async def where(self) -> str:
            return "ran"

        def open(self) -> None:
            self.gate.set()

    async with ActorSystem():
        a = asyncactors.remote(max_concurrency=1, concurrency_groups={"side": 1})(Two).remote()
        held = a.hold.remote()
        # The default group is busy; the side group is not.
        side = a.where.options(concurrency_group="side").remote()
        assert await asyncio.wait_for(side.future(), 2) == "ran"
        a.open.options(concurrency_group="side").remote()
        await held


async def test_run_in_thread_keeps_loop_free_and_respects_limit() -> None:
    """A run_in_thread method runs off the loop thread, one at a time at max_concurrency=1."""
    loop_thread = threading.get_ident()

    class Blocking:
        def __init__(self) -> None:
            self.active = 0
            self.peak = 0
            self.lock = threading.Lock()

        @asyncactors.method(run_in_thread=True)
        def block(self) -> int:
            with self.lock:
                self.active += 1
                self.peak = max(self.peak, self.active)
            threading.Event().wait(0.02)
            with self.lock:
                self.active -= 1
            return threading.get_ident()

        def peak_seen(self) -> int:
            return self.peak

    async with ActorSystem():
        b = asyncactors.remote(Blocking).remote()
        refs = [b.block.remote() for _ in range(3)]
        ticks = 0
        while not all(r.done() for r in refs):
            ticks += 1  # the loop keeps running while threads block
            await asyncio.sleep(0.005)
        threads = await asyncactors.get(refs)
        assert loop_thread not in threads
        assert ticks > 3
        assert await b.peak_seen.remote() == 1


def test_actor_class_repr_and_name() -> None:
    """An ActorClass shows and names the class it wraps."""
    cls = asyncactors.remote(Plain)
    assert cls.__name__ == "Plain"
    assert "Plain" in repr(cls)
    assert cls.__wrapped__ is Plain


# --- the class behind an ActorClass (Ray's test_actor_class_attributes and friends) -----------


class Grandparent:
    GRANDPARENT = 2

    @staticmethod
    def grandparent_static() -> int:
        return 1


class Parent1(Grandparent):
    PARENT1 = 6

    @staticmethod
    def parent1_static() -> int:
        return 2


class Parent2:
    PARENT2 = 7


async def test_class_attributes_and_class_methods_are_reachable_through_the_actor_class() -> None:
    """Inside and outside its methods, Cls.ATTR and Cls.classmethod() work, inherited ones too."""

    @asyncactors.remote
    class TestActor(Parent1, Parent2):
        X = 3

        @classmethod
        def f(cls) -> int:
            assert TestActor.GRANDPARENT == 2
            assert TestActor.PARENT1 == 6
            assert TestActor.PARENT2 == 7
            assert TestActor.X == 3
            return 4

        def g(self) -> int:
            assert TestActor.f() == 4
            return TestActor.X

    async with ActorSystem():
        assert await TestActor.remote().g.remote() == 3
    assert TestActor.f() == 4
    assert TestActor.X == 3


async def test_static_methods_are_reachable_through_the_actor_class() -> None:
    """Cls.static() works for the class's own and inherited static methods."""

    @asyncactors.remote
    class TestActor(Parent1, Parent2):
        X = 3

        @staticmethod
        def f() -> int:
            assert TestActor.GRANDPARENT == 2
            assert TestActor.X == 3
            return 4

        def g(self) -> int:
            total: int = TestActor.f() + TestActor.parent1_static() + TestActor.grandparent_static()
            return total

    async with ActorSystem():
        assert await TestActor.remote().g.remote() == 7


def test_missing_class_attribute_raises_attribute_error_naming_the_actor_class() -> None:
    """An attribute neither the ActorClass nor the class has raises AttributeError naming both."""
    cls = asyncactors.remote(Plain)
    with pytest.raises(AttributeError, match=r"actor class Plain has no attribute 'nope'"):
        _ = cls.nope
    assert not hasattr(cls, "__nope__")


async def test_dir_of_actor_class_and_handle_lists_the_methods() -> None:
    """dir() lists methods for completion, as Ray's test_actor_autocomplete checks."""

    @asyncactors.remote
    class Foo:
        def method_one(self) -> None:
            pass

    assert {n for n in dir(Foo) if not n.startswith("_")} == {"method_one", "options", "remote"}
    async with ActorSystem():
        f = Foo.remote()
        # Ray lists only "method_one"; the handle's own monitor(), checkpoint()
        # and statistics() are added.
        assert [n for n in dir(f) if not n.startswith("_")] == [
            "checkpoint",
            "method_one",
            "monitor",
            "statistics",
        ]
        assert "__ray_terminate__" in dir(f)
        assert [n for n in dir(f.method_one) if not n.startswith("_")] == [
            "options",
            "remote",
            "submit",
            "submit_nowait",
        ]


def test_subclassing_an_actor_class_raises_type_error_saying_how_to_inherit() -> None:
    """class D(ActorCls) raises a TypeError pointing to the plain class and @remote."""
    cls = asyncactors.remote(Plain)
    with pytest.raises(TypeError, match="inheriting from actor classes is not supported") as e:

        class Derived(cls):
            pass

    assert "Plain.__wrapped__" in str(e.value)
    assert "@asyncactors.remote" in str(e.value)

    @asyncactors.remote
    class Fixed(cls.__wrapped__):
        pass

    assert isinstance(Fixed, asyncactors.ActorClass)


class AsyncStream:
    async def items(self):
        yield 1


class SyncStream:
    def items(self):
        yield 1


@pytest.mark.parametrize("cls", [AsyncStream, SyncStream], ids=["async-generator", "generator"])
async def test_generator_methods_are_streaming_methods(cls: type) -> None:
    """A (async) generator method is declared as any method; .remote() returns a StreamRef."""
    actor_cls = asyncactors.remote(cls)
    async with asyncactors.ActorSystem():
        stream = actor_cls.remote().items.remote()
        assert isinstance(stream, asyncactors.StreamRef)
        assert await stream == [1]


def test_private_generator_helpers_are_allowed() -> None:
    """A generator whose name starts with '_' is no actor method, so it is not refused."""

    class WithHelper:
        def _chunks(self):
            yield 1

        def total(self) -> int:
            return sum(self._chunks())

    assert isinstance(asyncactors.remote(WithHelper), asyncactors.ActorClass)


class Base:
    @asyncactors.method
    def base(self, k: int) -> int:
        """Adds 100."""
        return k + 100


class Derived(Base):
    @asyncactors.method(max_task_retries=2)
    async def through_self(self, k: int) -> int:
        return self.base(k)

    @asyncactors.method
    def through_super(self, k: int) -> int:
        return super().base(k)

    def through_class(self, k: int) -> int:
        return Base.base(self, k)


async def test_decorated_methods_stay_plain_methods_inside_the_actor() -> None:
    """@method (bare or with options) methods are called, and called through self, super() and
    the class, as the functions they decorate; the options reach the actor."""
    cls = asyncactors.remote(Derived)
    methods = cls._spec.methods
    assert methods["through_self"].max_task_retries == 2
    assert methods["base"].func is Base.__dict__["base"].func
    async with ActorSystem():
        d = cls.remote()
        assert await d.base.remote(1) == 101
        assert await d.through_self.remote(2) == 102
        assert await d.through_super.remote(3) == 103
        assert await d.through_class.remote(4) == 104


def test_decorated_method_keeps_the_function_metadata() -> None:
    """A decorated method keeps its function's name, docstring and signature."""
    declared = Base.__dict__["base"]
    assert isinstance(declared, asyncactors.MethodDef)
    assert (declared.__name__, declared.__doc__) == ("base", "Adds 100.")
    assert inspect.signature(declared) == inspect.signature(declared.func)
    assert "k" in inspect.signature(declared).parameters


def test_method_decorator_refuses_what_is_not_a_function() -> None:
    """@method names what it got when that is not a def or async def."""
    with pytest.raises(TypeError, match=r"decorates methods .* got <staticmethod"):
        asyncactors.method(staticmethod(len))  # type: ignore[call-overload]


async def test_decorated_hooks_still_run() -> None:
    """@method on __post_create__ and __pre_destroy__ leaves them working hooks."""
    seen: list[str] = []

    class Hooked:
        @asyncactors.method
        async def __post_create__(self) -> None:
            seen.append("created")

        @asyncactors.method
        def __pre_destroy__(self) -> None:
            seen.append("destroyed")

    async with ActorSystem():
        await asyncactors.remote(Hooked).remote()
    assert seen == ["created", "destroyed"]


async def test_typed_is_the_handle_itself() -> None:
    """typed(handle) is a typing view: it returns the very handle."""
    async with ActorSystem():
        handle = asyncactors.remote(Plain).remote(5)
        view = asyncactors.typed(handle)
        assert view is handle  # type: ignore[comparison-overlap]
        assert await view.get.remote() == 5  # type: ignore[attr-defined]


async def test_calling_a_method_without_remote_raises() -> None:
    """handle.m(...) raises TypeError at run time, naming .remote(), though type checkers
    do not see ActorMethod.__call__."""
    async with ActorSystem():
        handle = asyncactors.remote(Plain).remote()
        with pytest.raises(TypeError, match=r"use 'get.remote\(...\)' instead of 'get\(...\)'"):
            handle.get()  # type: ignore[operator]
