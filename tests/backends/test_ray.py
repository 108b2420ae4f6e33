"""What only the Ray engine has: Ray's processes, errors, names and lifetimes."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

import asyncactors
from asyncactors import ActorAlreadyExistsError, ActorDiedError, ActorSystem, FileStore, MemoryStore

from ..test_examples import run_example
from .conftest import HAS_RAY
from .test_behaviour import Account, Counter, Relay, unique

ROOT = Path(__file__).resolve().parents[2]

ray_only = pytest.mark.skipif(not HAS_RAY, reason="Ray is not installed: pip install -e '.[ray]'")


def run_python(code: str, timeout: float = 120) -> str:
    """Run ``code`` in a fresh interpreter with warnings as errors; return its output."""
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# -- the seam, without Ray --------------------------------------------------------


def test_importing_asyncactors_never_imports_ray() -> None:
    """Importing asyncactors and running a local system leaves Ray unimported."""
    out = run_python(
        """
        import asyncio, sys
        import asyncactors

        async def main():
            async with asyncactors.ActorSystem():
                pass

        asyncio.run(main())
        print(sorted(m for m in sys.modules if m == "ray" or m.startswith("ray.")))
        """
    )
    assert out.strip() == "[]"


def test_ray_backend_without_ray_says_what_to_install() -> None:
    """Without Ray, backend='ray' raises ImportError saying pip install 'asyncactors[ray]'."""
    out = run_python(
        """
        import sys
        sys.modules["ray"] = None  # as if Ray were not installed
        import asyncactors
        try:
            asyncactors.ActorSystem(backend="ray")
        except ImportError as exc:
            print(exc)
        """
    )
    assert "pip install 'asyncactors[ray]'" in out


def test_unknown_backend_lists_the_valid_ones() -> None:
    """An unknown backend name is a ValueError naming the valid ones."""
    with pytest.raises(ValueError, match=r"unknown backend 'dask'; valid backends: 'local', 'ray'"):
        ActorSystem(backend="dask")


@pytest.mark.parametrize("option", ["address", "ray_init_options"])
def test_local_backend_refuses_ray_options(option: str) -> None:
    """address and ray_init_options belong to backend='ray'."""
    value: Any = "auto" if option == "address" else {"num_cpus": 1}
    with pytest.raises(ValueError, match=f"option '{option}' applies to backend='ray' only"):
        ActorSystem(**{option: value})


# -- options ----------------------------------------------------------------------


@ray_only
async def test_memory_store_is_refused_on_ray(ray_session: None) -> None:
    """A MemoryStore cannot reach an actor's process: refused, naming the option."""
    async with ActorSystem(backend="ray"):
        with pytest.raises(ValueError, match=r"option 'checkpoint_store'.*MemoryStore.*'ray'"):
            Account.options(checkpoint_store=MemoryStore()).remote()


class _LockedStore(FileStore):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.lock = threading.Lock()


@ray_only
async def test_unpicklable_store_is_refused_on_ray(ray_session: None, tmp_path: Path) -> None:
    """A checkpoint store that cannot be pickled is refused when the actor is created."""
    async with ActorSystem(backend="ray"):
        with pytest.raises(ValueError, match=r"option 'checkpoint_store'.*cannot be pickled"):
            Account.options(checkpoint_store=_LockedStore(tmp_path)).remote()


@asyncactors.remote
class Streamer:
    def items(self, n: int) -> Any:
        yield from range(n)


@asyncactors.remote
class Batcher:
    @asyncactors.batch
    def embed(self, items: list[int]) -> list[int]:
        return [i * 2 for i in items]


@ray_only
async def test_generator_and_batched_methods_are_refused_on_ray(ray_session: None) -> None:
    """A class with generator or batched methods is refused on Ray, naming them."""
    async with ActorSystem(backend="ray"):
        with pytest.raises(ValueError, match=r"generator methods \(items\): backend='ray'"):
            Streamer.remote()
        with pytest.raises(ValueError, match=r"batched methods \(embed\): backend='ray'"):
            Batcher.remote()


@asyncactors.remote(num_cpus=1)
class Placed:
    def resources(self) -> dict[str, float]:
        import ray

        return dict(ray.get_runtime_context().get_assigned_resources())


