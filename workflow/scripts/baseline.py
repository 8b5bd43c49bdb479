"""Snakemake adapter: fit one baseline (training mean or photometric random forest)."""

import logging

from galstar.evaluation.evaluate import run_baseline

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO,  # noqa: F821
                    format="%(asctime)s %(name)s %(levelname)s %(message)s")
run_baseline(
    snakemake.wildcards.baseline,  # noqa: F821
    list(snakemake.input.tables),  # noqa: F821
    snakemake.params.targets,  # noqa: F821
    snakemake.params.evaluation,  # noqa: F821
    seed=snakemake.params.seed,  # noqa: F821
    n_jobs=snakemake.threads,  # noqa: F821
    predictions_path=snakemake.output[0],  # noqa: F821
)
