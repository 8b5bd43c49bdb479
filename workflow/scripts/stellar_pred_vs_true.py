"""Snakemake adapter: predicted vs literature values of one stellar model."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.io import read_parquet
    from galstar.methods.stellar import REGIMES, target_set
    from galstar.methods.stellar_figures import plot_pred_vs_true

    s = snakemake.params.settings  # noqa: F821
    title = (f"{snakemake.wildcards.name}: {s['model']} {target_set(s['targets'])} "  # noqa: F821
             f"{s['arm']}, regime {REGIMES[s['regime']]} ({s['regime']}), test stars")
    plot_pred_vs_true(read_parquet(snakemake.input[0]), s["targets"],  # noqa: F821
                      snakemake.output[0], title)  # noqa: F821
