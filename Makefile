# Two commands from a fresh clone: `make demo` and `make test`. Both bootstrap .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test test-fast lint bench model clean

$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first: this exact CPU build is on local disk; any other spec pulls a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m repspace.demo --workdir build/demo --serve

test: $(STAMP)
	$(PY) -m pytest

# for development: everything but the tests marked slow (CI runs `make test`, all of them)
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

bench: $(STAMP)
	$(PY) bench/encode.py
	$(PY) bench/measure.py
	$(PY) bench/evaluate.py
	$(PY) bench/data_select.py
	$(PY) bench/compress.py
	$(PY) bench/align.py
	$(PY) bench/serve.py
	$(PY) bench/distill.py
	$(PY) bench/ray.py

# A general-English static student of all-MiniLM-L6-v2 (bench/results/distill.json measures it):
# ~25 minutes on 2 cores; DATA is the folder with general-english.jsonl and the STS-B files.
DATA ?= ../shared/data
model: $(STAMP)
	$(VENV)/bin/repspace distill --teacher st:all-MiniLM-L6-v2 \
		--corpus $(DATA)/general-english.jsonl --out models/minilm-general-256 --overwrite \
		--eval $(DATA)/stsb-dev.jsonl --eval $(DATA)/sts-sample.jsonl

clean:
	rm -rf build $(VENV)
