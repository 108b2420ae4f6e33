"""What importing the package costs: modules only some programs need load on first use."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Imported by the stores, checkpoints, the sync bridge, the watchdog, statistics,
# the pool, events, metrics (and the engine's timing of calls), the runtime
# context, batching, listing actors, supervisors (the root's too, until a crash), type checking (the
# protocols), generator methods (streams), an actor's code waiting for another's
# (deadlock detection) or resources (the ledger, until an actor reserves some or
# someone asks), the module functions (get, wait, kill, put...: awaiting a ref needs
# none of them); nor compat.ray's exceptions (until an error), ray.util, tasks, the
# runtime context, `import ray` aliasing, and pickle (until a value that is not an
# immutable atom is copied): which neither a plain import nor a Ray program of
# actors in-process up to its first result needs.
HEAVY = (
    "dataclasses",
    "pickle",
    "anyio",
    "msgpack",
    "tempfile",
    "zoneinfo",
    "uuid",
    "difflib",
    "random",
    "importlib.abc",
    "asyncactors._stores",
    "asyncactors._state",
    "asyncactors._sync",
    "asyncactors._pool",
    "asyncactors._watchdog",
    "asyncactors._stuck",
    "asyncactors._statistics",
    "asyncactors._metrics",
    "asyncactors._events",
    "asyncactors._runtime",
    "asyncactors._info",
    "asyncactors._backoff",
    "asyncactors._protocols",
    "asyncactors._batch",
    "asyncactors._backends._local.timed",
    "asyncactors._stream",
    "asyncactors._backends._local.stream",
    "asyncactors._backends._local.deadlock",
    "asyncactors._backends._local.batch_lane",
    "asyncactors._supervisor",
    "asyncactors._resources",
    "asyncactors._api",
    "asyncactors.compat.ray.exceptions",
    "asyncactors.compat.ray.util",
    "asyncactors.compat.ray.remote_function",
    "asyncactors.compat.ray.runtime_context",
    "asyncactors.compat.ray._alias",
)

_RAY_PROGRAM = (
    "import asyncactors.compat.ray as ray\n"
    "ray.init()\n"
    "@ray.remote\n"
    "class Counter:\n"
    "    def incr(self, k):\n"
    "        return k\n"
    "c = Counter.remote()\n"
    "assert ray.get(c.incr.remote(1)) == 1\n"
)
_PROGRAMS = {
    "import asyncactors": "import asyncactors",
    # Checked at its first result, before the system shuts down. Its system runs the
    # watchdog (on by default), but not yet its records nor the sampler's: see _EXPECTED.
    "a plain actor's first result": (
        "import asyncio, sys\n"
        "import asyncactors\n"
        "@asyncactors.remote\n"
        "class Counter:\n"
        "    def incr(self, k):\n"
        "        return k\n"
        "async def main():\n"
        "    global _seen\n"
        "    async with asyncactors.ActorSystem():\n"
        "        c = Counter.remote()\n"
        "        assert await c.incr.remote(1) == 1\n"
        "        _seen = set(sys.modules)\n"
        "asyncio.run(main())\n"
    ),
    "a Ray program's first result": _RAY_PROGRAM,
}
# What a program loads of HEAVY, where that is not nothing.
_EXPECTED = {
    "a plain actor's first result": ["asyncactors._watchdog"],
}
# The same with a task declared, as benchmarks/ray_compat.py's program has: tasks
# load remote_function, and nothing of the list else.
_TASK_PROGRAM = _RAY_PROGRAM + (
    "@ray.remote\ndef plus_one(x):\n    return x + 1\nassert ray.get(plus_one.remote(1)) == 2\n"
)


def _loaded_after(program: str) -> list[str]:
    code = (
        f"{program}\nimport json, sys\n"
        f"seen = globals().get('_seen', sys.modules)\n"
        f"print(json.dumps(sorted(set({HEAVY!r}) & set(seen))))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stderr
    loaded: list[str] = json.loads(proc.stdout.splitlines()[-1])
    return loaded


@pytest.mark.parametrize("program", list(_PROGRAMS))
def test_program_leaves_heavy_modules_unimported(program: str) -> None:
    """Neither ``import asyncactors``, a plain actor nor a Ray program on compat.ray up to its
    first result imports anyio, msgpack, the stores, the sync bridge, streams, deadlock
    detection and the like (nor the watchdog, but in a system that runs it)."""
    assert _loaded_after(_PROGRAMS[program]) == _EXPECTED.get(program, [])


def test_ray_program_with_tasks_leaves_heavy_modules_unimported() -> None:
    """A Ray program declaring and running a task loads ``remote_function`` and none of the
    other heavy modules (``ray.exceptions`` included) up to its first results."""
    assert _loaded_after(_TASK_PROGRAM) == ["asyncactors.compat.ray.remote_function"]


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("FileStore", "_stores"),
        ("ActorInfo", "_info"),
        ("Backoff", "_backoff"),
        ("BatchMethod", "_batch"),
        ("batch", "_batch"),
        ("StreamRef", "_stream"),
        ("Supervisor", "_supervisor"),
        ("AssignedResources", "_resources"),
        ("get", "_api"),
        ("exit_actor", "_api"),
    ],
)
def test_lazy_names_import_their_modules_on_first_use(name: str, module: str) -> None:
    """A name loaded on first use (``asyncactors.FileStore``, ``ActorInfo``, ``Backoff``)
    imports its module only then, and is that module's class, under the public module name."""
    _loaded_after(
        "import sys, asyncactors\n"
        f"assert 'asyncactors.{module}' not in sys.modules\n"
        f"obj = asyncactors.{name}\n"
        f"from asyncactors.{module} import {name}\n"
        f"assert obj is {name} and obj.__module__ == 'asyncactors', obj.__module__\n"
        f"assert {name!r} in vars(asyncactors)\n"
    )


