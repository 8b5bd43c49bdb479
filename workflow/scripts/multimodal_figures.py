"""Snakemake adapter: R2 per target and model, predicted vs true z and median SFR."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    import pandas as pd

    from galstar.io import read_parquet
    from galstar.methods.multimodal_figures import plot_pred_vs_true, plot_r2

    inputs, out = snakemake.input, snakemake.output  # noqa: F821
    plot_r2(pd.read_csv(inputs.results), out.r2)
    predictions = {n: read_parquet(p) for n, p in
                   zip(snakemake.params.names, inputs.predictions, strict=True)}  # noqa: F821
    plot_pred_vs_true(predictions, out.pred_vs_true)
