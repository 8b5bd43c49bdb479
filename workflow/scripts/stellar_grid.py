"""Snakemake adapter: the synthetic grid degraded and normalised onto one arm grid."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.io import read_parquet, write_parquet
    from galstar.methods.stellar_data import (
        arm_grid,
        normalise_settings,
        prepare_grid_arm,
        write_npy,
    )

    p = snakemake.params  # noqa: F821
    arm = snakemake.wildcards.arm  # noqa: F821
    table, array = prepare_grid_arm(read_parquet(snakemake.input.grid), arm,  # noqa: F821
                                    arm_grid({"grid": p.grid}, arm), float(p.resolving_power),
                                    normalise_settings(p.normalise), p.augment, p.seed)
    write_npy(array, snakemake.output.array)  # noqa: F821
    write_parquet(table, snakemake.output.table)  # noqa: F821
