"""The pytest plugin ``asyncactors.testing``, run on small projects by pytester.

The inner runs are in-process: pytest loads the plugin through the installed
package's ``pytest11`` entry point, as in a user's project, unless a test
disables that and passes ``-p asyncactors.testing``.
"""

from __future__ import annotations

import importlib.metadata
import time

import pytest

pytest_plugins = ["pytester"]

ACTORS = """
import asyncio

import pytest

import asyncactors


@asyncactors.remote
class Counter:
    def __init__(self):
        self.n = 0

    def incr(self):
        self.n += 1
        return self.n


@asyncactors.remote
class Gate:
    def __init__(self):
        self.opened = asyncio.Event()

    async def wait(self):
        await self.opened.wait()

    async def nap(self):
        await asyncio.sleep(0.01)
"""


def _project(pytester: pytest.Pytester, ini: str = "", *, mode: str = "auto") -> None:
    pytester.makeini(
        f"""
        [pytest]
        asyncio_mode = {mode}
        asyncio_default_fixture_loop_scope = function
        asyncio_default_test_loop_scope = function
        filterwarnings = error
        addopts = --strict-markers -p no:cacheprovider -p no:hypothesispytest
        {ini}
        """
    )
    pytester.makepyfile(actors=ACTORS)


def test_the_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    (ep,) = (
        ep
        for ep in importlib.metadata.entry_points(group="pytest11")
        if ep.value == "asyncactors.testing"
    )
    # Named as the module, so that '-p asyncactors.testing' and the entry point
    # are one plugin, not two registrations of the same module.
    assert ep.name == "asyncactors.testing"


def test_actor_system_is_current_in_the_test_and_shut_down_after_it(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester)
    pytester.makepyfile(
        """
        import asyncio

        import asyncactors
        from actors import Counter

        SEEN = []

        async def test_uses_the_fixture(actor_system):
            c = Counter.remote()
            assert await c.incr.remote() == 1
            assert [a.class_name for a in actor_system.list_actors()] == ["Counter"]
            assert actor_system.loop is asyncio.get_running_loop()
            assert actor_system.shutdown_timeout == 5.0
            SEEN.append(actor_system)

        def test_it_was_shut_down():
            (system,) = SEEN
            assert system.closed
            assert [a.state for a in system.list_actors()] == [asyncactors.ActorState.DEAD]
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)


def test_a_test_leaving_a_pending_call_fails_naming_the_actor_and_method(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester, "asyncactors_shutdown_timeout = 0.05")
    pytester.makepyfile(
        """
        from actors import Counter, Gate

        async def test_leaks(actor_system):
            assert await Counter.remote().incr.remote() == 1
            gate = Gate.options(name="gate").remote()
            gate.wait.remote()
            gate.wait.remote()
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks*",
            "asyncactors: the test left actors with pending calls or tasks behind:",
            "  actor Gate(id=*, name='gate'): 2 pending calls: wait() x2",
            "*leak_check=False*",
        ]
    )
    # The idle Counter is not named.
    assert "Counter" not in result.stdout.str()


def test_tests_after_a_reported_leak_do_not_inherit_its_closed_system(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester, "asyncactors_shutdown_timeout = 0.05")
    pytester.makepyfile(
        """
        import asyncactors
        from actors import Counter, Gate

        async def test_leaks(actor_system):
            Gate.remote().wait.remote()

        async def test_default_system_afterwards():
            assert await Counter.remote().incr.remote() == 1
            await asyncactors.shutdown()

        async def test_fixture_afterwards(actor_system):
            assert await Counter.remote().incr.remote() == 1
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_leaks*"])


def test_leak_check_false_lets_a_test_leave_calls_that_finish_in_the_shutdown(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester)
    pytester.makepyfile(
        """
        import pytest

        from actors import Gate

        @pytest.mark.asyncactors(leak_check=False)
        async def test_leaves_a_nap(actor_system):
            Gate.remote().nap.remote()
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_stuck_call_fails_after_the_ini_shutdown_timeout_instead_of_hanging(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester, "asyncactors_shutdown_timeout = 0.05")
    pytester.makepyfile(
        """
        import pytest

        from actors import Gate

        @pytest.mark.asyncactors(leak_check=False)
        async def test_stuck(actor_system):
            Gate.remote().wait.remote()
        """
    )
    start = time.monotonic()
    result = pytester.runpytest()
    # Well under the default timeout of 5 s: the ini option was used.
    assert time.monotonic() - start < 3
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "asyncactors: the actor system's shutdown timed out after 0.05 s "
            "(asyncactors_shutdown_timeout) and cancelled the calls of:",
            "  actor Gate(id=*): 1 pending call: wait()",
        ]
    )


def test_the_marker_overrides_the_shutdown_timeout(pytester: pytest.Pytester) -> None:
    _project(pytester, "asyncactors_shutdown_timeout = 30")
    pytester.makepyfile(
        """
        import pytest

        from actors import Gate

        @pytest.mark.asyncactors(leak_check=False, shutdown_timeout=0)
        async def test_stuck(actor_system):
            assert actor_system.shutdown_timeout == 0
            Gate.remote().wait.remote()
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*timed out after 0 s (the marker's shutdown_timeout)*"])


def test_a_failing_test_gets_no_leak_report_on_top_of_its_failure(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester, "asyncactors_shutdown_timeout = 0.05")
    pytester.makepyfile(
        """
        import pytest

        from actors import Gate

        async def test_fails(actor_system):
            Gate.remote().wait.remote()
            pytest.fail("the test's own failure", pytrace=False)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    assert "pending calls" not in result.stdout.str()


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            "leak_chek=False",
            "takes the keyword arguments leak_check, shutdown_timeout; got leak_chek",
        ),
        ("leak_check='no'", "leak_check must be True or False, got 'no'"),
        ("shutdown_timeout=-1", "shutdown_timeout must be a finite number >= 0, got -1"),
    ],
)
def test_bad_marker_arguments_are_named(
    pytester: pytest.Pytester, marker: str, message: str
) -> None:
    _project(pytester)
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.asyncactors({marker})
        async def test_x(actor_system):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    assert message in result.stdout.str()


