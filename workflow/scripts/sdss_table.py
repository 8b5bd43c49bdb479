"""Snakemake adapter: the SDSS sample table, or image sample, of one shard
(galstar.catalog.sdss.write_sdss_table)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.catalog.sdss import write_sdss_table

    i = snakemake.input  # noqa: F821
    # rule sdss_image_sample has no spectra: the image sample
    write_sdss_table(i.targets, i.get("spectra"), i.images, snakemake.output[0])  # noqa: F821
