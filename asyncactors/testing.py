"""The asyncactors pytest plugin: the ``actor_system`` fixture and its leak check.

pytest loads it through the ``pytest11`` entry point of the installed package
(or with ``-p asyncactors.testing``). It is opt-in: a project that uses none of
the fixture, the marker and the ini options is not affected.

* ``actor_system``: a fresh :class:`~asyncactors.ActorSystem` per test, current
  while the test runs (``Cls.remote()`` creates actors in it) and shut down
  after it with a timeout. The test errors at teardown if it left an actor
  with a pending call or a running task, naming them, or if the shutdown had
  to cancel calls that were still running when the timeout expired.
* ``@pytest.mark.asyncactors(leak_check=False, shutdown_timeout=S)``: the
  fixture's settings for one test.
* ini ``asyncactors_shutdown_timeout`` (seconds, default 5): the shutdown's
  timeout, so that a stuck call fails the test instead of hanging it.
* ini ``asyncactors_strict_leaks`` (default false): check every test, whether
  it uses the fixture or not, for an actor system left open or one of its
  tasks left pending, or a ``start_background()`` system left running.
* ``--ray-in-process`` (or ``ASYNCACTORS_RAY_IN_PROCESS=1``): ``import ray``
  gives ``asyncactors.compat.ray`` for the whole session, so that a
  project's Ray tests run in this process. Ray's fixtures
  ``ray_start_regular``, ``ray_start_regular_shared`` and ``shutdown_only``
  are provided (they start whichever ``ray`` is imported).

The fixture runs on the test's own event loop: pytest-asyncio's (auto or strict
mode, any loop scope) or anyio's (``@pytest.mark.anyio``, asyncio backend).
"""

from __future__ import annotations

import inspect
import math
import os
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import pytest

from ._sync import BackgroundSystem
from ._system import ActorSystem, live_systems

__all__ = ["actor_system"]

SHUTDOWN_TIMEOUT_INI: Final = "asyncactors_shutdown_timeout"
STRICT_LEAKS_INI: Final = "asyncactors_strict_leaks"
MARKER: Final = "asyncactors"
DEFAULT_SHUTDOWN_TIMEOUT: Final = 5.0
_MARKER_ARGS: Final = ("leak_check", "shutdown_timeout")

# pytest-asyncio's loop scopes: one fixture per scope, so that the system runs
# on the loop the test runs on.
_LOOP_SCOPES: Final = ("function", "class", "module", "package", "session")
_ANYIO_SYSTEM: Final = "_asyncactors_system_anyio"
RAY_OPTION: Final = "--ray-in-process"
RAY_ENV: Final = "ASYNCACTORS_RAY_IN_PROCESS"
_CALL_FAILED: Final = pytest.StashKey[bool]()
_SETTINGS: Final = pytest.StashKey["_Settings"]()
# What the actor_system fixture found wrong at tear-down, for pytest_runtest_teardown.
_PROBLEMS: Final = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("asyncactors").addoption(
        RAY_OPTION,
        action="store_true",
        dest="ray_in_process",
        help=f"make `import ray` give asyncactors.compat.ray for the whole session: Ray "
        f"code and Ray tests run in this process (also: {RAY_ENV}=1)",
    )
    parser.addini(
        SHUTDOWN_TIMEOUT_INI,
        "seconds the actor_system fixture's shutdown lets calls run before it cancels "
        f"them and fails the test (default: {DEFAULT_SHUTDOWN_TIMEOUT:g})",
        default=str(DEFAULT_SHUTDOWN_TIMEOUT),
    )
    parser.addini(
        STRICT_LEAKS_INI,
        "fail every test that leaves an asyncactors ActorSystem open or one of its "
        "tasks pending, whether it uses the actor_system fixture or not",
        type="bool",
        default=False,
    )


def _ray_in_process(config: pytest.Config) -> bool:
    """Whether the session asked for Ray in-process, by option or environment variable.

    Raises:
        pytest.UsageError: the environment variable is neither 0/1 nor empty.
    """
    value = os.environ.get(RAY_ENV, "").strip().lower()
    if value not in ("", "0", "1", "true", "false", "yes", "no"):
        raise pytest.UsageError(f"{RAY_ENV} must be 1 or 0, got {value!r}")
    from_env = value in ("1", "true", "yes")
    return from_env or bool(getattr(config.known_args_namespace, "ray_in_process", False))