def test_supervisor_makes_its_default_backoff_on_first_use() -> None:
    """A ``Supervisor`` given no backoff loads ``Backoff`` only when its backoff is
    first asked for, and then has ``Backoff()``, the same one each time."""
    _loaded_after(
        "import sys, asyncactors\n"
        "sup = asyncactors.Supervisor()\n"
        "assert 'asyncactors._backoff' not in sys.modules\n"
        "assert sup.backoff == asyncactors.Backoff() and sup.backoff is sup.backoff\n"
    )


def test_compat_ray_lazy_names_load_on_first_use() -> None:
    """compat.ray's ``exceptions``, ``util``, ``remote_function``, ``runtime_context``,
    ``get_runtime_context`` and ``install_as_ray`` load only when first used, and
    are then the submodules' own objects."""
    _loaded_after(
        "import sys\n"
        "import asyncactors.compat.ray as ray\n"
        "assert 'asyncactors.compat.ray.util' not in sys.modules\n"
        "from asyncactors.compat.ray.exceptions import RayError\n"
        "assert ray.exceptions.RayError is RayError\n"
        "from asyncactors.compat.ray.util import ActorPool\n"
        "assert ray.util.ActorPool is ActorPool\n"
        "from asyncactors.compat.ray.runtime_context import get_runtime_context\n"
        "assert ray.get_runtime_context is get_runtime_context\n"
        "assert ray.remote_function is sys.modules['asyncactors.compat.ray.remote_function']\n"
        "from asyncactors.compat.ray._alias import install_as_ray\n"
        "assert ray.install_as_ray is install_as_ray\n"
        "assert set(ray.__all__) <= set(dir(ray))\n"
        "try:\n"
        "    ray.no_such_name\n"
        "except AttributeError as exc:\n"
        "    assert 'no_such_name' in str(exc)\n"
        "else:\n"
        "    raise AssertionError('no AttributeError')\n"
    )


def test_compat_ray_task_loads_the_tasks_module() -> None:
    """``@ray.remote`` on a function (a task) loads ``remote_function`` then and works."""
    _loaded_after(
        "import sys\n"
        "import asyncactors.compat.ray as ray\n"
        "@ray.remote\n"
        "def f(x):\n"
        "    return x + 1\n"
        "assert 'asyncactors.compat.ray.remote_function' in sys.modules\n"
        "assert ray.get(f.remote(1)) == 2\n"
        "ray.shutdown()\n"
    )


def test_compat_ray_error_loads_ray_exceptions() -> None:
    """A method that raises reaches ``ray.get`` as Ray's ``RayTaskError`` and as its own
    class, ``ray.exceptions`` being loaded by the error itself."""
    _loaded_after(
        "import sys\n"
        "import asyncactors.compat.ray as ray\n"
        "@ray.remote\n"
        "class A:\n"
        "    def boom(self):\n"
        "        raise KeyError('x')\n"
        "a = A.remote()\n"
        "assert 'asyncactors.compat.ray.exceptions' not in sys.modules\n"
        "try:\n"
        "    ray.get(a.boom.remote())\n"
        "except KeyError as exc:\n"
        "    assert isinstance(exc, ray.exceptions.RayTaskError), type(exc).__mro__\n"
        "else:\n"
        "    raise AssertionError('no error')\n"
        "ray.shutdown()\n"
    )