def test_a_bad_ini_shutdown_timeout_is_a_usage_error(pytester: pytest.Pytester) -> None:
    _project(pytester, "asyncactors_shutdown_timeout = soon")
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "asyncactors_shutdown_timeout option must be a number of seconds, got 'soon'" in (
        result.stderr.str()
    )


def test_strict_mode_with_function_and_module_loops(pytester: pytest.Pytester) -> None:
    _project(pytester, "asyncactors_shutdown_timeout = 0.05", mode="strict")
    pytester.makepyfile(
        """
        import asyncio

        import pytest

        from actors import Counter, Gate

        @pytest.mark.asyncio
        async def test_function_loop(actor_system):
            assert actor_system.loop is asyncio.get_running_loop()
            assert await Counter.remote().incr.remote() == 1

        @pytest.mark.asyncio(loop_scope="module")
        async def test_module_loop(actor_system):
            assert actor_system.loop is asyncio.get_running_loop()
            assert await Counter.remote().incr.remote() == 1

        @pytest.mark.asyncio
        async def test_leaks(actor_system):
            Gate.remote().wait.remote()
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_leaks*", "*Gate(id=*): 1 pending*"])


ANYIO_TESTS = """
import asyncio

import pytest

from actors import Counter, Gate

pytestmark = pytest.mark.anyio

@pytest.fixture
def anyio_backend():
    return "asyncio"

async def test_runs(actor_system):
    assert actor_system.loop is asyncio.get_running_loop()
    assert await Counter.remote().incr.remote() == 1

async def test_leaks(actor_system):
    Gate.remote().wait.remote()
"""


def test_anyio_plugin_beside_pytest_asyncio_in_strict_mode(pytester: pytest.Pytester) -> None:
    _project(pytester, "asyncactors_shutdown_timeout = 0.05", mode="strict")
    pytester.makepyfile(ANYIO_TESTS)
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_leaks*", "*Gate(id=*): 1 pending*"])


def test_anyio_plugin_alone_with_the_plugin_given_by_p(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeini(
        """
        [pytest]
        asyncactors_shutdown_timeout = 0.05
        filterwarnings = error
        """
    )
    pytester.makepyfile(actors=ACTORS)
    pytester.makepyfile(ANYIO_TESTS)
    result = pytester.runpytest(
        "-p", "anyio", "-p", "asyncactors.testing", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_leaks*", "*Gate(id=*): 1 pending*"])


def test_an_anyio_test_under_asyncio_auto_mode_is_told_to_use_strict_mode(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester, mode="auto")
    pytester.makepyfile(ANYIO_TESTS)
    result = pytester.runpytest()
    result.assert_outcomes(errors=2)
    assert "needs pytest-asyncio in strict mode" in result.stdout.str()


def test_an_unmarked_async_test_in_strict_mode_is_told_to_mark_it(
    pytester: pytest.Pytester,
) -> None:
    """In pytest-asyncio's strict mode an async test using actor_system without
    @pytest.mark.asyncio errors, saying to mark it or to use auto mode."""
    _project(pytester, mode="strict")
    pytester.makepyfile(
        """
        from actors import Counter

        async def test_unmarked(actor_system):
            assert await Counter.remote().incr.remote() == 1
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*actor_system: test_unmarked is an async test*strict mode*@pytest.mark.asyncio*"]
    )
    assert "asyncio_mode = auto" in result.stdout.str()


def test_an_anyio_test_on_another_backend_is_told_to_use_asyncio(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester, mode="strict")
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def anyio_backend():
            return "trio"

        @pytest.mark.anyio
        async def test_x(actor_system):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    assert "actor_system runs on asyncio only, not on anyio's 'trio' backend" in (
        result.stdout.str()
    )


def test_a_project_not_using_the_plugin_is_unaffected(pytester: pytest.Pytester) -> None:
    _project(pytester)
    pytester.makepyfile(
        """
        import asyncactors
        from actors import Gate

        def test_no_fixture_of_the_plugin_is_used(request):
            assert not [n for n in request.fixturenames if "asyncactors" in n]

        async def test_own_system_with_a_call_left_to_the_shutdown():
            async with asyncactors.ActorSystem():
                Gate.remote().nap.remote()
        """
    )
    result = pytester.runpytest("-W", "error")
    result.assert_outcomes(passed=2)


@pytest.mark.asyncactors(leak_check=False)  # the inner test leaks a system into this process
def test_strict_leaks_fails_any_test_that_leaves_a_system_open(pytester: pytest.Pytester) -> None:
    _project(pytester)
    pytester.makepyfile(
        """
        import asyncactors

        OPEN = []

        async def test_leaves_a_system_open():
            system = asyncactors.ActorSystem()
            await system.__aenter__()
            OPEN.append(system)  # alive: the check sees systems not yet collected
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    result = pytester.runpytest("-o", "asyncactors_strict_leaks=true")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*asyncactors (asyncactors_strict_leaks): leaked: *not shut down*"]
    )


def test_this_project_checks_every_test_for_leaks(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.getini("asyncactors_strict_leaks") is True
    assert pytestconfig.pluginmanager.has_plugin("asyncactors-strict-leaks")
