"""Snakemake adapter: spectra_from_images objects kept and rejected over all shards
(galstar.catalog.sfi.write_sfi_reject_counts)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.catalog.sfi import write_sfi_reject_counts

    write_sfi_reject_counts(snakemake.input.tables, snakemake.input.rejects,  # noqa: F821
                            snakemake.output[0])  # noqa: F821
