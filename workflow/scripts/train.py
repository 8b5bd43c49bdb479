"""Snakemake adapter: train one GalEffNet experiment (galstar.training.fit.train_experiment)."""

import logging

from galstar.training.fit import train_experiment

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO,  # noqa: F821
                    format="%(asctime)s %(name)s %(levelname)s %(message)s")
train_experiment(
    list(snakemake.input.tables),  # noqa: F821
    list(snakemake.input.images),  # noqa: F821
    snakemake.params.experiment,  # noqa: F821
    seed=snakemake.params.seed,  # noqa: F821
    model_path=snakemake.output.model,  # noqa: F821
    scaler_path=snakemake.output.scaler,  # noqa: F821
    history_path=snakemake.output.history,  # noqa: F821
    config_path=snakemake.output.config,  # noqa: F821
    verbose=0,
)
