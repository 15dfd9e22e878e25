"""training/ never imports Qt; the GUI's start-up path never imports TensorFlow."""

import ast
import subprocess
import sys

from conftest import REPO

QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "qtpy", "shiboken6")


def imported_modules(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def test_no_file_in_training_imports_qt():
    offenders = [(p.name, m) for p in (REPO / "training").rglob("*.py")
                 for m in imported_modules(p) if m.split(".")[0] in QT_MODULES]
    assert offenders == []


def test_importing_all_of_training_loads_no_qt():
    code = ("import sys, training, training.datasets, training.preprocess, training.models, "
            "training.trainer, training.store, training.predictor, training.augment, "
            "training.callbacks, training.__main__; "
            f"print([m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r}])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_light_modules_do_not_import_tensorflow():
    code = ("import sys, training.datasets, training.preprocess, training.models, training.trainer, "
            "training.store, training.__main__; "
            "print([m for m in ('tensorflow', 'keras') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
