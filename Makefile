# make demo  - run the whole pipeline on the embedded mock archive
# make test  - unit, fault, integration and SLURM tests, then snakemake --lint
# make bench - speed benchmarks, written to results/benchmarks/*.json

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
SNAKEMAKE := $(BIN)/snakemake --workflow-profile profiles/local --cores $(CORES)
export KERAS_BACKEND ?= tensorflow
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test bench lint setup report clean

$(VENV)/.installed: requirements.txt requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -c requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(SNAKEMAKE)
	$(BIN)/snakemake --cores 1 --report results/report.html
	@echo
	@echo "Done. Results are under results/:"
	@echo "  results/catalog/      cross-matched table, cut-flow, separation histogram"
	@echo "  results/preprocess/   preprocessed shards, reject counts, quality vs truth"
	@echo "  results/models/       trained models; results/metrics/ metrics tables"
	@echo "  results/report.html   the HTML report"

test: setup
	bash tests/slurm/install.sh
	$(BIN)/python -m pytest -q --timeout=1800
	$(BIN)/snakemake --lint

lint: setup
	$(BIN)/ruff check src tests workflow/scripts bench
	$(BIN)/snakemake --lint

bench: setup
	$(BIN)/python bench/bench_acquire.py
	$(BIN)/python bench/bench_preprocess.py
	$(BIN)/python bench/bench_preprocess.py --config config/config.yaml \
		--out results/benchmarks/preprocess_demo.json
	$(BIN)/python bench/bench_train.py

report: setup
	$(BIN)/snakemake --cores 1 --report results/report.html

clean:
	rm -rf results .snakemake
