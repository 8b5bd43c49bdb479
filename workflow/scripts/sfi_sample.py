"""Snakemake adapter: the spectra_from_images sample of one shard, images and gap-filled
spectra row-aligned (galstar.catalog.sfi.assemble_sfi_sample)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.catalog.sfi import assemble_sfi_sample

    i, o = snakemake.input, snakemake.output  # noqa: F821
    assemble_sfi_sample(i.catalog, i.image_table, i.image_stack, i.spectra_table,
                        i.spectra_tensor, i.pca, dict(o.items()))
