"""Snakemake adapter: Stage 2 cross-match (galstar.catalog.run_crossmatch)."""

import logging

from galstar.catalog import run_crossmatch

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO,  # noqa: F821
                    format="%(asctime)s %(name)s %(levelname)s %(message)s")
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
