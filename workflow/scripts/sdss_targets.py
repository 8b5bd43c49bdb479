"""Snakemake adapter: SDSS targets of one shard (galstar.catalog.sdss.write_sdss_targets)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.catalog.sdss import write_sdss_targets

    write_sdss_targets(snakemake.input.catalog, snakemake.input.dr7,  # noqa: F821
                       snakemake.output[0])  # noqa: F821
