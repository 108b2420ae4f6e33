"""Type checking: mypy (with asyncactors.mypy) and pyright on right and wrong code.

Each checker runs once, over all of its snippets, in a module-scoped fixture. A
snippet states what the checker must report on a line with a trailing comment:
``# E: message`` for an error, ``# N: message`` for a note (mypy) or an
information (pyright), such as ``reveal_type``'s. A test asserts that the
checker reports exactly those, line for line, and nothing else.
"""

# The snippets quote the checkers' messages whole, however long.
# ruff: noqa: E501

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A cold mypy run analyses asyncactors and the standard library's stubs first.
pytestmark = pytest.mark.timeout(120)

ACTORS = """\
from collections.abc import AsyncIterator, Iterator
from typing import Generic, TypeVar

import asyncactors

T = TypeVar("T")


@asyncactors.remote(concurrency_groups={"io": 2})
class Counter:
    def __init__(self, n: int = 0) -> None:
        self.n = n

    def incr(self, k: int) -> int:
        self.n += k
        return self.n

    async def fetch(self, key: str, *, default: int = 0) -> int:
        return self.n or default

    @asyncactors.method
    def add(self, k: int) -> int:
        return self.incr(k)

    @asyncactors.method(concurrency_group="io")
    async def label(self, k: int) -> str:
        return str(self.add(k))

    def echo(self, x: T) -> T:
        return x

    @staticmethod
    def helper() -> int:
        return 1

    @property
    def size(self) -> int:
        return self.n

    def _secret(self) -> None: ...


@asyncactors.remote(max_concurrency=3)
class NoInit:
    async def go(self) -> None: ...


@asyncactors.remote
class Box(Generic[T]):
    def __init__(self, value: T) -> None:
        self.value = value

    def get(self) -> T:
        return self.value

    @asyncactors.batch
    def put_all(self, values: list[T]) -> list[bool]:
        return [v == self.value for v in values]


@asyncactors.remote
class Tokens:
    async def generate(self, prompt: str) -> AsyncIterator[str]:
        yield prompt

    def count(self, n: int) -> Iterator[int]:
        yield n

    @asyncactors.method(stream_buffer=4)
    async def words(self, text: str) -> AsyncIterator[str]:
        yield text

    @asyncactors.method(num_returns=2)
    def pair(self) -> tuple[int, str]:
        return 1, "a"


@asyncactors.remote(concurrency_groups={"io": 2})
class Embedder:
    def __init__(self) -> None:
        self.embed.set_max_batch_size(16)
        self.embed.set_batch_wait_timeout_s(0.002)

    @asyncactors.batch(max_batch_size=8, batch_wait_timeout_s=0.001)
    async def embed(self, texts: list[str]) -> list[list[float]]:
        return [[float(len(t))] for t in texts]

    @asyncactors.batch
    def parse(self, texts: list[str]) -> list[int | ValueError]:
        return [int(t) if t.isdigit() else ValueError(t) for t in texts]

    @asyncactors.method(concurrency_group="io")
    @asyncactors.batch
    def count(self, items: list[bytes]) -> list[int]:
        return self.lengths(items)

    def lengths(self, items: list[bytes]) -> list[int]:
        return [len(i) for i in items]

    async def direct(self) -> list[list[float]]:
        return await self.embed(["a", "b"])

    @asyncactors.method
    async def tokens(self, text: str) -> AsyncIterator[str]:
        yield text

    @asyncactors.method(num_returns=2)
    def halves(self, text: str) -> tuple[str, str]:
        return text[:1], text[1:]
"""

# Inside an actor, a decorated method is the function it decorates.
LOCAL_ACTOR = """\
class Local:
    @asyncactors.method
    def twice(self, k: int) -> int:
        return 2 * k

    @asyncactors.method
    async def later(self, k: int) -> int:
        return self.twice(k)

    async def use(self) -> None:
        reveal_type(self.twice(1))  # N: {twice}
        reveal_type(await self.later(1))  # N: {later}
"""

