"""Logical resources: an actor system's capacity and its actors' reservations.

As in Ray, resources are logical. Nothing measures what an actor uses: a
reservation decides only when an actor may be created, and what
``get_runtime_context().get_assigned_resources()`` tells it. The system owns one
``ResourcePool``; actors without resource options never enter it.

Requests are granted in strict FIFO order: creations, and the growth
``set_resources()`` asks for, wait in one queue, and a request that does not fit
holds back every request behind it, however small. Amounts are kept in
ten-thousandths (Ray's fixed point), so sums never drift.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from ._exceptions import ActorDiedError, GetTimeoutError
from ._options import check_resource_amounts

__all__ = [
    "CPU",
    "GPU",
    "MEMORY",
    "AssignedResources",
    "ResourcePool",
    "describe_amounts",
    "machine_memory",
]

CPU: Final = "CPU"
GPU: Final = "GPU"
MEMORY: Final = "memory"

_UNIT: Final = 10_000

Units = dict[str, int]


def _units(amount: float) -> int:
    return round(amount * _UNIT)


def _amounts(units: Mapping[str, int]) -> dict[str, float]:
    return {name: u / _UNIT for name, u in units.items()}


def _as_units(amounts: Mapping[str, float]) -> Units:
    return {name: _units(a) for name, a in amounts.items()}


class AssignedResources(dict[str, float]):
    """What an actor holds, as Ray's ``get_assigned_resources()`` gives it
    (``{"CPU": 1.0, "GPU": 1.0}``), with the ids of the GPUs it holds in
    ``gpu_ids`` (``["3"]``), e.g. for ``CUDA_VISIBLE_DEVICES``.

    A plain dict otherwise: it compares, copies and serialises as one.
    """

    __slots__ = ("gpu_ids",)

    def __init__(self, amounts: Mapping[str, float] = {}, gpu_ids: Iterable[str] = ()) -> None:
        super().__init__(amounts)
        self.gpu_ids: list[str] = list(gpu_ids)

    def __repr__(self) -> str:
        return f"AssignedResources({dict.__repr__(self)}, gpu_ids={self.gpu_ids!r})"


def describe_amounts(amounts: Mapping[str, float]) -> str:
    """``GPU: 1, CPU: 0.5``, as error messages show resources; ``nothing`` if empty."""
    return ", ".join(f"{n}: {a:g}" for n, a in amounts.items()) or "nothing"


def machine_memory() -> int:
    """This machine's physical memory in bytes; 0 where it cannot be told."""
    with contextlib.suppress(AttributeError, ValueError, OSError):
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        if pages > 0 and size > 0:
            return int(pages * size)
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def _capacity(checked: Mapping[str, Any] | None) -> tuple[Units, list[str]]:
    """The totals of a capacity ``_options.check_capacity()`` checked, over the
    defaults (this machine's CPUs and memory), and the GPU ids."""
    total: Units = {CPU: _units(os.cpu_count() or 1), MEMORY: _units(machine_memory())}
    ids: list[str] = []
    if checked is None:
        return total, ids
    given = dict(checked)
    if GPU in given:
        ids = given.pop(GPU)
        total[GPU] = len(ids) * _UNIT
    total.update(_as_units(given))
    return total, ids


class _Holder:
    """One actor in the pool: what it holds, and what it waits for."""

    __slots__ = ("core", "gpus", "held", "request")

    def __init__(self, core: Any) -> None:
        self.core = core
        self.held: Units = {}
        # GPU index -> its share held, in units.
        self.gpus: dict[int, int] = {}
        self.request: _Request | None = None


class _Request:
    """A creation (``on_grant``) or a growth (``future``) waiting its turn."""

    __slots__ = ("dropped", "future", "holder", "on_grant", "want")

    def __init__(
        self,
        holder: _Holder,
        want: Units,
        on_grant: Callable[[], None] | None,
        future: asyncio.Future[None] | None,
    ) -> None:
        self.holder = holder
        # The amounts to hold once granted, of the resources it changes.
        self.want = want
        self.on_grant = on_grant
        self.future = future
        self.dropped = False