_RAY_INSTALLED: Final = pytest.StashKey[bool]()


def _install_ray(config: pytest.Config) -> None:
    """Make ``import ray`` give asyncactors.compat.ray, once, remembering it was us."""
    from .compat.ray._alias import install_as_ray, installed

    if not installed():
        install_as_ray()
        config.stash[_RAY_INSTALLED] = True


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    # As early as a plugin can: before any conftest.py imports ray.
    if _ray_in_process(early_config):
        _install_ray(early_config)


def pytest_configure(config: pytest.Config) -> None:
    if _ray_in_process(config):
        _install_ray(config)  # for a plugin loaded after the initial conftests
    from .compat import _ray_fixtures

    if not config.pluginmanager.is_registered(_ray_fixtures):
        config.pluginmanager.register(_ray_fixtures, "asyncactors-ray-fixtures")
    config.addinivalue_line(
        "markers",
        f"{MARKER}(leak_check=True, shutdown_timeout=None): the actor_system fixture's "
        "settings for one test: leak_check=False lets the test leave pending calls "
        f"behind; shutdown_timeout (seconds) overrides the {SHUTDOWN_TIMEOUT_INI} option",
    )
    try:
        _seconds(config.getini(SHUTDOWN_TIMEOUT_INI), f"the {SHUTDOWN_TIMEOUT_INI} option")
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    if config.getini(STRICT_LEAKS_INI):
        config.pluginmanager.register(_StrictLeakCheck(), "asyncactors-strict-leaks")


def pytest_unconfigure(config: pytest.Config) -> None:
    if config.stash.get(_RAY_INSTALLED, False):
        from .compat.ray._alias import uninstall

        uninstall()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if call.when == "call" and report.failed and "actor_system" in item.fixturenames:  # type: ignore[attr-defined]
        # A failed test leaves calls behind for its own reasons: the fixture
        # then shuts down without piling a leak report on top of the failure.
        item.stash[_CALL_FAILED] = True
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    result = yield
    problems = item.stash.get(_PROBLEMS, None)
    if problems is not None:
        pytest.fail(problems, pytrace=False)
    return result