MYPY_RIGHT = """\
import asyncactors
from actors import Box, Counter, Embedder, NoInit, Tokens
from asyncactors import ActorHandle, ObjectRef


async def batched(box: ActorHandle[Box[str]], text: ObjectRef[str]) -> None:
    e = Embedder.remote()
    reveal_type(e.embed)  # N: Revealed type is "asyncactors._handle.ActorMethod[[texts: str | asyncactors._ref.ObjectRef[str]], list[float]]"
    reveal_type(await e.embed.remote("hello"))  # N: Revealed type is "list[float]"
    await e.embed.remote(text)
    reveal_type(await e.parse.remote("1"))  # N: Revealed type is "int"
    reveal_type(await e.count.submit(b"x"))  # N: Revealed type is "asyncactors._ref.ObjectRef[int]"
    reveal_type(await box.put_all.remote("s"))  # N: Revealed type is "bool"
    reveal_type(await asyncactors.typed(e).embed.remote("x"))  # N: Revealed type is "list[float]"
    reveal_type(e.tokens.remote("a"))  # N: Revealed type is "asyncactors._stream.StreamRef[str]"
    reveal_type(e.halves.remote("ab"))  # N: Revealed type is "list[asyncactors._ref.ObjectRef[Any]]"


async def main(ref: ObjectRef[int], box: ActorHandle[Box[str]]) -> None:
    reveal_type(Counter.remote(1))  # N: Revealed type is "asyncactors._handle.ActorHandle[actors.Counter]"
    reveal_type(Counter.options(name="c"))  # N: Revealed type is "asyncactors._actor_class.ActorClass[actors.Counter]"
    c = Counter.remote()
    reveal_type(c.incr)  # N: Revealed type is "asyncactors._handle.ActorMethod[[k: int | asyncactors._ref.ObjectRef[int]], int]"
    reveal_type(await c.incr.remote(1))  # N: Revealed type is "int"
    await c.incr.remote(k=1)
    await c.incr.remote(ref)
    reveal_type(await c.fetch.remote("a", default=2))  # N: Revealed type is "int"
    reveal_type(await c.add.remote(1))  # N: Revealed type is "int"
    reveal_type(await c.label.remote(1))  # N: Revealed type is "str"
    reveal_type(await c.echo.remote("s"))  # N: Revealed type is "str"
    reveal_type(c.incr.submit)  # N: Revealed type is "def (k: int | asyncactors._ref.ObjectRef[int]) -> typing.Coroutine[Any, Any, asyncactors._ref.ObjectRef[int]]"
    reveal_type(await c.incr.submit(1))  # N: Revealed type is "asyncactors._ref.ObjectRef[int]"
    reveal_type(c.incr.submit_nowait(1))  # N: Revealed type is "asyncactors._ref.ObjectRef[int]"
    reveal_type(c.incr.options(concurrency_group="io"))  # N: Revealed type is "asyncactors._handle.ActorMethod[[k: int | asyncactors._ref.ObjectRef[int]], int]"
    reveal_type(await Counter.options(name="c").remote().label.remote(2))  # N: Revealed type is "str"
    reveal_type(await NoInit.remote().go.remote())  # N: Revealed type is "None"
    reveal_type(await box.get.remote())  # N: Revealed type is "str"
    anyone = asyncactors.get_actor("any")
    reveal_type(await anyone.whatever.remote(1, x=2))  # N: Revealed type is "Any"
    reveal_type(await asyncactors.typed(c).add.remote(1))  # N: Revealed type is "int"
    await c.monitor()
    t = Tokens.remote()
    reveal_type(t.generate)  # N: Revealed type is "asyncactors._handle.StreamMethod[[prompt: str | asyncactors._ref.ObjectRef[str]], str]"
    reveal_type(t.generate.remote("hi"))  # N: Revealed type is "asyncactors._stream.StreamRef[str]"
    async for token in t.generate.remote("hi"):
        reveal_type(token)  # N: Revealed type is "str"
    reveal_type(await t.count.remote(3))  # N: Revealed type is "list[int]"
    reveal_type(await t.words.options(stream_buffer=2).remote("a b"))  # N: Revealed type is "list[str]"
    reveal_type(t.pair.remote())  # N: Revealed type is "list[asyncactors._ref.ObjectRef[Any]]"
    reveal_type(asyncactors.typed(t).words.remote("a"))  # N: Revealed type is "asyncactors._stream.StreamRef[str]"


async def gathered(ints: list[ObjectRef[int]], text: ObjectRef[str]) -> None:
    reveal_type(await asyncactors.get(ints))  # N: Revealed type is "list[int]"
    reveal_type(await asyncactors.get([ints[0], text]))  # N: Revealed type is "list[object]"
    reveal_type(await asyncactors.wait(ints))  # N: Revealed type is "tuple[list[asyncactors._ref.ObjectRef[int]], list[asyncactors._ref.ObjectRef[int]]]"
    reveal_type(asyncactors.get_sync(ints))  # N: Revealed type is "list[int]"


""" + LOCAL_ACTOR.format(twice='Revealed type is "int"', later='Revealed type is "int"')

