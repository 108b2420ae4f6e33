"""mypy plugin: typed actor classes and typed calls through handles.

mypy ignores what a class decorator returns, so without this plugin it keeps
seeing an ``@remote`` class as the plain class and rejects ``Counter.remote()``.
The plugin gives such a class a ``remote`` classmethod with ``__init__``'s
parameters that returns ``ActorHandle[Counter]``, and an ``options`` classmethod
that returns ``ActorClass[Counter]``.

It also types ``handle.name`` on an ``ActorHandle[Counter]``: ``Counter.name``'s
parameters (without ``self``; each may also be an ``ObjectRef`` of its type,
which the actor resolves before the call) and result (awaited, for an async
method) make it an ``ActorMethod[[params], result]``, so mypy itself checks
``.remote()``, ``.submit()``, ``.submit_nowait()`` and ``.options()``. A
generator method is a ``StreamMethod[[params], item]`` (``.remote()`` gives a
``StreamRef[item]``), and one declared with ``@asyncactors.method(num_returns=N)``
a ``MultiReturnMethod`` (``.remote()`` gives a list of refs). A batched method
(``@asyncactors.batch``) takes one item and gives one result (an exception type
among the results' fails the item instead). A name that is not a public method
of the class is an error, as it is at run time.
Enable it in the mypy configuration::

    [tool.mypy]
    plugins = ["asyncactors.mypy"]
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from functools import partial
from typing import Final, cast

from mypy.checker import TypeChecker
from mypy.errorcodes import ATTR_DEFINED
from mypy.expandtype import expand_type_by_instance
from mypy.nodes import (
    ARG_POS,
    ARG_STAR,
    ARG_STAR2,
    Argument,
    Decorator,
    FuncDef,
    OverloadedFuncDef,
    SymbolNode,
    TypeInfo,
    Var,
)
from mypy.plugin import AttributeContext, ClassDefContext, Plugin
from mypy.plugins.common import add_method_to_class
from mypy.subtypes import find_member
from mypy.typeops import bind_self
from mypy.types import (
    AnyType,
    CallableType,
    Instance,
    Parameters,
    ProperType,
    Type,
    TypeOfAny,
    UnionType,
    get_proper_type,
)

__all__ = ["plugin"]

_REMOTE = frozenset({"asyncactors.remote", "asyncactors._actor_class.remote"})
_HANDLE: Final = "asyncactors._handle.ActorHandle"
# Looked up by the type checker through the package's own names.
_ACTOR_METHOD: Final = "asyncactors.ActorMethod"
_OBJECT_REF: Final = "asyncactors.ObjectRef"
_HANDLE_MODULE: Final = "asyncactors._handle"
_METHOD_DEF: Final = "asyncactors._actor_class.MethodDef"
_MULTI_METHOD_DEF: Final = "asyncactors._actor_class.MultiMethodDef"
# The declared results of generator functions whose first argument is the item.
_ITERATORS = frozenset(
    f"{module}.{name}"
    for module in ("typing", "collections.abc")
    for name in (
        "Generator",
        "Iterator",
        "Iterable",
        "AsyncGenerator",
        "AsyncIterator",
        "AsyncIterable",
    )
)
_BATCH_METHOD: Final = "asyncactors._batch.BatchMethod"
_COROUTINE: Final = "typing.Coroutine"


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
    handle = ctx.api.named_type(_HANDLE, [instance])
    actor_class = ctx.api.named_type("asyncactors._actor_class.ActorClass", [instance])
    add_method_to_class(ctx.api, ctx.cls, "remote", arguments, handle, is_classmethod=True)
    any_type = AnyType(TypeOfAny.explicit)
    options = [Argument(Var("options", any_type), any_type, None, ARG_STAR2)]
    add_method_to_class(ctx.api, ctx.cls, "options", options, actor_class, is_classmethod=True)
    return True


# -- handle.name ------------------------------------------------------------------


def _is_actor_method(node: SymbolNode | None) -> bool:
    """Whether ``node``, a class attribute, is a method of the actor at run time.

    The actor's methods are its class's plain functions (``_build_spec``):
    not static or class methods, properties or other attributes.
    """
    if isinstance(node, FuncDef):
        return not (node.is_static or node.is_class or node.is_property)
    if isinstance(node, OverloadedFuncDef):
        first = node.items[0] if node.items else None
        return not node.is_property and not (
            isinstance(first, Decorator) and (first.func.is_static or first.func.is_class)
        )
    if isinstance(node, Decorator):
        if node.func.is_static or node.func.is_class or node.func.is_property:
            return False
        typ = get_proper_type(node.var.type)
        # Other decorators may return anything; give the benefit of the doubt
        # unless the result is clearly an object rather than a function.
        return (
            not isinstance(typ, Instance)
            or typ.type.has_base(_METHOD_DEF)
            or typ.type.fullname == _BATCH_METHOD
        )
    if isinstance(node, Var):
        typ = get_proper_type(node.type)
        return node.is_initialized_in_class and isinstance(typ, CallableType | AnyType)
    return False


def _actor_method_names(info: TypeInfo) -> list[str]:
    names = {
        name
        for base in info.mro
        if base.fullname != "builtins.object"
        for name, symbol in base.names.items()
        if not name.startswith("_") and _is_actor_method(symbol.node)
    }
    return sorted(names)


def _function(node: SymbolNode | None) -> FuncDef | None:
    if isinstance(node, FuncDef):
        return node
    if isinstance(node, Decorator):
        return node.func
    return None


def _result_type(node: SymbolNode | None, ret: Type) -> Type:
    """What awaiting the ref gives: an ``async def`` method's coroutine result."""
    func = _function(node)
    proper = get_proper_type(ret)
    if (
        func is not None
        and func.is_coroutine
        and not func.is_async_generator
        and isinstance(proper, Instance)
        and proper.type.fullname == _COROUTINE
        and len(proper.args) == 3
    ):
        return proper.args[2]
    return ret


