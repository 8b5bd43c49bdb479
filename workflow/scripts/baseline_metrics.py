"""Snakemake adapter: test-split metrics of a baseline's predictions."""

import logging

from galstar.evaluation.evaluate import evaluate_baseline

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO,  # noqa: F821
                    format="%(asctime)s %(name)s %(levelname)s %(message)s")
metrics = evaluate_baseline(snakemake.input[0], snakemake.params.evaluation,  # noqa: F821
                            metrics_path=snakemake.output[0])  # noqa: F821
logging.info("test metrics:\n%s", metrics.to_string())