MYPY_WRONG = """\
from actors import Counter, Embedder, NoInit, Tokens
from asyncactors import ObjectRef


async def main() -> None:
    e = Embedder.remote()
    await e.embed.remote(["a", "b"])  # E: Argument 1 to "remote" of "ActorMethod" has incompatible type "list[str]"; expected "str | ObjectRef[str]"  [arg-type]
    await e.embed.remote("a", "b")  # E: Too many arguments for "remote" of "ActorMethod"  [call-arg]
    n: str = await e.count.remote(b"x")  # E: Incompatible types in assignment (expression has type "int", variable has type "str")  [assignment]
    c = Counter.remote()
    Counter.remote("x")  # E: Argument 1 to "remote" of "Counter" has incompatible type "str"; expected "int"  [arg-type]
    NoInit.remote(1)  # E: Too many arguments for "remote" of "NoInit"  [call-arg]
    await c.incr.remote("x")  # E: Argument 1 to "remote" of "ActorMethod" has incompatible type "str"; expected "int | ObjectRef[int]"  [arg-type]
    await c.incr.remote(1, 2)  # E: Too many arguments for "remote" of "ActorMethod"  [call-arg]
    await c.fetch.remote("a", dflt=1)  # E: Unexpected keyword argument "dflt" for "remote" of "ActorMethod"  [call-arg]  # N: "remote" defined in "asyncactors._handle"
    await c.add.remote("x")  # E: Argument 1 to "remote" of "ActorMethod" has incompatible type "str"; expected "int | ObjectRef[int]"  [arg-type]
    text: str = await c.incr.remote(1)  # E: Incompatible types in assignment (expression has type "int", variable has type "str")  [assignment]
    await c.incr.submit("x")  # E: Argument 1 to "submit" of "ActorMethod" has incompatible type "str"; expected "int | ObjectRef[int]"  [arg-type]
    c.incr.options(concurrency_group="io").submit_nowait()  # E: Missing positional argument "k" in call to "submit_nowait" of "ActorMethod"  [call-arg]
    c.incr(1)  # E: "ActorMethod[[int | ObjectRef[int]], int]" not callable  [operator]
    c.icnr.remote(1)  # E: Counter actor has no method "icnr"; did you mean "incr"?  [attr-defined]
    c._secret.remote()  # E: "_secret" is private: methods whose names start with "_" cannot be called on a Counter actor  [attr-defined]
    c.helper.remote()  # E: Counter actor has no method "helper"  [attr-defined]
    c.size.remote()  # E: Counter actor has no method "size"  [attr-defined]
    c.n.remote()  # E: Counter actor has no method "n"  [attr-defined]
    t = Tokens.remote()
    t.generate.remote(1)  # E: Argument 1 to "remote" of "StreamMethod" has incompatible type "int"; expected "str | ObjectRef[str]"  [arg-type]
    items: list[str] = await t.count.remote(2)  # E: Incompatible types in assignment (expression has type "list[int]", variable has type "list[str]")  [assignment]
    t.generate.remote("x").result()  # E: "StreamRef[str]" has no attribute "result"  [attr-defined]
    whole: ObjectRef[int] = t.pair.remote()  # E: Incompatible types in assignment (expression has type "list[ObjectRef[Any]]", variable has type "ObjectRef[int]")  [assignment]
"""