def _item_type(ret: Type) -> Type:
    """What a generator method yields, from its declared result (Any if undeclared)."""
    proper = get_proper_type(ret)
    if isinstance(proper, Instance) and proper.type.fullname in _ITERATORS and proper.args:
        return proper.args[0]
    return AnyType(TypeOfAny.unannotated if isinstance(proper, AnyType) else TypeOfAny.special_form)


def _returns_many(node: SymbolNode | None) -> bool:
    """Whether ``@asyncactors.method(num_returns=N)``, N > 1, declares the method.

    Read from the decorated type, which mypy's cache keeps, not from the decorator's
    arguments, which it does not.
    """
    if not isinstance(node, Decorator):
        return False
    typ = get_proper_type(node.var.type)
    return isinstance(typ, Instance) and typ.type.has_base(_MULTI_METHOD_DEF)


def _accepting_refs(ctx: AttributeContext, typ: Type) -> Type:
    if isinstance(get_proper_type(typ), AnyType):
        return typ
    return UnionType.make_union([typ, ctx.api.named_generic_type(_OBJECT_REF, [typ])])


def _without_exceptions(typ: Type) -> Type:
    """``typ`` without the exception types of a union: those fail the item, not return."""
    proper = get_proper_type(typ)
    if not isinstance(proper, UnionType):
        return typ
    kept = []
    for item in proper.items:
        p = get_proper_type(item)
        if not (isinstance(p, Instance) and p.type.has_base("builtins.BaseException")):
            kept.append(item)
    return UnionType.make_union(kept) if kept else typ


def _batched_method_type(
    ctx: AttributeContext, actor: Instance, node: Decorator, declared: Instance
) -> Type:
    """A batched method's ``ActorMethod``: one item in (or a ref of one), one result out."""
    # The class's type variables, as the handle's type argument binds them.
    batch = get_proper_type(expand_type_by_instance(declared, actor))
    assert isinstance(batch, Instance)
    _, item, result, _ = batch.args
    names = node.func.arg_names
    name = names[1] if len(names) == 2 else None
    params = Parameters([_accepting_refs(ctx, item)], [ARG_POS], [name])
    return ctx.api.named_generic_type(_ACTOR_METHOD, [params, _without_exceptions(result)])


