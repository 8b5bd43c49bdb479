"""Snakemake adapter: the Sigma_SFR figures (residuals vs true, predicted vs true)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.io import read_parquet
    from galstar.methods.sigma_sfr_figures import plot_pred_vs_true, plot_residuals_vs_true

    frames = {n: read_parquet(p) for n, p in snakemake.input.items()}  # noqa: F821
    settings = snakemake.params.settings  # noqa: F821
    plot_residuals_vs_true(frames, snakemake.output.residuals,  # noqa: F821
                           n_bins=settings["n_bins"], low_fraction=settings["low_fraction"])
    plot_pred_vs_true(frames, snakemake.output.pred_vs_true)  # noqa: F821
