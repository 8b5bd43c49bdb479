"""Snakemake adapter: one arm's observed stars through the preprocessing chain."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.io import read_parquet, write_parquet
    from galstar.methods.stellar_data import observed_settings, prepare_observed_arm, write_npy

    arm = snakemake.wildcards.arm  # noqa: F821
    settings = dict(snakemake.params.settings)  # noqa: F821
    chain = observed_settings(arm, settings, settings)
    table, array = prepare_observed_arm(read_parquet(snakemake.input.spectra), arm, chain)  # noqa: F821
    write_npy(array, snakemake.output.array)  # noqa: F821
    write_parquet(table, snakemake.output.table)  # noqa: F821
