"""Snakemake adapter: Stage 2 cross-match (galstar.catalog.run_crossmatch)."""

from galstar.catalog import run_crossmatch
from galstar.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821
params = dict(snakemake.params.items())  # noqa: F821
run_crossmatch(
    snakemake.input.mpa,  # noqa: F821
    snakemake.input.sweeps,  # noqa: F821
    snakemake.output.catalog,  # noqa: F821
    snakemake.output.cutflow,  # noqa: F821
    snakemake.output.rejects,  # noqa: F821
    list(snakemake.output.shards),  # noqa: F821
    **params,
)
