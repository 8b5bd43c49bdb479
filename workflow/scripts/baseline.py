"""Snakemake adapter: fit one baseline (training mean or photometric random forest)."""

from galstar.evaluation.evaluate import run_baseline
from galstar.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821
run_baseline(
    snakemake.wildcards.baseline,  # noqa: F821
    list(snakemake.input.tables),  # noqa: F821
    snakemake.params.targets,  # noqa: F821
    snakemake.params.evaluation,  # noqa: F821
    seed=snakemake.params.seed,  # noqa: F821
    n_jobs=snakemake.threads,  # noqa: F821
    predictions_path=snakemake.output[0],  # noqa: F821
)
