"""Snakemake adapter: DR9 neighbours of every catalogued galaxy, per shard
(galstar.catalog.neighbours.run_neighbours), for the catalogue blend pass."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.catalog.neighbours import run_neighbours

    run_neighbours(
        list(snakemake.input.shards),  # noqa: F821
        snakemake.input.sweeps,  # noqa: F821
        list(snakemake.output),  # noqa: F821
        radius_arcsec=snakemake.params.radius_arcsec,  # noqa: F821
        chunk_rows=snakemake.params.chunk_rows,  # noqa: F821
    )
