"""mypy plugin: ``@asyncactors.remote`` classes get typed ``remote()`` and ``options()``.

mypy ignores what a class decorator returns, so without this plugin it keeps
seeing an ``@remote`` class as the plain class and rejects ``Counter.remote()``.
The plugin gives such a class a ``remote`` classmethod with ``__init__``'s
parameters that returns ``ActorHandle[Counter]``, and an ``options`` classmethod
that returns ``ActorClass[Counter]``. Enable it in the mypy configuration::

    [tool.mypy]
    plugins = ["asyncactors.mypy"]
"""

from __future__ import annotations

from collections.abc import Callable

from mypy.nodes import ARG_STAR, ARG_STAR2, Argument, Var
from mypy.plugin import ClassDefContext, Plugin
from mypy.plugins.common import add_method_to_class
from mypy.typeops import bind_self
from mypy.types import AnyType, CallableType, Instance, TypeOfAny, get_proper_type

__all__ = ["plugin"]

_REMOTE = frozenset({"asyncactors.remote", "asyncactors._actor_class.remote"})


def _constructor_arguments(ctx: ClassDefContext) -> list[Argument] | None:
    init = ctx.cls.info.get_method("__init__")
    if init is None or init.type is None:
        return None
    signature = get_proper_type(init.type)
    if not isinstance(signature, CallableType):
        return None
    bound = bind_self(signature)
    arguments = []
    for name, kind, typ in zip(bound.arg_names, bound.arg_kinds, bound.arg_types, strict=True):
        arguments.append(Argument(Var(name or "_", typ), typ, None, kind))
    return arguments


def _add_actor_class_methods(ctx: ClassDefContext) -> bool:
    info = ctx.cls.info
    arguments = _constructor_arguments(ctx)
    if arguments is None:
        if not ctx.api.final_iteration:
            return False  # __init__ is not analysed yet: ask to be called again
        unknown = AnyType(TypeOfAny.special_form)
        arguments = [
            Argument(Var("args", unknown), unknown, None, ARG_STAR),
            Argument(Var("kwargs", unknown), unknown, None, ARG_STAR2),
        ]
    instance = Instance(info, [])
    handle = ctx.api.named_type("asyncactors._handle.ActorHandle", [instance])
    actor_class = ctx.api.named_type("asyncactors._actor_class.ActorClass", [instance])
    add_method_to_class(ctx.api, ctx.cls, "remote", arguments, handle, is_classmethod=True)
    any_type = AnyType(TypeOfAny.explicit)
    options = [Argument(Var("options", any_type), any_type, None, ARG_STAR2)]
    add_method_to_class(ctx.api, ctx.cls, "options", options, actor_class, is_classmethod=True)
    return True


class _AsyncActorsPlugin(Plugin):
    def get_class_decorator_hook_2(self, fullname: str) -> Callable[[ClassDefContext], bool] | None:
        return _add_actor_class_methods if fullname in _REMOTE else None


def plugin(version: str) -> type[Plugin]:
    """mypy's entry point."""
    return _AsyncActorsPlugin
