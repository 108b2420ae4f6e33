"""Making ``import ray`` give ``asyncactors.compat.ray``, for a whole test session."""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Final

__all__ = ["install_as_ray", "installed", "uninstall"]

_TARGET: Final = "asyncactors.compat.ray"


# The finder and the loader are the protocols' duck types, not subclasses of
# importlib.abc's classes: importing that module would cost more than the rest
# of this one (importlib.resources comes with it).
class _Loader:
    def __init__(self, module: ModuleType) -> None:
        self._module = module

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return self._module

    def exec_module(self, module: ModuleType) -> None:
        pass  # already imported under its own name

    def load_module(self, fullname: str) -> ModuleType:
        """The loaders' older API, which ``importlib.abc.Loader`` would provide."""
        sys.modules[fullname] = self._module
        return self._module


class RayAlias:
    """Finds ``ray`` and ``ray.x.y`` as ``asyncactors.compat.ray`` and its submodules."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "ray" and not fullname.startswith("ray."):
            return None
        real = _TARGET + fullname[3:]
        try:
            module = importlib.import_module(real)
        except ModuleNotFoundError as exc:
            if exc.name is None or not real.startswith(exc.name):
                raise
            # Not the real Ray's either: mixing the two cannot work.
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: `import ray` gives asyncactors.compat.ray in "
                f"this session (--ray-in-process or ASYNCACTORS_RAY_IN_PROCESS=1), which has "
                "Ray's core API (actors, tasks, ray.util, ray.exceptions) but not "
                f"{fullname}",
                name=fullname,
            ) from None
        return importlib.util.spec_from_loader(fullname, _Loader(module))


def installed() -> bool:
    """Whether ``import ray`` gives this module."""
    return any(isinstance(f, RayAlias) for f in sys.meta_path)


def install_as_ray() -> None:
    """Make ``import ray`` (and ``import ray.util`` ...) give ``asyncactors.compat.ray``.

    Modules of a real Ray already imported are forgotten, so that later
    imports see this one. Idempotent.
    """
    if installed():
        return
    for name in [n for n in sys.modules if n == "ray" or n.startswith("ray.")]:
        del sys.modules[name]
    sys.meta_path.insert(0, RayAlias())
    sys.modules["ray"] = importlib.import_module(_TARGET)


def uninstall() -> None:
    """Undo ``install_as_ray()``."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, RayAlias)]
    for name in [n for n in sys.modules if n == "ray" or n.startswith("ray.")]:
        del sys.modules[name]
