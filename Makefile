# make demo  - run the whole pipeline on the embedded mock archive
# make test  - unit, fault, integration and SLURM tests, then snakemake --lint
# make bench - speed benchmarks, written to results/benchmarks/*.json (its speed ratios
#              of one run: results/benchmarks/summary.json)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
# pytest-xdist workers (one test module each at a time: module fixtures are built once);
# many tests wait on one thread (tracing, DAG building, servers).
TEST_WORKERS ?= 2
SNAKEMAKE := $(BIN)/snakemake --workflow-profile profiles/local --cores $(CORES)
export KERAS_BACKEND ?= tensorflow
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test bench lint setup report report-check clean

$(VENV)/.installed: requirements.txt requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -c requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

setup: $(VENV)/.installed

# make demo METHODS="sigma_sfr" builds a subset (with what it needs); default: all.
comma := ,
empty :=
space := $(empty) $(empty)
METHODS_CONFIG = $(if $(METHODS),--config 'methods=[$(subst $(space),$(comma),$(strip $(METHODS)))]')

demo: setup
	$(SNAKEMAKE) $(METHODS_CONFIG)
	$(BIN)/snakemake --cores 1 $(METHODS_CONFIG) --report results/report.html
	@echo
	@echo "Done. Results are under results/:"
	@echo "  results/galaxies/     cross-matched sample, cut-flow, preprocessed shards, quality"
	@echo "  results/<method>/     models, predictions, metrics and figures of each method"
	@echo "  results/calibration.csv  interval coverage of every model"
	@echo "  results/report.html   the HTML report"

test: setup
	bash tests/slurm/install.sh
	$(BIN)/python -m pytest -q --timeout=1800 --durations=25 -n $(TEST_WORKERS) --dist loadfile
	$(BIN)/lint-imports
	$(BIN)/snakemake --lint

lint: setup
	$(BIN)/ruff check src tests workflow/scripts bench
	$(BIN)/lint-imports
	$(BIN)/snakemake --lint

bench: setup
	$(BIN)/python bench/bench_acquire.py
	$(BIN)/python bench/bench_preprocess.py
	$(BIN)/python bench/bench_preprocess.py --config config/config.yaml \
		--out results/benchmarks/preprocess_demo.json
	$(BIN)/python bench/bench_train.py
	$(BIN)/python bench/bench_plan.py
	$(BIN)/python bench/bench_stellar_preprocess.py
	$(BIN)/python bench/bench_sdss_spectra.py
	$(BIN)/python bench/bench_summary.py

report: setup
	$(BIN)/snakemake --cores 1 --report results/report.html

# The report as a reader sees it: a tiny sigma_sfr-only run in a temporary directory
# (~6 min on 2 cores), its report, and headless Chromium (Debian: chromium) screenshots
# of the landing page and of one table page, in results/report_check/.
report-check: setup
	$(BIN)/python tests/report_browser.py --out results/report_check

clean:
	rm -rf results .snakemake
