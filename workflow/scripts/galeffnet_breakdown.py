"""Snakemake adapter: GalEffNet's Table 2 (by size, z, TYPE) and MC-dropout sigma bins."""

from galstar.io import read_parquet
from galstar.logs import log_to_file
from galstar.methods.galeffnet import evaluate_extras

log_to_file(snakemake.log[0])  # noqa: F821
evaluate_extras(
    read_parquet(snakemake.input[0]),  # noqa: F821
    snakemake.params.evaluation,  # noqa: F821
    table2_path=snakemake.output.table2,  # noqa: F821
    uncertainty_path=snakemake.output.uncertainty,  # noqa: F821
)
