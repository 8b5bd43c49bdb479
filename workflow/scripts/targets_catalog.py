"""Snakemake adapter: a position list validated, matched to DR9 and sharded
(galstar.inference.galaxies.write_target_catalog)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: errors go to the log)
    from galstar.inference.galaxies import write_target_catalog

    p = snakemake.params  # noqa: F821
    write_target_catalog(
        snakemake.input.targets,  # noqa: F821
        snakemake.input.sweeps,  # noqa: F821
        snakemake.output.table,  # noqa: F821
        list(snakemake.output.shards),  # noqa: F821
        radius_arcsec=p.radius_arcsec, chunk_rows=p.chunk_rows,
        need_redshift=p.need_redshift,
    )