def test_compat_ray_first_copy_loads_pickle() -> None:
    """The first argument that is not an immutable atom loads pickle and is copied:
    the actor gets a copy, and the caller's later change does not reach it."""
    _loaded_after(
        "import sys\n"
        "import asyncactors.compat.ray as ray\n"
        "@ray.remote\n"
        "class A:\n"
        "    def size(self, items):\n"
        "        return len(items)\n"
        "a = A.remote()\n"
        "assert ray.get(a.size.remote('abc')) == 3\n"
        "assert 'pickle' not in sys.modules\n"
        "items = [1, 2]\n"
        "ref = a.size.remote(items)\n"
        "items.append(3)\n"
        "assert ray.get(ref) == 2\n"
        "assert 'pickle' in sys.modules\n"
        "ray.shutdown()\n"
    )


def test_generator_method_loads_streams_and_a_shutdown_ends_them() -> None:
    """A generator method's first call loads streams; shutting the system down while the
    stream is open ends it with ``ActorDiedError`` at once (its class has generator
    methods, so the shutdown ends its streams), while shutting down actors of a class
    without any, or with some never called, loads no streams."""
    _loaded_after(
        "import asyncio, sys\n"
        "import asyncactors\n"
        "STREAMS = 'asyncactors._backends._local.stream'\n"
        "@asyncactors.remote\n"
        "class Plain:\n"
        "    def incr(self, k):\n"
        "        return k\n"
        "@asyncactors.remote\n"
        "class Ticker:\n"
        "    async def ticks(self):\n"
        "        yield 1\n"
        "        await asyncio.Event().wait()\n"
        "async def main():\n"
        "    async with asyncactors.ActorSystem():\n"
        "        p = Plain.remote()\n"
        "        assert await p.incr.remote(1) == 1\n"
        "        await Ticker.remote()  # generator methods, none called\n"
        "    assert STREAMS not in sys.modules\n"
        "    async with asyncactors.ActorSystem() as system:\n"
        "        t = Ticker.remote()\n"
        "        stream = t.ticks.remote()\n"
        "        assert STREAMS in sys.modules\n"
        "        assert await stream.__anext__() == 1\n"
        "        # Ended by the shutdown itself, not by its timeout forcing the actor down.\n"
        "        await system.shutdown(timeout=1)\n"
        "        try:\n"
        "            await stream.__anext__()\n"
        "        except asyncactors.ActorDiedError as exc:\n"
        "            assert 'shut down with its actor system during the stream' in str(exc), exc\n"
        "        else:\n"
        "            raise AssertionError('the stream did not end')\n"
        "asyncio.run(main())\n"
    )


def test_waiting_actor_loads_deadlock_detection_and_it_still_refuses_a_cycle() -> None:
    """An actor's code awaiting a ref not done loads deadlock detection then (and not
    the batch lanes), which still raises ``DeadlockError`` for a method awaiting a
    call queued behind itself."""
    _loaded_after(
        "import asyncio, sys\n"
        "import asyncactors\n"
        "@asyncactors.remote\n"
        "class Selfish:\n"
        "    async def outer(self):\n"
        "        me = asyncactors.get_runtime_context().current_actor\n"
        "        return await me.inner.remote()\n"
        "    async def inner(self):\n"
        "        return 1\n"
        "async def main():\n"
        "    async with asyncactors.ActorSystem():\n"
        "        a = Selfish.options(max_concurrency=1).remote()\n"
        "        await a\n"
        "        assert 'asyncactors._backends._local.deadlock' not in sys.modules\n"
        "        try:\n"
        "            await a.outer.remote()\n"
        "        except asyncactors.DeadlockError:\n"
        "            pass\n"
        "        else:\n"
        "            raise AssertionError('no DeadlockError')\n"
        "        assert 'asyncactors._backends._local.deadlock' in sys.modules\n"
        "        # Batch lanes are for classes that batch, not for deadlock detection.\n"
        "        assert 'asyncactors._backends._local.batch_lane' not in sys.modules\n"
        "asyncio.run(main())\n"
    )


def test_crash_makes_the_root_supervisor_which_restarts_the_actor() -> None:
    """The root supervisor is made by the first crash that needs it: the crashed actor
    (``max_restarts=1``) is restarted and answers again."""
    _loaded_after(
        "import asyncio, sys\n"
        "import asyncactors\n"
        "@asyncactors.remote(max_restarts=1)\n"
        "class Fragile:\n"
        "    def __init__(self):\n"
        "        self.calls = 0\n"
        "    def ping(self):\n"
        "        self.calls += 1\n"
        "        return self.calls\n"
        "async def main():\n"
        "    async with asyncactors.ActorSystem():\n"
        "        f = Fragile.remote()\n"
        "        assert await f.ping.remote() == 1\n"
        "        assert 'asyncactors._supervisor' not in sys.modules\n"
        "        asyncactors.kill(f, no_restart=False)\n"
        "        assert await f.ping.remote() == 1  # a new instance\n"
        "        assert 'asyncactors._supervisor' in sys.modules\n"
        "asyncio.run(main())\n"
    )


