"""Snakemake adapter: MAE and sigma against band set or resolution (paper Figs 11-12)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    import pandas as pd

    from galstar.evaluation.plots import ablation_figure

    ablation_figure(
        pd.read_csv(snakemake.input[0]),  # noqa: F821
        snakemake.params.base,  # noqa: F821
        snakemake.wildcards.kind,  # noqa: F821
        snakemake.params.order,  # noqa: F821
        snakemake.output[0],  # noqa: F821
        snakemake.params.targets,  # noqa: F821
    )