PYRIGHT_RIGHT = """\
import asyncactors
from actors import Counter, Embedder, Tokens


async def batched() -> None:
    e = asyncactors.typed(Embedder.remote())
    reveal_type(e.embed)  # N: Type of "e.embed" is "ActorMethod[(str), list[float]]"
    reveal_type(await e.embed.remote("hello"))  # N: Type of "await e.embed.remote("hello")" is "list[float]"
    reveal_type(await e.count.remote(b"x"))  # N: Type of "await e.count.remote(b"x")" is "int"
    reveal_type(e.tokens.remote("a"))  # N: Type of "e.tokens.remote("a")" is "StreamRef[str]"
    reveal_type(e.halves.remote("ab"))  # N: Type of "e.halves.remote("ab")" is "list[ObjectRef[Any]]"


async def main() -> None:
    c = Counter.remote()
    m = asyncactors.typed(c)
    reveal_type(m.add)  # N: Type of "m.add" is "ActorMethod[(k: int), int]"
    reveal_type(await m.add.remote(1))  # N: Type of "await m.add.remote(1)" is "int"
    reveal_type(await m.add.remote(k=1))  # N: Type of "await m.add.remote(k=1)" is "int"
    reveal_type(await m.label.remote(1))  # N: Type of "await m.label.remote(1)" is "str"
    reveal_type(m.add.submit(1))  # N: Type of "m.add.submit(1)" is "CoroutineType[Any, Any, ObjectRef[int]]"
    reveal_type(m.add.submit_nowait(1))  # N: Type of "m.add.submit_nowait(1)" is "ObjectRef[int]"
    reveal_type(m.label.options(concurrency_group="io"))  # N: Type of "m.label.options(concurrency_group="io")" is "ActorMethod[(k: int), str]"
    reveal_type(c.incr)  # N: Type of "c.incr" is "ActorMethod[..., Any]"
    reveal_type(await c.incr.remote("unchecked"))  # N: Type of "await c.incr.remote("unchecked")" is "Any"
    t = asyncactors.typed(Tokens.remote())
    reveal_type(t.words.remote("a"))  # N: Type of "t.words.remote("a")" is "StreamRef[str]"
    reveal_type(await t.words.remote("a"))  # N: Type of "await t.words.remote("a")" is "list[str]"
    reveal_type(t.pair.remote())  # N: Type of "t.pair.remote()" is "list[ObjectRef[Any]]"


async def gathered(ints: list[asyncactors.ObjectRef[int]]) -> None:
    reveal_type(await asyncactors.get(ints))  # N: Type of "await asyncactors.get(ints)" is "list[int]"
    reveal_type(await asyncactors.wait(ints))  # N: Type of "await asyncactors.wait(ints)" is "tuple[list[ObjectRef[int]], list[ObjectRef[int]]]"


""" + LOCAL_ACTOR.format(
    twice='Type of "self.twice(1)" is "int"', later='Type of "await self.later(1)" is "int"'
)

# Standard mode: strict would add that the results of the failed lines are unknown.
PYRIGHT_WRONG = """\
# pyright: standard
import asyncactors
from actors import Counter, Embedder


async def main() -> None:
    c = Counter.remote()
    m = asyncactors.typed(c)
    await asyncactors.typed(Embedder.remote()).embed.remote(["x"])  # E: Argument of type "list[str]" cannot be assigned to parameter of type "str" in function "remote" (reportArgumentType)
    await m.add.remote("x")  # E: Argument of type "Literal['x']" cannot be assigned to parameter "k" of type "int" in function "remote" (reportArgumentType)
    await m.add.remote(1, 2)  # E: Expected 1 positional argument (reportCallIssue)
    text: str = await m.add.remote(1)  # E: Type "int" is not assignable to declared type "str" (reportAssignmentType)
    m.add(1)  # E: Object of type "ActorMethod[(k: int), int]" is not callable (reportCallIssue)
    m.sub.remote(1)  # E: Cannot access attribute "sub" for class "type[Counter]" (reportAttributeAccessIssue)
    c.incr(1)  # E: Object of type "ActorMethod[..., Any]" is not callable (reportCallIssue)
    c.incr.remot(1)  # E: Cannot access attribute "remot" for class "ActorMethod[..., Any]" (reportAttributeAccessIssue)
"""

_MARK = re.compile(r"#\s*([EN]):\s*(.*?)\s*(?=#\s*[EN]:|$)")
_KIND = {"E": "error", "N": "note"}


@dataclass(frozen=True, order=True)
class Report:
    """One diagnostic: file name, line (1-based), "error" or "note", and message."""

    file: str
    line: int
    kind: str
    message: str


def expected(files: dict[str, str]) -> list[Report]:
    """The reports that the snippets' ``# E:`` and ``# N:`` comments ask for."""
    reports = []
    for name, text in files.items():
        for number, line in enumerate(text.splitlines(), start=1):
            for kind, message in _MARK.findall(line):
                reports.append(Report(name, number, _KIND[kind], message))
    return sorted(reports)


def write(directory: Path, files: dict[str, str]) -> list[str]:
    directory.mkdir()
    for name, text in files.items():
        (directory / name).write_text(text)
    return [str(directory / name) for name in files]


