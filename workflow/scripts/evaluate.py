"""Snakemake adapter: metrics, Table 2 breakdown, MC-dropout bins and calibration."""

import logging

from galstar.evaluation.evaluate import evaluate_experiment
from galstar.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821
metrics = evaluate_experiment(
    snakemake.input[0],  # noqa: F821
    snakemake.params.evaluation,  # noqa: F821
    metrics_path=snakemake.output.metrics,  # noqa: F821
    table2_path=snakemake.output.table2,  # noqa: F821
    uncertainty_path=snakemake.output.uncertainty,  # noqa: F821
    calibration_path=snakemake.output.calibration,  # noqa: F821
)
logging.info("test metrics:\n%s", metrics.to_string())
