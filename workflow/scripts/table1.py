"""Snakemake adapter: Table 1 across experiments and baselines, and the image gain."""

from galstar.evaluation.evaluate import summarise_experiments
from galstar.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821
names = snakemake.params.names  # noqa: F821
summarise_experiments(
    dict(zip(names, snakemake.input.metrics, strict=True)),  # noqa: F821
    snakemake.params.experiments,  # noqa: F821
    snakemake.params.reference,  # noqa: F821
    table1_path=snakemake.output.table1,  # noqa: F821
    gain_path=snakemake.output.gain,  # noqa: F821
)