class ResourcePool:
    """An actor system's capacity, its actors' reservations and the queue of requests.

    Any thread may create actors; the pool is guarded by the system's lock.
    Grants are announced outside the lock.
    """

    def __init__(self, capacity: Mapping[str, Any] | None, lock: threading.RLock) -> None:
        """A pool of ``capacity``, as ``_options.check_capacity()`` returns it."""
        self._total, self._gpu_ids = _capacity(capacity)
        self._free: Units = dict(self._total)
        self._gpu_free = [_UNIT] * len(self._gpu_ids)
        self._lock = lock
        # Actors that hold or wait for resources, by core: empty for most systems.
        self.members: dict[Any, _Holder] = {}
        self._queue: deque[_Request] = deque()
        self._closed = False

    # -- what the system reports ----------------------------------------------------

    def cluster(self) -> dict[str, float]:
        """The capacity of each resource the system has."""
        return _amounts({n: u for n, u in self._total.items() if u > 0})

    def available(self) -> dict[str, float]:
        """What is not reserved, of each resource with some left (as Ray omits the rest)."""
        with self._lock:
            return _amounts({n: u for n, u in self._free.items() if u > 0})

    def assigned(self, core: Any) -> AssignedResources:
        """What ``core`` holds now, with the ids of its GPUs."""
        with self._lock:
            holder = self.members.get(core)
            if holder is None:
                return AssignedResources()
            return AssignedResources(
                _amounts(holder.held), (self._gpu_ids[i] for i in sorted(holder.gpus))
            )

    def gpu_ids(self, core: Any) -> list[str]:
        """The ids of the GPUs ``core`` holds (a share of one, or whole ones)."""
        with self._lock:
            holder = self.members.get(core)
            return [self._gpu_ids[i] for i in sorted(holder.gpus)] if holder is not None else []

    def pending(self, core: Any) -> dict[str, float]:
        """What ``core`` waits to hold: its demand before creation, or a growth."""
        with self._lock:
            holder = self.members.get(core)
            request = holder.request if holder is not None else None
            return _amounts(request.want) if request is not None else {}

    # -- creation -------------------------------------------------------------------

    def check(self, what: str, amounts: Mapping[str, float]) -> None:
        """Refuse a demand the system could never meet, even with every actor gone.

        Raises:
            ValueError: some amount exceeds the system's capacity (naming it).
        """
        over = {n: a for n, a in amounts.items() if _units(a) > self._total.get(n, 0)}
        if not over:
            return
        have = {n: self._total[n] / _UNIT for n in over if self._total.get(n)}
        missing = [n for n in over if n not in have]
        if missing:
            raise ValueError(
                f"{what} asks for {describe_amounts(over)}, but its actor system has no "
                f"{', '.join(map(repr, missing))}; declare its capacity with "
                f"ActorSystem(resources={{{missing[0]!r}: ...}})"
            )
        raise ValueError(
            f"{what} asks for {describe_amounts(over)}, more than its actor system has in all "
            f"({describe_amounts(have)})"
        )

    def request(
        self, core: Any, amounts: Mapping[str, float], on_grant: Callable[[], None]
    ) -> bool:
        """Reserve ``amounts`` for a new actor; return whether they are granted now.

        Otherwise the request waits its turn, and ``on_grant()`` is called once it
        is granted; the actor must not be created before.
        """
        want = _as_units(amounts)
        with self._lock:
            holder = self.members[core] = _Holder(core)
            if not self._queue:
                gpus = self._fit(holder, want)
                if gpus is not None:
                    self._apply(holder, want, gpus)
                    return True
            holder.request = _Request(holder, want, on_grant, None)
            self._queue.append(holder.request)
            return False

    def release(self, core: Any) -> None:
        """``core`` is DEAD: free what it held, drop what it waited for, grant what fits."""
        with self._lock:
            holder = self.members.pop(core, None)
            if holder is None:
                return
            request = holder.request
            if request is not None:
                self._withdraw(request)
                if request.future is not None:
                    # Its method was cancelled with the actor; nobody reads this.
                    request.future.cancel()
            for name, units in holder.held.items():
                self._free[name] += units
            for i, units in holder.gpus.items():
                self._gpu_free[i] += units
            holder.held, holder.gpus = {}, {}
            granted = self._grant_waiting()
        _announce(granted)

    def close(self) -> list[tuple[Any, dict[str, float]]]:
        """The system shuts down: nothing more is granted.

        Growth still waiting fails with ``ActorDiedError``. Returns the actors
        still waiting to be created, each with its demand, for the system to fail.
        """
        parked = []
        with self._lock:
            self._closed = True
            queue, self._queue = self._queue, deque()
            for request in queue:
                if request.dropped:
                    continue
                request.dropped = True
                holder = request.holder
                holder.request = None
                if request.future is None:
                    parked.append((holder.core, _amounts(request.want)))
                elif not request.future.done():
                    request.future.set_exception(
                        _died(holder.core, "its actor system is being shut down", request.want)
                    )
        return parked

    # -- resizing ---------------------------------------------------------------------

    async def resize(self, core: Any, amounts: object, timeout: float | None) -> None:
        """Set ``core``'s reservation of each resource ``amounts`` names.

        Decreases take effect at once, and what they free goes to the requests
        waiting. Increases wait together, in FIFO order behind those requests.

        Raises:
            TypeError, ValueError: bad amounts, or more than the system has in all.
            RuntimeError: another ``set_resources()`` of this actor is waiting.
            GetTimeoutError: the increases did not fit within ``timeout`` seconds;
                the actor keeps what it held of those resources.
            ActorDiedError: the system shut down while the increases waited.
        """
        check_resource_amounts(amounts, "set_resources()")
        assert isinstance(amounts, Mapping)
        self.check(f"{core.describe()} set_resources()", amounts)
        want = _as_units(amounts)
        loop = asyncio.get_running_loop()
        request = None
        with self._lock:
            holder = self.members.get(core)
            if holder is None:
                holder = self.members[core] = _Holder(core)
            elif holder.request is not None:
                raise RuntimeError(
                    f"{core.describe()} is already waiting in set_resources() for "
                    f"{describe_amounts(_amounts(holder.request.want))}; one at a time"
                )
            shrink = {n: u for n, u in want.items() if u < holder.held.get(n, 0)}
            grow = {n: u for n, u in want.items() if u > holder.held.get(n, 0)}
            granted: list[_Request] = []
            if shrink:
                gpus = self._fit(holder, shrink)
                assert gpus is not None  # less than it holds always fits
                self._apply(holder, shrink, gpus)
                granted = self._grant_waiting()
            if grow:
                gpus = None if self._queue else self._fit(holder, grow)
                if gpus is not None:
                    self._apply(holder, grow, gpus)
                elif self._closed:
                    raise _died(core, "its actor system is being shut down", grow)
                else:
                    request = holder.request = _Request(holder, grow, None, loop.create_future())
                    self._queue.append(request)
        _announce(granted)
        if request is None:
            return
        future = request.future
        assert future is not None
        try:
            async with asyncio.timeout(timeout):
                await future
        except BaseException as exc:
            with self._lock:
                queued = not request.dropped
                if queued:
                    self._withdraw(request)
                    # It may have held back smaller requests behind it.
                    granted = self._grant_waiting()
            if queued:
                _announce(granted)
                if isinstance(exc, TimeoutError):
                    raise GetTimeoutError(
                        f"set_resources() of {core.describe()} timed out after {timeout} s "
                        f"waiting for {describe_amounts(_amounts(grow))} "
                        f"(available: {describe_amounts(self.available())})"
                    ) from None
            elif isinstance(exc, TimeoutError) and _granted(future):
                return  # granted as the timeout expired
            raise

    # -- accounting -------------------------------------------------------------------

    def _withdraw(self, request: _Request) -> None:
        request.dropped = True
        request.holder.request = None
        with contextlib.suppress(ValueError):
            self._queue.remove(request)

    def _grant_waiting(self) -> list[_Request]:
        """Grant the requests at the head of the queue while they fit (lock held)."""
        granted = []
        queue = self._queue
        while queue:
            request = queue[0]
            gpus = self._fit(request.holder, request.want)
            if gpus is None:
                break
            queue.popleft()
            self._apply(request.holder, request.want, gpus)
            request.dropped = True
            request.holder.request = None
            granted.append(request)
        return granted

    def _fit(self, holder: _Holder, want: Units) -> dict[int, int] | None:
        """The GPUs ``holder`` would hold with ``want``; ``None`` if ``want`` does not fit."""
        for name, units in want.items():
            if name != GPU and units - holder.held.get(name, 0) > self._free.get(name, 0):
                return None
        if GPU not in want:
            return holder.gpus
        return self._pick_gpus(holder.gpus, want[GPU])

    def _pick_gpus(self, current: dict[int, int], units: int) -> dict[int, int] | None:
        """GPUs for ``units`` (whole GPUs, or a share of one), keeping ``current`` where
        it can; a share goes to the fullest GPU it fits on, as Ray packs fractions."""
        if not units:
            return {}
        free = list(self._gpu_free)
        for i, held in current.items():
            free[i] += held
        if units < _UNIT:
            fitting = [i for i, f in enumerate(free) if f >= units]
            if not fitting:
                return None
            return {min(fitting, key=lambda i: (i not in current, free[i], i)): units}
        whole = sorted(
            (i for i, f in enumerate(free) if f == _UNIT), key=lambda i: (i not in current, i)
        )
        n = units // _UNIT
        return {i: _UNIT for i in whole[:n]} if len(whole) >= n else None

    def _apply(self, holder: _Holder, want: Units, gpus: dict[int, int]) -> None:
        """Make ``holder`` hold ``want`` (lock held; it fits)."""
        for name, units in want.items():
            self._free[name] = self._free.get(name, 0) - (units - holder.held.get(name, 0))
            if units:
                holder.held[name] = units
            else:
                holder.held.pop(name, None)
        if gpus is not holder.gpus:
            for i, units in holder.gpus.items():
                self._gpu_free[i] += units
            for i, units in gpus.items():
                self._gpu_free[i] -= units
            holder.gpus = gpus


def _announce(granted: Iterable[_Request]) -> None:
    """Tell each granted request, in the order granted (outside the lock)."""
    for request in granted:
        if request.on_grant is not None:
            request.on_grant()
        elif request.future is not None and not request.future.done():
            fut = request.future
            if asyncio._get_running_loop() is fut.get_loop():
                fut.set_result(None)
            else:
                fut.get_loop().call_soon_threadsafe(_settle, fut)


def _granted(fut: asyncio.Future[None]) -> bool:
    return fut.done() and not fut.cancelled() and fut.exception() is None


def _settle(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _died(core: Any, why: str, want: Units) -> ActorDiedError:
    return ActorDiedError(
        f"{core.describe()} cannot grow its resources to {describe_amounts(_amounts(want))}: {why}",
        actor_id=core.actor_id,
        class_name=core.class_name,
        name=core.name,
    )
