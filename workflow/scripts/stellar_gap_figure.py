"""Snakemake adapter: the synthetic-gap figure (MAE of regimes a, b, c)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    import pandas as pd

    from galstar.methods.stellar_figures import plot_synthetic_gap

    plot_synthetic_gap(pd.read_csv(snakemake.input[0]), snakemake.output[0])  # noqa: F821