@pytest.fixture(scope="module")
def mypy_reports(tmp_path_factory: pytest.TempPathFactory) -> list[Report]:
    """What mypy with the plugin reports on the mypy snippets."""
    base = tmp_path_factory.mktemp("mypy")
    config = base / "mypy.ini"
    config.write_text(f"[mypy]\nplugins = asyncactors.mypy\nstrict = True\nmypy_path = {ROOT}\n")
    paths = write(base / "src", MYPY_FILES)
    # In a subprocess, not mypy.api in this one: CPython 3.11's ast module can fail
    # ("AST constructor recursion depth mismatch", gh-106905) when a finalizer of a
    # long test session runs during mypy's parse.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(config),
            "--cache-dir",
            str(base / "cache"),
            "--no-error-summary",
            *paths,
        ],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    out, err = done.stdout, done.stderr
    assert err == ""
    reports = []
    for line in out.splitlines():
        match = re.fullmatch(r"(.+?):(\d+): (error|note): (.*)", line)
        assert match, line
        path, number, kind, message = match.groups()
        reports.append(Report(Path(path).name, int(number), kind, message))
    assert {r.file for r in reports} <= set(MYPY_FILES), reports
    return sorted(reports)


@pytest.fixture(scope="module")
def pyright_reports(tmp_path_factory: pytest.TempPathFactory) -> list[Report]:
    """What pyright (strict) reports on the pyright snippets."""
    base = tmp_path_factory.mktemp("pyright")
    config = base / "pyrightconfig.json"
    config.write_text(
        json.dumps(
            {"extraPaths": [str(ROOT)], "pythonVersion": "3.11", "typeCheckingMode": "strict"}
        )
    )
    paths = write(base / "src", PYRIGHT_FILES)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyright",
            "--outputjson",
            "--project",
            str(config),
            "--pythonpath",
            sys.executable,
            *paths,
        ],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.stdout, done.stderr
    reports = []
    for diagnostic in json.loads(done.stdout)["generalDiagnostics"]:
        # The first line states the problem; the rest explains it.
        message = diagnostic["message"].splitlines()[0]
        if "rule" in diagnostic:
            message += f" ({diagnostic['rule']})"
        kind = "note" if diagnostic["severity"] == "information" else diagnostic["severity"]
        line = diagnostic["range"]["start"]["line"] + 1
        reports.append(Report(Path(diagnostic["file"]).name, line, kind, message))
    assert {r.file for r in reports} <= set(PYRIGHT_FILES), reports
    return sorted(reports)


MYPY_FILES = {"actors.py": ACTORS, "mypy_right.py": MYPY_RIGHT, "mypy_wrong.py": MYPY_WRONG}
PYRIGHT_FILES = {
    "actors.py": ACTORS,
    "pyright_right.py": PYRIGHT_RIGHT,
    "pyright_wrong.py": PYRIGHT_WRONG,
}


def _only(reports: list[Report], name: str) -> list[Report]:
    return [r for r in reports if r.file == name]


def test_mypy_accepts_the_actor_classes(mypy_reports: list[Report]) -> None:
    """mypy with the plugin reports nothing on well-typed @remote classes and @method methods."""
    assert _only(mypy_reports, "actors.py") == []


def test_mypy_types_handle_calls(mypy_reports: list[Report]) -> None:
    """mypy types remote(), options() and handle.method.remote/submit/submit_nowait/options.

    Results are the methods' (awaited, for async methods) and every public method
    is typed, decorated or not; refs are accepted as arguments.
    """
    assert _only(mypy_reports, "mypy_right.py") == expected({"mypy_right.py": MYPY_RIGHT})


def test_mypy_rejects_wrong_calls(mypy_reports: list[Report]) -> None:
    """mypy reports wrong arguments and results, calls without .remote and unknown methods."""
    assert _only(mypy_reports, "mypy_wrong.py") == expected({"mypy_wrong.py": MYPY_WRONG})


def test_pyright_accepts_the_actor_classes(pyright_reports: list[Report]) -> None:
    """pyright (strict) reports nothing on the @remote classes and @method methods."""
    assert _only(pyright_reports, "actors.py") == []


def test_pyright_types_decorated_methods_through_typed(pyright_reports: list[Report]) -> None:
    """pyright types @method methods through typed(handle); other handle attributes are ActorMethod[..., Any]."""
    assert _only(pyright_reports, "pyright_right.py") == expected(
        {"pyright_right.py": PYRIGHT_RIGHT}
    )


def test_pyright_rejects_wrong_calls(pyright_reports: list[Report]) -> None:
    """pyright reports wrong arguments and results of @method methods and calls without .remote."""
    assert _only(pyright_reports, "pyright_wrong.py") == expected(
        {"pyright_wrong.py": PYRIGHT_WRONG}
    )
