# make install | run | test | check | bench | models      (creates .venv; re-installs only when pyproject.toml changes)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 3

.PHONY: install run test check bench models clean

install: $(STAMP)

# A venv without pip (0.2 s; with pip 6.8 s here): the system's pip puts uv into it, and where
# it cannot, scripts/install_packages.py gives the venv its own pip.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv --without-pip $(VENV)
	$(PY) -m uv --version > /dev/null 2>&1 || $(PYTHON) -m pip --python $(PY) install --quiet uv \
	    > /dev/null 2>&1 || true
	$(PY) scripts/install_packages.py    # -e '.[test]' with uv (pip's settings), else pip
	touch $(STAMP)

run: install
	$(PY) -m desktop_app

# Everything CI runs: the layers contract (docs/architecture.md) and every test, two at a time
# (many wait on child processes); prints the 10 slowest. Tests marked long (minutes of training
# on real data) run in `make bench`.
test: install
	$(VENV)/bin/lint-imports --no-cache
	@# Compiled once here: where PYTHONDONTWRITEBYTECODE is set (as on CI), each of the tests'
	@# child processes would otherwise compile the project again (~0.1 s each).
	$(PY) -m compileall -q training desktop_app tests > /dev/null
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -n 2 -m "not long" $(PYTEST_ARGS)

# The edit loop: the contract, the lint and the tests that load no TensorFlow (not marked slow).
check: install
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/ruff check training desktop_app bench scripts tests
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -n 2 -m "not slow" $(PYTEST_ARGS)

bench: install
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m long $(PYTEST_ARGS)    # minutes of training on real data
	QT_QPA_PLATFORM=offscreen $(PY) -m bench    # windows drawn off screen: same figures with or without a display

# The shipped models, trained by this project's own CLI on the full datasets (see README).
models: install
	for ds in mnist fashion_mnist; do \
	    $(PY) -m training train --dataset $$ds --preset best --seed 1 \
	        --out resources/models/$$ds.keras || exit 1; done    # 13 + 25 min on 2 cores
	for ds in mnist fashion_mnist; do \
	    $(PY) -m training train --dataset $$ds --architecture lecture_dense --optimizer adam \
	        --learning-rate 0.001 --lr-schedule constant --epochs 5 --batch-size 32 --dropout 0 \
	        --validation-split 0.05 --seed 1 --out resources/models/lecture_dense_$$ds.keras && \
	    $(PY) -m training train --dataset $$ds --architecture lecture_cnn --optimizer rmsprop \
	        --learning-rate 0.001 --lr-schedule constant --epochs 3 --batch-size 64 --dropout 0 \
	        --validation-split 0.05 --seed 1 --out resources/models/lecture_cnn_$$ds.keras \
	    || exit 1; done    # the lecture's two models, for "Models side by side"
	for d in 0 0.5; do $(PY) -m training describe --architecture all --json --dropout $$d \
	    || exit 1; done > resources/architectures.jsonl.part    # the panel's model summaries
	mv resources/architectures.jsonl.part resources/architectures.jsonl
	$(PY) scripts/export_shipped.py    # the .tflite + .layers.tflite the window runs (no TensorFlow)
	for m in mnist fashion_mnist; do \
	    $(PY) -m training calibrate --model resources/models/$$m.keras || exit 1; done  # + OOD

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
