"""Snakemake adapter: test metrics and interval calibration of one predictions table."""

import logging

from galstar.evaluation.evaluate import evaluate_predictions
from galstar.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821
metrics = evaluate_predictions(
    snakemake.input[0],  # noqa: F821
    snakemake.params.evaluation,  # noqa: F821
    metrics_path=snakemake.output.metrics,  # noqa: F821
    calibration_path=snakemake.output.calibration,  # noqa: F821
)
logging.info("test metrics:\n%s", metrics.to_string())
