"""Snakemake adapter: GalEffNet's per-experiment figures (paper Figs 7, 8, 9, 13-15)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    import pandas as pd

    from galstar.evaluation.plots import experiment_figures
    from galstar.io import read_parquet

    out = snakemake.output  # noqa: F821
    experiment_figures(
        read_parquet(snakemake.input.predictions),  # noqa: F821
        pd.read_csv(snakemake.input.table2),  # noqa: F821
        pd.read_csv(snakemake.input.uncertainty),  # noqa: F821
        pred_vs_ref=out.pred_vs_ref, distributions=out.distributions,
        uncertainty_fig=out.uncertainty, by_size=out.by_size, by_redshift=out.by_redshift,
        by_type=out.by_type, outlier_dex=snakemake.params.outlier_dex,  # noqa: F821
    )
