"""Snakemake adapter: Stage 2 cross-match (galstar.catalog.run_crossmatch)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.catalog import run_crossmatch

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
