"""Snakemake adapter: test-split metrics of a baseline's predictions."""

import logging

from galstar.evaluation.evaluate import evaluate_baseline
from galstar.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821
metrics = evaluate_baseline(snakemake.input[0], snakemake.params.evaluation,  # noqa: F821
                            metrics_path=snakemake.output[0])  # noqa: F821
logging.info("test metrics:\n%s", metrics.to_string())