def _seconds(value: object, where: str) -> float:
    """``value`` as a number of seconds.

    Raises:
        ValueError: it is not a finite number >= 0 (the message names ``where``).
    """
    if isinstance(value, bool):
        value = None  # not a number of seconds, although float() takes it
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{where} must be a number of seconds, got {value!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{where} must be a finite number >= 0, got {value!r}")
    return seconds


@dataclass(frozen=True, slots=True)
class _Settings:
    leak_check: bool
    shutdown_timeout: float
    timeout_from: str
    """Where ``shutdown_timeout`` was set, for the error message."""


def _settings(request: pytest.FixtureRequest) -> _Settings:
    """The ini options, overridden by the test's ``asyncactors`` marker.

    A bad marker fails the test with a message and no traceback: the mistake is
    in the marker, not in the plugin's code.
    """
    try:
        return _parse_settings(request)
    except ValueError as exc:
        pytest.fail(str(exc), pytrace=False)


def _parse_settings(request: pytest.FixtureRequest) -> _Settings:
    timeout = _seconds(request.config.getini(SHUTDOWN_TIMEOUT_INI), SHUTDOWN_TIMEOUT_INI)
    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        return _Settings(True, timeout, SHUTDOWN_TIMEOUT_INI)
    where = f"@pytest.mark.{MARKER}"
    unknown = sorted(set(marker.kwargs) - set(_MARKER_ARGS))
    if marker.args or unknown:
        got = ", ".join([*map(repr, marker.args), *unknown])
        raise ValueError(
            f"{where} takes the keyword arguments {', '.join(_MARKER_ARGS)}; got {got}"
        )
    leak_check = marker.kwargs.get("leak_check", True)
    if not isinstance(leak_check, bool):
        raise ValueError(f"{where}: leak_check must be True or False, got {leak_check!r}")
    if "shutdown_timeout" not in marker.kwargs:
        return _Settings(leak_check, timeout, SHUTDOWN_TIMEOUT_INI)
    timeout = _seconds(marker.kwargs["shutdown_timeout"], f"{where}: shutdown_timeout")
    return _Settings(leak_check, timeout, "the marker's shutdown_timeout")


# -- what a test left behind ------------------------------------------------------------


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _leaks(system: ActorSystem) -> list[str]:
    """The actors of ``system`` that have work left, and the tasks of its dead actors."""
    leaks = [what for core in list(system._actors.values()) if (what := core.leftovers())]
    if system._orphans:
        leaks.append(_plural(len(system._orphans), "task") + " of dead actors still running")
    return leaks


# -- the fixture ------------------------------------------------------------------------


def _asyncio_mode(config: pytest.Config) -> str:
    mode = config.getoption("asyncio_mode", None) or config.getini("asyncio_mode")
    return str(mode)


def _asyncio_loop_scope(request: pytest.FixtureRequest) -> str:
    """The scope of the pytest-asyncio event loop the test runs on."""
    marker = request.node.get_closest_marker("asyncio")
    kwargs = marker.kwargs if marker is not None else {}
    scope = kwargs.get("loop_scope") or kwargs.get("scope")
    return str(scope or request.config.getini("asyncio_default_test_loop_scope") or "function")


@pytest.fixture
def actor_system(request: pytest.FixtureRequest) -> ActorSystem:
    """A fresh ActorSystem, current while the test runs, shut down after it.

    The test errors at teardown if it left actors with pending calls or
    running tasks (unless ``@pytest.mark.asyncactors(leak_check=False)``), or
    if the shutdown had to cancel calls after ``asyncactors_shutdown_timeout``
    seconds.
    """
    # Checked here, before any event loop is involved.
    request.node.stash[_SETTINGS] = _settings(request)
    # The system must run on the test's own event loop, so the fixture that
    # runs it is one that the plugin running the test runs on that loop.
    has_asyncio = request.config.pluginmanager.has_plugin("asyncio")
    if "anyio_backend" in request.fixturenames:
        if has_asyncio and _asyncio_mode(request.config) == "auto":
            pytest.fail(
                "actor_system in an anyio test needs pytest-asyncio in strict mode "
                "(asyncio_mode = strict): in auto mode pytest-asyncio runs every async "
                "fixture on its own event loop, not on anyio's",
                pytrace=False,
            )
        backend = request.getfixturevalue("anyio_backend")
        backend_name = backend if isinstance(backend, str) else backend[0]
        if backend_name != "asyncio":
            pytest.fail(
                f"actor_system runs on asyncio only, not on anyio's {backend_name!r} backend: "
                "give the test an anyio_backend fixture that returns 'asyncio'",
                pytrace=False,
            )
        return request.getfixturevalue(_ANYIO_SYSTEM)  # type: ignore[no-any-return]
    if not has_asyncio:
        pytest.fail(
            "actor_system needs an async test run by pytest-asyncio "
            "(pip install pytest-asyncio) or by anyio's plugin (@pytest.mark.anyio)",
            pytrace=False,
        )
    if (
        _asyncio_mode(request.config) == "strict"
        and inspect.iscoroutinefunction(getattr(request.node, "obj", None))
        and request.node.get_closest_marker("asyncio") is None
    ):
        # Else pytest's own "async def functions are not natively supported" follows,
        # with no word of what to change.
        pytest.fail(
            f"actor_system: {request.node.name} is an async test, but pytest-asyncio in "
            "strict mode runs only tests marked @pytest.mark.asyncio: mark it (or its "
            "module: pytestmark = pytest.mark.asyncio), or set asyncio_mode = auto",
            pytrace=False,
        )
    scope = _asyncio_loop_scope(request)
    if scope not in _LOOP_SCOPES:
        pytest.fail(f"unknown pytest-asyncio loop scope {scope!r}", pytrace=False)
    return request.getfixturevalue(f"_asyncactors_system_asyncio_{scope}")  # type: ignore[no-any-return]


async def _run_system(request: pytest.FixtureRequest) -> AsyncIterator[ActorSystem]:
    item = request.node
    settings = item.stash[_SETTINGS]
    # Set-up and tear-down may run in different tasks (pytest-asyncio): hold no
    # task group or cancel scope across the yield. Nor may the tear-down raise:
    # pytest-asyncio would then leave this fixture's context variables (the
    # current system) set for the tests that follow. What went wrong is
    # reported by pytest_runtest_teardown instead.
    try:
        async with ActorSystem(shutdown_timeout=settings.shutdown_timeout) as system:
            yield system
            quiet = not settings.leak_check or item.stash.get(_CALL_FAILED, False)
            leaks = [] if quiet else _leaks(system)
            busy = {c: what for c in list(system._actors.values()) if (what := c.leftovers())}
    except Exception:
        item.stash[_PROBLEMS] = (
            f"asyncactors: the actor system's shutdown raised:\n{traceback.format_exc()}"
        )
        return
    if item.stash.get(_CALL_FAILED, False):
        return
    problems = []
    if leaks:
        problems.append(
            "the test left actors with pending calls or tasks behind:\n  "
            + "\n  ".join(leaks)
            + f"\nAwait what the test starts, or mark it @pytest.mark.{MARKER}(leak_check=False)."
        )
    if system._forced_down:
        timed_out = (
            f"shutdown timed out after {settings.shutdown_timeout:g} s ({settings.timeout_from}) "
            "and cancelled the calls of:\n  "
        )
        problems.append(
            ("The " if problems else "the actor system's ")
            + timed_out
            + "\n  ".join(busy.get(core) or core.describe() for core in system._forced_down)
        )
    if problems:
        item.stash[_PROBLEMS] = "asyncactors: " + "\n".join(problems)


def _system_fixture(
    name: str, decorate: Callable[[Any], Any]
) -> Callable[[pytest.FixtureRequest], AsyncIterator[ActorSystem]]:
    async def fixture(request: pytest.FixtureRequest) -> AsyncIterator[ActorSystem]:
        async for system in _run_system(request):
            yield system

    fixture.__name__ = fixture.__qualname__ = name
    return decorate(fixture)  # type: ignore[no-any-return]


# anyio's plugin runs an async fixture of an anyio test on the test's loop.
_asyncactors_system_anyio = _system_fixture(_ANYIO_SYSTEM, pytest.fixture)

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - anyio's plugin alone
    pass
else:
    for _scope in _LOOP_SCOPES:
        _name = f"_asyncactors_system_asyncio_{_scope}"
        globals()[_name] = _system_fixture(
            _name,
            pytest_asyncio.fixture(loop_scope=_scope),
        )
    del _scope, _name


# -- asyncactors_strict_leaks -----------------------------------------------------------


class _StrictLeakCheck:
    """Registered as a plugin when ``asyncactors_strict_leaks`` is on."""

    @pytest.fixture(autouse=True)
    def _asyncactors_no_leaks(self, request: pytest.FixtureRequest) -> Iterator[None]:
        """Fail a test that leaves an actor system open, running or one of its tasks pending.

        ``@pytest.mark.asyncactors(leak_check=False)`` exempts a test.
        """
        if not _settings(request).leak_check:
            yield
            return
        before = set(map(id, live_systems()))
        yield
        leaked = []
        for system in live_systems():
            if id(system) in before:
                continue
            if isinstance(system, BackgroundSystem) and system._running:
                leaked.append(f"{system!r} was not stopped: its loop thread still runs")
            elif system._loop is not None and not system._closed:
                leaked.append(f"{system!r} was not shut down")
            elif system._orphans:
                leaked.append(f"{system!r} left tasks pending: {system._orphans}")
        if leaked:
            # Stop what leaked so that it cannot spill into the next test.
            for system in live_systems():
                if isinstance(system, BackgroundSystem):
                    # Its loop runs in its own thread; a loop blocked for good is given up on.
                    system._stop(1, give_up_after=3)
                    continue
                loop = system._loop
                if loop is not None and not loop.is_closed() and not loop.is_running():
                    loop.run_until_complete(system.shutdown(timeout=1))
            pytest.fail(
                f"asyncactors ({STRICT_LEAKS_INI}): leaked: " + "; ".join(leaked), pytrace=False
            )