@pytest.mark.parametrize("native", [True, False], ids=["asyncactors", "compat.ray"])
def test_shutdown_loads_no_statistics(native: bool) -> None:
    """Stopping a system's actors keeps their counters without loading the records of
    statistics or the timing of calls (a system without metrics); nor, on compat.ray,
    whose system runs no watchdog, the records of metrics."""
    heavy = ["asyncactors._statistics", "asyncactors._backends._local.timed"]
    if native:
        program = _PROGRAMS["a plain actor's first result"].replace(
            "        _seen = ", "        _ = "
        )
    else:
        program = _PROGRAMS["a Ray program's first result"] + "ray.shutdown()\n"
        heavy.append("asyncactors._metrics")
    program += (
        f"import sys\nloaded = set({heavy!r}) & set(sys.modules)\nassert not loaded, loaded\n"
    )
    _loaded_after(program)


def test_first_batching_actor_loads_batch_lanes() -> None:
    """Batch lanes load with the first actor of a class with a batched method (not with
    a plain actor), and its items are then batched: three items, one call of three."""
    _loaded_after(
        "import asyncio, sys\n"
        "import asyncactors\n"
        "LANES = 'asyncactors._backends._local.batch_lane'\n"
        "@asyncactors.remote\n"
        "class Plain:\n"
        "    def incr(self, k):\n"
        "        return k\n"
        "@asyncactors.remote\n"
        "class Doubler:\n"
        "    def __init__(self):\n"
        "        self.sizes = []\n"
        "    @asyncactors.batch(max_batch_size=3, batch_wait_timeout_s=60)\n"
        "    def double(self, items):\n"
        "        self.sizes.append(len(items))\n"
        "        return [2 * x for x in items]\n"
        "    def batches(self):\n"
        "        return self.sizes\n"
        "async def main():\n"
        "    async with asyncactors.ActorSystem():\n"
        "        p = Plain.remote()\n"
        "        assert await p.incr.remote(1) == 1\n"
        "        assert LANES not in sys.modules\n"
        "        d = Doubler.remote()\n"
        "        refs = [d.double.remote(i) for i in range(3)]\n"
        "        assert await asyncio.gather(*refs) == [0, 2, 4]\n"
        "        assert LANES in sys.modules\n"
        "        assert await d.batches.remote() == [3]\n"
        "asyncio.run(main())\n"
    )


def test_resource_ledger_is_made_by_the_first_actor_that_reserves() -> None:
    """A system given a capacity loads the ledger of resources only with its first actor
    that has resource options (none for a plain actor), which then reserves from that
    capacity; a bad capacity is still refused when the system is made."""
    _loaded_after(
        "import asyncio, sys\n"
        "import asyncactors\n"
        "LEDGER = 'asyncactors._resources'\n"
        "@asyncactors.remote\n"
        "class A:\n"
        "    def ping(self):\n"
        "        return 1\n"
        "    def held(self):\n"
        "        return dict(asyncactors.get_runtime_context().get_assigned_resources())\n"
        "async def main():\n"
        "    try:\n"
        "        asyncactors.ActorSystem(resources={'GPU': 1.5})\n"
        "    except ValueError as exc:\n"
        "        assert 'whole number of GPUs' in str(exc), exc\n"
        "    else:\n"
        "        raise AssertionError('a bad capacity was accepted')\n"
        "    async with asyncactors.ActorSystem(resources={'CPU': 2}) as system:\n"
        "        assert await A.remote().ping.remote() == 1\n"
        "        assert LEDGER not in sys.modules\n"
        "        a = A.options(num_cpus=1.5).remote()\n"
        "        assert LEDGER in sys.modules\n"
        "        assert await a.held.remote() == {'CPU': 1.5}\n"
        "        assert system.available_resources()['CPU'] == 0.5\n"
        "asyncio.run(main())\n"
    )


def test_only_compat_ray_makes_actor_tasks_record_the_call_that_started_them() -> None:
    """A task that an actor's method starts records that call (for compat.ray's
    get_task_id()) only once compat.ray has started: native programs pay nothing."""
    program = """
import asyncio, asyncactors
from asyncactors._backends._local.tasks import origin_call

class Starter:
    async def start(self):
        task = asyncio.create_task(asyncio.sleep(0))
        seen = origin_call(task)
        await task
        return seen is not None

async def main():
    async with asyncactors.ActorSystem():
        print(await asyncactors.remote(Starter).remote().start.remote())

asyncio.run(main())
import asyncactors.compat.ray as ray
ray.init()
print(ray.get(ray.remote(Starter).remote().start.remote(), timeout=10))
ray.shutdown()
"""
    proc = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "True"]
