"""Snakemake adapter: learning curve of one experiment from its history.csv."""

import pandas as pd

from galstar.evaluation.plots import plot_learning_curve

plot_learning_curve(pd.read_csv(snakemake.input[0]), snakemake.output[0],  # noqa: F821
                    title=snakemake.wildcards.experiment)  # noqa: F821