def _remote_method_type(
    ctx: AttributeContext, actor: Instance, name: str, node: SymbolNode | None
) -> Type:
    if isinstance(node, Decorator):
        declared = get_proper_type(node.var.type)
        if isinstance(declared, Instance) and declared.type.fullname == _BATCH_METHOD:
            return _batched_method_type(ctx, actor, node, declared)
    member = get_proper_type(find_member(name, actor, actor))
    if not isinstance(member, CallableType):
        return ctx.default_attr_type  # overloaded or untyped: arguments unchecked
    params = Parameters(
        [_accepting_refs(ctx, typ) for typ in member.arg_types],
        member.arg_kinds,
        member.arg_names,
        variables=member.variables,
    )
    func = _function(node)
    if func is not None and (func.is_generator or func.is_async_generator):
        return _handle_type(ctx, "StreamMethod", [params, _item_type(member.ret_type)])
    result = _result_type(node, member.ret_type)
    if _returns_many(node):
        return _handle_type(ctx, "MultiReturnMethod", [params, result])
    return ctx.api.named_generic_type(_ACTOR_METHOD, [params, result])


def _handle_type(ctx: AttributeContext, name: str, args: list[Type]) -> Type:
    """``asyncactors._handle.<name>[args]``, a class the package does not export.

    ``named_generic_type`` finds only names a package's top module has.
    """
    checker = cast(TypeChecker, ctx.api)
    symbol = checker.modules[_HANDLE_MODULE].names.get(name)
    if symbol is None or not isinstance(symbol.node, TypeInfo):
        return ctx.default_attr_type
    return Instance(symbol.node, args)


def _handle_attribute(name: str, ctx: AttributeContext) -> Type:
    handle: ProperType = ctx.type
    if not isinstance(handle, Instance) or handle.type.fullname != _HANDLE:
        return ctx.default_attr_type
    if handle.type.get(name) is not None:
        return ctx.default_attr_type  # the handle's own attribute, e.g. _core
    actor = get_proper_type(handle.args[0]) if handle.args else None
    if not isinstance(actor, Instance):
        return ctx.default_attr_type  # ActorHandle[Any]: nothing to check against
    info = actor.type
    if name.startswith("_"):
        ctx.api.fail(
            f'"{name}" is private: methods whose names start with "_" cannot be called '
            f"on a {info.name} actor",
            ctx.context,
            code=ATTR_DEFINED,
        )
        return AnyType(TypeOfAny.from_error)
    symbol = info.get(name)
    node = symbol.node if symbol is not None else None
    if not _is_actor_method(node):
        close = difflib.get_close_matches(name, _actor_method_names(info), n=3)
        hint = "; did you mean " + " or ".join(f'"{c}"' for c in close) + "?" if close else ""
        ctx.api.fail(
            f'{info.name} actor has no method "{name}"{hint}', ctx.context, code=ATTR_DEFINED
        )
        return AnyType(TypeOfAny.from_error)
    return _remote_method_type(ctx, actor, name, node)


class _AsyncActorsPlugin(Plugin):
    def get_class_decorator_hook_2(self, fullname: str) -> Callable[[ClassDefContext], bool] | None:
        return _add_actor_class_methods if fullname in _REMOTE else None

    def get_attribute_hook(self, fullname: str) -> Callable[[AttributeContext], Type] | None:
        # mypy asks with the class that defines __getattr__, ActorHandle, for every
        # name that the handle's class itself lacks.
        owner, _, name = fullname.rpartition(".")
        return partial(_handle_attribute, name) if owner == _HANDLE else None


def plugin(version: str) -> type[Plugin]:
    """mypy's entry point."""
    return _AsyncActorsPlugin