@ray_only
async def test_resource_options_reach_rays_scheduler(ray_session: None) -> None:
    """num_cpus reaches Ray: the actor holds one CPU."""
    async with ActorSystem(backend="ray"):
        p = Placed.remote()
        assert (await p.resources.remote()).get("CPU") == 1.0


# -- Ray itself -------------------------------------------------------------------


@ray_only
async def test_stopping_actors_logs_no_error(
    ray_session: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Stopping, killing and shutting down actors leaves nothing on the error log."""
    caplog.set_level(logging.ERROR, logger="asyncactors")
    async with ActorSystem(backend="ray"):
        a, b = Counter.remote(), Counter.remote()
        await asyncio.gather(a.incr.remote(), b.incr.remote())
        await asyncactors.stop(a)
        asyncactors.kill(b, no_restart=False)
    assert [r.getMessage() for r in caplog.records] == []


@ray_only
async def test_system_uses_the_ray_it_finds_and_leaves_it_running(ray_session: None) -> None:
    """A system joins the Ray this process initialised and does not shut it down."""
    import ray

    async with ActorSystem(backend="ray"):
        assert await Counter.remote().incr.remote() == 1
    assert ray.is_initialized()


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = {pid}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


@ray_only
@pytest.mark.skipif(not os.path.exists("/proc"), reason="reads processes from /proc")
def test_system_starts_a_loopback_ray_and_shuts_it_down(tmp_path: Path) -> None:
    """Without Ray running, the system starts a local Ray listening on 127.0.0.1 only,
    and shuts it down with itself."""
    ready, go = tmp_path / "ready", tmp_path / "go"
    script = f"""
        import asyncio, os, time
        import ray
        import asyncactors

        @asyncactors.remote
        class Echo:
            def ping(self):
                return os.getpid()

        async def main():
            options = {{"num_cpus": 1, "include_dashboard": False}}
            async with asyncactors.ActorSystem(
                backend="ray", address="local", ray_init_options=options
            ):
                await Echo.remote().ping.remote()
                open({str(ready)!r}, "w").close()
                while not os.path.exists({str(go)!r}):
                    await asyncio.sleep(0.05)
            print("initialized after shutdown:", ray.is_initialized())

        asyncio.run(main())
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(1200):
            if ready.exists() or proc.poll() is not None:
                break
            threading.Event().wait(0.1)
        assert ready.exists(), proc.communicate()[1]
        pids = _descendants(proc.pid)
        listening = subprocess.run(
            ["ss", "-ltnpH"], capture_output=True, text=True, check=True
        ).stdout.splitlines()
        ours = [line for line in listening if any(f"pid={p}," in line for p in pids)]
        assert ours, "found no listening socket of the Ray started by the system"
        for line in ours:
            local = line.split()[3]
            assert local.startswith(("127.0.0.1:", "[::ffff:127.0.0.1]:")), line
    finally:
        go.touch()
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "initialized after shutdown: False" in out


# -- errors -----------------------------------------------------------------------


class Overdrawn(Exception):
    def __init__(self, amount: int) -> None:
        super().__init__(f"overdrawn by {amount}")
        self.amount = amount


@asyncactors.remote
class Strict:
    def withdraw(self, amount: int) -> None:
        raise Overdrawn(amount)

    def lock(self) -> Any:
        return threading.Lock()

    def echo(self, value: Any) -> Any:
        return value


class _ExplodesWhenUnpickled:
    def __reduce__(self) -> Any:
        return (_explode, ())


def _explode() -> None:
    raise RuntimeError("cannot be unpickled here")


@ray_only
async def test_errors_come_back_as_themselves(ray_session: None) -> None:
    """A method's exception keeps its type and attributes, with the actor's traceback as a note."""
    async with ActorSystem(backend="ray"):
        s = Strict.remote()
        with pytest.raises(Overdrawn) as info:
            await s.withdraw.remote(5)
        assert type(info.value) is Overdrawn
        assert info.value.amount == 5
        assert any("Raised in a Ray actor process" in n for n in info.value.__notes__)


@ray_only
async def test_values_ray_cannot_move_fail_only_their_call(ray_session: None) -> None:
    """An argument or result that cannot be serialised fails its call; the next ones run."""
    async with ActorSystem(backend="ray"):
        s = Strict.remote()
        with pytest.raises(TypeError):
            await s.echo.remote(threading.Lock())
        with pytest.raises(Exception, match="pickle"):
            await s.lock.remote()
        with pytest.raises(Exception, match="cannot be unpickled here"):
            await s.echo.remote(_ExplodesWhenUnpickled())
        assert await asyncio.wait_for(s.echo.remote(1), 10) == 1


@ray_only
async def test_creation_that_ray_refuses(ray_session: None) -> None:
    """Constructor arguments Ray cannot pickle: Cls.remote() raises at once on the
    loop; from another thread the handle's actor dies, saying why."""
    async with ActorSystem(backend="ray"):
        with pytest.raises(TypeError):
            Counter.remote(threading.Lock())
        h = await asyncio.to_thread(Counter.remote, threading.Lock())
        with pytest.raises(ActorDiedError, match="could not be created on Ray"):
            await h


@ray_only
async def test_the_window_bounds_calls_in_flight(ray_session: None) -> None:
    """At most mailbox_size calls of a handle are in flight; the others follow, in order."""
    async with ActorSystem(backend="ray") as system:
        c = Counter.options(mailbox_size=8).remote()
        refs = [c.append.remote(i) for i in range(50)]
        assert c._core._inflight == 8
        assert await asyncactors.get(refs) == list(range(1, 51))
        assert await c.appended.remote() == list(range(50))
        (info,) = system.list_actors()
        assert info.peak_depth == 8
        assert info.mailbox_capacity == 8


# -- refs and handles -------------------------------------------------------------


@asyncactors.remote
class Fetch:
    def __init__(self, peer: Any = None) -> None:
        self.peer = peer

    async def total(self, refs: list[Any]) -> int:
        return sum(await asyncactors.get(refs))

    def ref_from_peer(self, k: int) -> Any:
        return self.peer.incr.remote(k)

    async def by_name(self, name: str) -> int:
        value: int = await asyncactors.get_actor(name).incr.remote(10)
        return value

    async def spawn(self) -> int:
        child = Counter.remote(41)
        value: int = await child.incr.remote()
        return value


@ray_only
async def test_refs_pass_inside_values_and_come_back(ray_session: None) -> None:
    """Refs nested in arguments reach the actor as refs; a ref returned by a method is awaitable."""
    async with ActorSystem(backend="ray"):
        c = Counter.remote()
        f = Fetch.remote(c)
        assert await f.total.remote([c.incr.remote(1), c.incr.remote(2)]) == 1 + 3
        ref = await f.ref_from_peer.remote(5)
        assert await ref == 8


@ray_only
async def test_an_actor_finds_named_actors_and_creates_actors(ray_session: None) -> None:
    """Inside an actor, get_actor() finds named Ray actors and Cls.remote() creates Ray actors."""
    async with ActorSystem(backend="ray"):
        name = unique("peer")
        Counter.options(name=name).remote()
        f = Fetch.remote()
        assert await f.by_name.remote(name) == 10
        assert await f.spawn.remote() == 42


# -- lifetimes and process deaths -------------------------------------------------


@ray_only
async def test_detached_actor_outlives_its_system(ray_session: None) -> None:
    """A detached actor keeps running after its system shuts down; another system finds it."""
    name = unique("keeper")
    async with ActorSystem(backend="ray"):
        kept = Counter.options(name=name, lifetime="detached").remote()
        assert await kept.incr.remote() == 1
    with pytest.raises(ActorDiedError, match="left running in Ray"):
        await kept.incr.remote()
    async with ActorSystem(backend="ray"):
        found = asyncactors.get_actor(name)
        assert await found.incr.remote() == 2
        with pytest.raises(ActorAlreadyExistsError):
            Counter.options(name=name).remote()
        assert Counter.options(name=name, get_if_exists=True).remote() == found
        asyncactors.kill(found)
        assert (await found.monitor()).reason == "was killed by asyncactors.kill()"


@ray_only
async def test_restart_after_its_process_died(ray_session: None, tmp_path: Path) -> None:
    """When an actor's process dies, its supervisor starts a new Ray actor that
    restores the checkpoint; handles held here keep working."""
    async with ActorSystem(backend="ray") as system:
        events = system.events()
        a = Account.options(
            name=unique("acct"), checkpoint_store=FileStore(tmp_path), max_restarts=1
        ).remote()
        assert await a.deposit.remote(5) == 5
        os.kill(await a.pid.remote(), signal.SIGKILL)
        kinds = []
        async for event in events:
            kinds.append(event.kind)
            if event.kind == "restarted":
                break
        assert kinds == ["started", "crashed", "restarting", "restarted"]
        assert await a.deposit.remote(1) == 6
        await events.aclose()


@ray_only
async def test_calls_in_flight_when_the_process_dies(ray_session: None) -> None:
    """Calls in flight when the process dies run again if max_task_retries allows,
    else fail with ActorDiedError; the actor serves on after its restart."""
    async with ActorSystem(backend="ray"):
        kept = Counter.options(max_restarts=1, max_task_retries=1).remote()
        lost = Counter.options(max_restarts=1).remote()
        pids = [await kept.pid.remote(), await lost.pid.remote()]
        k, lo = kept.hold.remote(0.5), lost.hold.remote(0.5)
        await asyncio.sleep(0.1)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        assert await k == 0.5
        with pytest.raises(ActorDiedError, match="restarted during the call"):
            await lo
        assert await lost.incr.remote() == 1


@ray_only
async def test_a_call_ray_lost_touch_during_is_not_a_death(ray_session: None) -> None:
    """ActorUnavailableError fails (or retries) that call; the actor is not taken for dead."""
    from ray.exceptions import ActorUnavailableError

    from asyncactors._backends._ray._calls import RayCall

    async with ActorSystem(backend="ray"):
        c = Counter.remote()
        await c
        core = c._core
        call = RayCall(core, core.spec.methods["incr"], (), {})
        call._gen = -1  # Ray's reply for a call outside the window
        core._settled(call, ActorUnavailableError("lost touch", None))
        with pytest.raises(ActorDiedError, match="was unavailable during the call"):
            await call
        assert core.state is asyncactors.ActorState.ALIVE
        assert await c.incr.remote() == 1


@ray_only
async def test_ray_kill_from_outside_is_a_kill(ray_session: None) -> None:
    """ray.kill() on an actor's Ray handle kills it for good, as asyncactors.kill()."""
    import ray

    async with ActorSystem(backend="ray"):
        c = Counter.options(max_restarts=-1).remote()
        await c
        ray.kill(c._core._ray_handle, no_restart=True)
        info = await c.monitor()
        assert info.reason.startswith("was killed by ray.kill()")
        with pytest.raises(ActorDiedError, match=r"killed by ray\.kill\(\)"):
            await c.incr.remote()


@ray_only
async def test_a_handle_to_itself_passes_to_other_actors(ray_session: None) -> None:
    """get_runtime_context().current_actor inside a Ray actor pickles to its Ray actor."""
    async with ActorSystem(backend="ray"):
        r = Relay.remote()
        me = await r.me.remote()
        assert me == r
        assert await Relay.remote(me).add_via_peer.remote(2, 3) == 5


@ray_only
def test_scale_out_example_prints_the_same_on_both_backends(ray_session: None) -> None:
    """examples/scale_out.py --self-test: the pipeline prints the same in process and on Ray."""
    out = run_example("scale_out.py", "--self-test")
    assert "self-test ok" in out
    assert "splitter incarnation: 2" in out


@ray_only
def test_cancel_once_the_loop_closed_returns_false_instead_of_raising() -> None:
    """RayCall.cancel() from off its loop, once that loop has closed, returns False (the
    call can never finish), as a local call's does: it raised 'Event loop is closed'."""
    from types import SimpleNamespace

    from asyncactors._backends._ray._calls import RayCall

    loop = asyncio.new_event_loop()
    loop.close()
    core: Any = SimpleNamespace(loop=loop)
    spec: Any = None  # cancel() reads neither the spec nor the core beyond its loop
    call = RayCall(core, spec, (), {})
    assert call.cancel() is False
    assert not call.done()
