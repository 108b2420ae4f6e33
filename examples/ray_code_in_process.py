# mypy cannot see what @ray.remote makes of a class (Ray code is not type-checked
# that way), and real Ray may or may not be installed where mypy runs:
# mypy: disable-error-code="attr-defined, no-any-return, import-not-found, unused-ignore"
"""An ordinary Ray program, run unchanged in this process by asyncactors.compat.ray.

``program()`` is plain Ray code: it imports ``ray`` and knows nothing of
asyncactors. Run the script and it runs the program twice, printing the same
lines each time: once in-process, with ``import ray`` giving
``asyncactors.compat.ray`` (``install_as_ray()``, what ``pytest
--ray-in-process`` does for a test session), and once on real Ray in a
subprocess, when Ray is installed (``pip install 'ray>=2.60'``).

    python examples/ray_code_in_process.py              # both, compared
    python examples/ray_code_in_process.py in-process   # asyncactors.compat.ray only
    python examples/ray_code_in_process.py ray          # real Ray only
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from typing import Any


def program() -> list[str]:
    """The Ray program: actors, an async actor, tasks, errors, a pool. Returns what it saw."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, ignore_reinit_error=True)
    out: list[str] = []

    @ray.remote
    class Account:
        def __init__(self, owner: str) -> None:
            self.owner = owner
            self.balance = 0

        def deposit(self, amount: int) -> int:
            if amount <= 0:
                raise ValueError(f"deposit must be positive, got {amount}")
            self.balance += amount
            return self.balance

        @ray.method(num_returns=2)
        def statement(self) -> tuple[str, int]:
            return self.owner, self.balance

    @ray.remote
    class Ledger:
        """An async actor: its calls interleave on one event loop."""

        def __init__(self) -> None:
            self.entries: list[str] = []

        async def record(self, account: Any, amount: int) -> int:
            balance = await account.deposit.remote(amount)
            self.entries.append(f"+{amount}")
            return balance

        async def entries_so_far(self) -> list[str]:
            return sorted(self.entries)

    @ray.remote
    def interest(balance: int, rate: float) -> float:
        return round(balance * rate, 2)

    @ray.remote
    class Worker:
        def square(self, x: int) -> int:
            return x * x

    alice = Account.options(name="alice").remote("alice")
    ledger = Ledger.remote()
    balances = ray.get([ledger.record.remote(alice, n) for n in (10, 20, 30)])
    out.append(f"final balance after three deposits: {max(balances)}")
    out.append(f"ledger entries: {ray.get(ledger.entries_so_far.remote())}")

    owner, balance = alice.statement.remote()
    out.append(f"statement: {ray.get(owner)} has {ray.get(balance)}")

    # A ref passed to a task is resolved to its value first.
    out.append(f"interest at 5%: {ray.get(interest.remote(balance, 0.05))}")

    same = ray.get_actor("alice")
    out.append(f"found by name, balance {ray.get(same.deposit.remote(40))}")

    try:
        ray.get(alice.deposit.remote(-5))
    except ValueError as exc:  # also a ray.exceptions.RayTaskError
        kind = "RayTaskError" if isinstance(exc, ray.exceptions.RayTaskError) else "?"
        out.append(f"caught ValueError ({kind}): {exc.args[0] if kind == '?' else exc.cause}")

    pool = ray.util.ActorPool([Worker.remote() for _ in range(2)])
    out.append(f"pool squares: {list(pool.map(lambda w, x: w.square.remote(x), range(6)))}")

    ready, not_ready = ray.wait([interest.remote(100, r / 100) for r in (1, 2, 3)], num_returns=3)
    out.append(f"wait: {len(ready)} ready, {len(not_ready)} not ready")

    ray.kill(alice)
    # Real Ray kills asynchronously: a call sent at once may still be served.
    for _ in range(200):
        try:
            ray.get(alice.deposit.remote(1))
        except ray.exceptions.RayActorError:
            out.append("after ray.kill: RayActorError")
            break
        time.sleep(0.05)

    ray.shutdown()
    return out


def run(which: str) -> list[str]:
    """Run the program on ``which`` ("in-process" or "ray") in this process."""
    if which == "in-process":
        import asyncactors.compat.ray

        asyncactors.compat.ray.install_as_ray()
    return program()


def main(argv: list[str]) -> int:
    """Run the program as ``argv`` says; with no argument, on both and compare."""
    which = argv[0] if argv else "both"
    if which in ("in-process", "ray"):
        start = time.perf_counter()
        lines = run(which)
        for line in lines:
            print(line)
        print(f"# {which}: {time.perf_counter() - start:.2f} s", file=sys.stderr)
        return 0
    if which != "both":
        print(f"usage: {sys.argv[0]} [in-process | ray]", file=sys.stderr)
        return 2
    runs = {"in-process": _subprocess("in-process")}
    if importlib.util.find_spec("ray") is not None:
        runs["ray"] = _subprocess("ray")
    else:
        print("(real Ray is not installed: pip install 'ray>=2.60' to compare)")
    for name, lines in runs.items():
        print(f"== {name}")
        print("\n".join(lines))
    if len(runs) == 2 and runs["in-process"] != runs["ray"]:
        print("the two runs differ")
        return 1
    return 0


def _subprocess(which: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, __file__, which], capture_output=True, text=True, check=True
    )
    return proc.stdout.splitlines()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
