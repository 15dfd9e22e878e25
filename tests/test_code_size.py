"""Rooms of a size one can read (issue #21, item 5): no function in training/ or desktop_app/
is longer than MAX_FUNCTION_LINES, and the main window's module stays under
MAX_MAIN_WINDOW_LINES (its roles live in desktop_app/window/)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("training", "desktop_app")
MAX_FUNCTION_LINES = 60
MAX_MAIN_WINDOW_LINES = 350



def function_lengths(source: str) -> dict[str, int]:
    """``Class.method`` / ``function`` -> lines from its ``def`` (decorators excluded) to its
    last line, nested functions counted in their parent and on their own."""
    lengths: dict[str, int] = {}

    def visit(node, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + child.name
                lengths[name] = child.end_lineno - child.lineno + 1
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return lengths


def test_the_measure_counts_every_line_of_a_function():
    source = "class A:\n    @staticmethod\n    def f():\n        x = 1\n\n        return x\n" \
             "def g():\n    def h():\n        pass\n    return h\n"
    assert function_lengths(source) == {"A.f": 4, "g": 4, "g.h": 2}


def test_no_function_is_longer_than_a_screen():
    too_long = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            module = path.relative_to(ROOT).as_posix()
            for name, lines in function_lengths(path.read_text(encoding="utf-8")).items():
                key = f"{module}::{name}"
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"{key} ({lines} lines)")
    assert not too_long, f"over {MAX_FUNCTION_LINES} lines: {too_long}"


def test_the_main_window_module_is_short():
    lines = len((ROOT / "desktop_app" / "main_window.py").read_text(encoding="utf-8")
                .splitlines())
    assert lines <= MAX_MAIN_WINDOW_LINES, f"main_window.py has {lines} lines"


def test_the_window_mixins_carry_no_slot_decorator():
    """PySide6 calls a @Slot method defined in a mixin (not in the QObject class itself) in the
    emitting thread: the picture loader's signals then touched the status bar from its thread
    and crashed the app. The mixins' methods stay plain (see desktop_app/window/__init__.py)."""
    decorated = []
    for path in sorted((ROOT / "desktop_app" / "window").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Mixin"):
                decorated += [f"{path.name}::{node.name}.{item.name}" for item in node.body
                              if isinstance(item, ast.FunctionDef) and any(
                                  "Slot" in ast.unparse(d) for d in item.decorator_list)]
    assert not decorated, decorated
