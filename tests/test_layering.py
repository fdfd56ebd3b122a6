"""The pure layers never import Trio or trio-websocket (parsed, not imported)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "trio_realtime"
PURE = [
    "events.py",
    "_wire.py",
    "audio.py",
    # tools.py and its parts (the runtime runs the calls, not these modules).
    "tools.py",
    *(f"_tools/{path.name}" for path in sorted((PACKAGE / "_tools").glob("*.py"))),
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
