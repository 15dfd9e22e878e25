"""The benchmarks stay runnable after the code moves: `make bench` is not run by `make test`, and
the code some benchmarks run in fresh processes (as strings) escapes ruff and the imports."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def imports_in_strings(path: Path) -> list[ast.ImportFrom]:
    """The ``from training... import ...`` lines of the string literals in one source file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for line in node.value.splitlines():
                if line.strip().startswith(("from training", "from desktop_app")):
                    found.extend(ast.parse(line.strip()).body)
    return found


@pytest.mark.slow  # some benchmarks import TensorFlow at their top
def test_every_benchmark_imports_and_its_child_code_names_what_exists():
    files = sorted(BENCH.glob("*.py"))
    assert len(files) > 10
    for path in files:
        importlib.import_module(f"bench.{path.stem}")
    checked = 0
    for path in files:
        for statement in imports_in_strings(path):
            module = importlib.import_module(statement.module)
            for alias in statement.names:
                assert hasattr(module, alias.name), (
                    f"{path.name}: {statement.module} has no {alias.name}")
                checked += 1
    assert checked >= 4  # bench_lite's LiteRT and TensorFlow set-ups at least


def test_several_benchmarks_run_each_in_its_own_process_and_a_failure_stops_none():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "bench", "no_such_a", "no_such_b"],
                          capture_output=True, text=True, cwd=BENCH.parent, timeout=120)
    assert done.returncode == 1
    assert done.stderr.count("No module named 'bench.bench_no_such_") == 2  # both were tried
    assert "benchmarks that failed: no_such_a, no_such_b" in done.stdout


def test_a_suite_that_hosts_the_window_runs_in_a_process_set_up_as_the_apps(tmp_path):
    """Before numpy loads: one OpenBLAS thread, as `python -m desktop_app` has (with two, the
    window's figures were of a process the app never runs); a training suite keeps the user's."""
    import json
    import os
    import subprocess
    import sys

    probe = f"""
import json, os, sys, types
from pathlib import Path
import bench.__main__ as runner
seen = {{}}
def suite(name):
    seen[name] = [os.environ.get("OPENBLAS_NUM_THREADS"), "numpy" in sys.modules]
    return types.SimpleNamespace(run=lambda: None)
runner.importlib.import_module = suite
runner.RESULTS = Path({str(tmp_path)!r})
runner.run_one(sys.argv[1])
print(json.dumps(seen))
"""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}

    def seen(suite: str) -> list:
        done = subprocess.run([sys.executable, "-c", probe, suite], capture_output=True,
                              text=True, cwd=BENCH.parent, env=env, timeout=120, check=True)
        return json.loads(done.stdout.splitlines()[-1])[f"bench.bench_{suite}"]

    assert seen("explain") == ["1", False]
    assert seen("budget") == [None, False]
