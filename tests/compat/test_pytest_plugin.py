"""``--ray-in-process``: a project's Ray tests run unchanged on asyncactors.compat.ray.

The inner sessions run in-process under pytester; the plugin undoes the
`import ray` redirection when its session ends.
"""

from __future__ import annotations

import sys

import pytest

# Imported here, so that the inner sessions find it imported instead of importing
# (and assertion-rewriting) it again each time.
import asyncactors.compat.ray  # noqa: F401

# Hypothesis's plugin imports all of hypothesis at each inner session's end.
QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")

pytest_plugins = ["pytester"]

CONFTEST = """
import ray

SEEN_AT_CONFTEST = ray.__name__
"""

RAY_TESTS = """
import pytest
import ray
from ray.exceptions import RayTaskError
from ray.util import ActorPool


@ray.remote
class Counter:
    def __init__(self):
        self.n = 0

    def incr(self):
        self.n += 1
        return self.n

    def fail(self):
        raise ValueError("inside")


@ray.remote
def square(x):
    return x * x


def test_conftest_saw_the_compat_module(request):
    assert request.config.pluginmanager.get_plugin("asyncactors.testing") is not None
    import conftest

    assert conftest.SEEN_AT_CONFTEST == "asyncactors.compat.ray"


def test_actor_with_ray_start_regular(ray_start_regular):
    assert ray.__name__ == "asyncactors.compat.ray"
    assert ray.cluster_resources()["CPU"] == 1
    c = Counter.remote()
    assert ray.get([c.incr.remote(), c.incr.remote()]) == [1, 2]
    with pytest.raises(RayTaskError):
        ray.get(c.fail.remote())


@pytest.mark.parametrize("ray_start_regular", [{"num_cpus": 3}], indirect=True)
def test_fixture_parameters_reach_init(ray_start_regular):
    assert ray.cluster_resources()["CPU"] == 3


# Before the module-scoped fixture starts Ray for the rest of the module.
def test_shutdown_only(shutdown_only):
    ray.init(num_cpus=2)
    pool = ActorPool([Counter.remote() for _ in range(2)])
    assert sorted(pool.map_unordered(lambda a, _: a.incr.remote(), range(2))) == [1, 1]
    assert ray.get(square.remote(7)) == 49


def test_shared_first(ray_start_regular_shared):
    Counter.options(name="shared").remote()


def test_shared_second(ray_start_regular_shared):
    assert ray.get(ray.get_actor("shared").incr.remote()) == 1


def test_ray_test_helpers_import_from_their_ray_paths():
    from ray._common.test_utils import SignalActor, wait_for_condition
    from ray._private.test_utils import wait_for_condition as old_path

    assert old_path is wait_for_condition
    assert SignalActor.__module__.startswith("asyncactors.compat.ray")


def test_missing_ray_library_names_itself():
    with pytest.raises(ModuleNotFoundError, match="ray.data"):
        import ray.data  # noqa: F401
"""


@pytest.fixture(autouse=True)
def _no_ray_left(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASYNCACTORS_RAY_IN_PROCESS", raising=False)


def _check_outcome(result: pytest.RunResult) -> None:
    result.assert_outcomes(passed=8)
    # The redirection ends with the inner session.
    assert "ray" not in sys.modules or "compat" not in getattr(sys.modules["ray"], "__name__", "")


INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
"""


def test_option_runs_a_ray_test_suite_in_process(pytester: pytest.Pytester) -> None:
    """--ray-in-process makes `import ray` (even in conftest.py) give the compat module."""
    pytester.makeini(INI)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_ray_suite=RAY_TESTS)
    _check_outcome(pytester.runpytest("--ray-in-process", *QUIET))


def test_environment_variable_runs_a_ray_test_suite_in_process(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ASYNCACTORS_RAY_IN_PROCESS=1 does what the option does."""
    monkeypatch.setenv("ASYNCACTORS_RAY_IN_PROCESS", "1")
    pytester.makeini(INI)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_ray_suite=RAY_TESTS)
    _check_outcome(pytester.runpytest(*QUIET))


def test_bad_environment_value_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value other than 0/1 for the variable stops the session with its name."""
    monkeypatch.setenv("ASYNCACTORS_RAY_IN_PROCESS", "maybe")
    pytester.makeini(INI)
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest(*QUIET)
    result.stderr.fnmatch_lines(["*ASYNCACTORS_RAY_IN_PROCESS must be 1 or 0*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_option_is_listed_in_help(pytester: pytest.Pytester) -> None:
    """pytest --help shows the option."""
    pytester.makeini(INI)
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--ray-in-process*"])
