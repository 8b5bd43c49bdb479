"""Snakemake adapter: train one GalEffNet experiment (galstar.training.fit.train_experiment)."""

from galstar.logs import log_to_file
from galstar.training.fit import train_experiment

log_to_file(snakemake.log[0])  # noqa: F821
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
