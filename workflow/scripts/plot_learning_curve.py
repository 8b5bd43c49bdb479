"""Snakemake adapter: learning curve of one experiment from its history.csv."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    import pandas as pd

    from galstar.evaluation.plots import plot_learning_curve

    plot_learning_curve(pd.read_csv(snakemake.input[0]), snakemake.output[0],  # noqa: F821
                        title=snakemake.wildcards.experiment)  # noqa: F821
