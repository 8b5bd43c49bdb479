"""Snakemake adapter: test metrics and interval calibration of one predictions table."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    import logging

    from galstar.evaluation.evaluate import evaluate_predictions

    metrics = evaluate_predictions(
        snakemake.input[0],  # noqa: F821
        snakemake.params.evaluation,  # noqa: F821
        metrics_path=snakemake.output.metrics,  # noqa: F821
        calibration_path=snakemake.output.calibration,  # noqa: F821
    )
    logging.info("test metrics:\n%s", metrics.to_string())
