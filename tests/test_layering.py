"""The package's layering, read from the source (parsed, not imported).

- The pure layers never import Trio or trio-websocket.
- A protocol machine (and the codec and messages below it) never imports a
  provider configuration: the configuration builds the machine from plain
  values (`new_protocol`), never the other way round.
- The package's import graph has no circle, counting every import that runs:
  at module level and inside functions (a function-level import is a circle
  postponed, not avoided). Imports under ``if TYPE_CHECKING:`` are for the
  type checker only and do not count.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "trio_realtime"
PURE = [
    "events.py",
    "_wire.py",
    "audio.py",
    "_config.py",
    # tools.py and its parts (the runtime runs the calls, not these modules).
    "tools.py",
    *(f"_tools/{path.name}" for path in sorted((PACKAGE / "_tools").glob("*.py"))),
    "history.py",
    "_continuity.py",
    *(
        f"{provider}/{name}"
        for provider in ("openai", "gemini")
        for name in (
            "messages.py",
            "codec.py",
            "protocol.py",
        )
    ),
]
FORBIDDEN = ("trio", "trio_websocket")


def forbidden_imports(source: str) -> list[str]:
    """The modules of `FORBIDDEN` (or their submodules) that `source` imports."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "__import__"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        found += [n for n in names if n.split(".")[0] in FORBIDDEN]
    return found


@pytest.mark.parametrize("relative", PURE)
def test_pure_module_does_not_import_trio(relative: str) -> None:
    path = PACKAGE / relative
    if not path.exists():
        pytest.skip(f"{relative} does not exist yet")
    assert forbidden_imports(path.read_text(encoding="utf-8")) == []


def test_detector_finds_every_import_form() -> None:
    source = "\n".join(
        [
            "import trio",
            "import trio.testing as tt",
            "from trio_websocket import open_websocket_url",
            "from trio import lowlevel",
            "def f():",
            "    import trio_websocket",
            "x = __import__('trio')",
            "import triode",
            "from . import trio",
            "from .trio import x",
        ]
    )
    assert forbidden_imports(source) == [
        "trio",
        "trio.testing",
        "trio_websocket",
        "trio",
        "trio_websocket",
        "trio",
    ]


# --------------------------------------------------------------------------- the import graph


def package_modules(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    modules: dict[str, Path] = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def run_time_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of `tree` except those under ``if TYPE_CHECKING:`` (type-only imports)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that `name` imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in run_time_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.add(sub if sub in modules else module)
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of `graph` as a path that ends where it starts, or `None`."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> Iterator[list[str]]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                yield [*path[path.index(nxt) :], nxt]
            elif nxt not in state:
                yield from visit(nxt, path)
        path.pop()
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            for circle in visit(start, []):
                return circle
    return None


def test_the_package_import_graph_has_no_circle() -> None:
    graph = import_graph()
    assert "trio_realtime.session" in graph
    assert "trio_realtime.openai.codec" in graph["trio_realtime.openai.config"]
    assert find_circle(graph) is None


def test_the_graph_reads_function_imports_and_skips_type_only_ones() -> None:
    tree = ast.parse(
        "import a\nif TYPE_CHECKING:\n    import b\nelse:\n    import c\ndef f():\n    import d\n"
    )
    names = [n.names[0].name for n in run_time_nodes(tree) if isinstance(n, ast.Import)]
    assert sorted(names) == ["a", "c", "d"]


def test_the_circle_finder_finds_circles() -> None:
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_circle({"a": {"a"}}) == ["a", "a"]


@pytest.mark.parametrize("provider", ["openai", "gemini"])
@pytest.mark.parametrize("layer", ["messages", "codec", "protocol"])
def test_protocol_layers_never_import_a_configuration(provider: str, layer: str) -> None:
    graph = import_graph()
    configs = {"trio_realtime._config", f"trio_realtime.{provider}.config"}
    name = f"trio_realtime.{provider}.{layer}"
    assert not graph[name] & configs
    # Nor through any module below it.
    seen: set[str] = set()
    todo = [name]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    assert not seen & configs, sorted(seen & configs)


def test_only_new_protocol_points_from_a_configuration_to_its_protocol() -> None:
    for provider in ("openai", "gemini"):
        path = PACKAGE / provider / "config.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.ImportFrom) and node.module == "protocol":
                    assert func.name == "new_protocol", (provider, func.name)
