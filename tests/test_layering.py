"""Imports run one way: from the front end down to the protocols, leaf modules and engines.

Every import counts, at module level, inside functions and under
``if TYPE_CHECKING:``: a module may import only from its own layer's lower
modules or from layers below it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "asyncactors"

# Lowest first. Within a layer, a module may import those listed before it.
LAYERS: list[list[str]] = [
    # L0: leaves. _speedups is the optional C base of ObjectRef (_speedups.c, imported by _ref).
    [
        "_exceptions",
        "_backoff",
        "_types",
        "_info",
        "_stuck",
        "_signature",
        "_mailbox",
        "_state",
        "_tools",
        "_speedups",
    ],
    # L1: refs, specs, options, context variables, events, stores, records of metrics.
    ["_options", "_ref", "_stream", "_metrics", "_specs", "_stores", "_context", "_events"],
    # L2: the seam.
    ["_protocols"],
    # L3: the engines and supervision.
    [
        "_resources",
        "_retired",
        "_statistics",
        "_watchdog",
        "_supervisor",
        "_backends",
        "_backends._waiters",
        "_backends._supervised",
        "_backends._local.common",
        "_backends._local.call",
        "_backends._local.timed",
        "_backends._local.base",
        "_backends._local.batch_lane",
        "_backends._local.batch",
        "_backends._local.deadlock",
        "_backends._local.stream",
        "_backends._local.dispatch",
        "_backends._local.lifecycle",
        "_backends._local.restart",
        "_backends._local.checkpoint",
        "_backends._local.core",
        "_backends._local.tasks",
        "_backends._local",
    ],
    # L4: the host system and the caller's side.
    ["_handle", "_system"],
    # L5: declaring actors and the module functions.
    ["_batch", "_actor_class", "_api", "_runtime", "_pool", "_sync"],
    # The Ray engine. Only get_backend("ray") imports it, by name; it sits above
    # the front end because each actor's process runs the actor in a local
    # system of its own (_host), and unpickled handles need ClassSpecs built
    # as @remote builds them.
    [
        "_backends._ray._session",
        "_backends._ray._refs",
        "_backends._ray._common",
        "_backends._ray._options",
        "_backends._ray._calls",
        "_backends._ray._caller",
        "_backends._ray._sending",
        "_backends._ray._remote",
        "_backends._ray._core",
        "_backends._ray._backend",
        "_backends._ray._host",
        "_backends._ray",
    ],
    # L6: the public surface and tools. asyncactors.compat.ray (Ray's API on the
    # front end) sits below the pytest plugin, which redirects `import ray` to it.
    [
        "__init__",
        "load",
        "prometheus",
        "otel",
        "dashboard",
        "_cli",
        "_cli.__main__",
        "__main__",
        "compat",
        "compat._ray_fixtures",
        "compat.ray.exceptions",
        "compat.ray._serialization",
        "compat.ray._driver",
        "compat.ray._refs",
        "compat.ray._worker",
        "compat.ray._exec",
        "compat.ray.actor",
        "compat.ray.remote_function",
        "compat.ray.util.scheduling_strategies",
        "compat.ray._api",
        "compat.ray.runtime_context",
        "compat.ray.util.placement_group",
        "compat.ray.util.actor_pool",
        "compat.ray.util",
        "compat.ray._common.test_utils",
        "compat.ray._common",
        "compat.ray._private.test_utils",
        "compat.ray._private",
        "compat.ray._alias",
        "compat.ray",
        "testing",
        "mypy",
        "integrations",
    ],
]

RANK = {name: (i, j) for i, layer in enumerate(LAYERS) for j, name in enumerate(layer)}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _ranked(name: str) -> str | None:
    """The entry of LAYERS that ``name`` (a module of the package) falls under."""
    while name:
        if name in RANK:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of the package's own modules in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module_name(path).split(".")
    is_pkg = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_pkg else here[:-1]
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join([*base, node.module] if node.module else base)
                if node.module:
                    found.append((node.lineno, target))
                else:  # from . import x: the submodules named
                    found.extend((node.lineno, f"{target}.{a.name}") for a in node.names)
            elif node.module and node.module.startswith("asyncactors"):
                found.append((node.lineno, node.module.removeprefix("asyncactors").lstrip(".")))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("asyncactors."):
                    found.append((node.lineno, alias.name.removeprefix("asyncactors.")))
    return [(line, name) for line, name in found if name]


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_module_has_a_layer() -> None:
    """Each module of the package is placed in LAYERS, so the check below covers it."""
    unplaced = [
        _module_name(p) or "__init__"
        for p in _sources()
        if _ranked(_module_name(p) or "__init__") is None
    ]
    assert unplaced == []


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_one_way(path: Path) -> None:
    """The module imports only from lower layers, or from earlier modules of its own."""
    me = _ranked(_module_name(path) or "__init__")
    assert me is not None
    upward = []
    for line, target in _imports(path):
        other = _ranked(target)
        if other is None or other == me or (other.startswith(me + ".") and me != "__init__"):
            continue
        if RANK[other] >= RANK[me]:
            upward.append(f"line {line}: {target} ({other} is not below {me})")
    assert upward == []
