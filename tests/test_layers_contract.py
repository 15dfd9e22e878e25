"""The layers of docs/architecture.md, as pyproject.toml's import-linter contracts: they hold for
the tree as it is, and they break when a forbidden import is added (checked on a copy)."""

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO

LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--no-cache"], cwd=root, capture_output=True, text=True,
                          timeout=300, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)})


def test_the_tree_keeps_every_contract():
    done = lint(REPO)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "BROKEN" not in done.stdout and done.stdout.count("KEPT") >= 6


def copy_of_the_tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    for part in ("training", "desktop_app", "pyproject.toml"):
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, root / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, root / part)
    return root


def test_a_window_module_importing_the_keras_side_breaks_the_contract(tmp_path):
    root = copy_of_the_tree(tmp_path)
    view = root / "desktop_app" / "views" / "probability_chart.py"
    view.write_text(view.read_text() + "\nfrom training.learn.trainer import fit  # noqa\n")
    done = lint(root)
    assert done.returncode != 0
    assert "desktop_app is not allowed to import training.learn" in done.stdout


def test_an_import_cycle_breaks_the_contract(tmp_path):
    root = copy_of_the_tree(tmp_path)
    paper = root / "training" / "runtime" / "paper.py"  # preprocess imports paper
    paper.write_text(paper.read_text() + "\n\ndef _cycle():\n"
                     "    from training.runtime import preprocess  # noqa\n")
    done = lint(root)
    assert done.returncode != 0
    assert "No cycles are allowed in training.runtime" in done.stdout


def test_the_runtime_importing_tensorflow_breaks_the_contract(tmp_path):
    root = copy_of_the_tree(tmp_path)
    lite = root / "training" / "runtime" / "lite.py"
    lite.write_text(lite.read_text() + "\n\ndef _heavy():\n    import tensorflow  # noqa\n")
    done = lint(root)
    assert done.returncode != 0
    assert "training.runtime is not allowed to import tensorflow" in done.stdout
