"""Snakemake adapter: point and MC-dropout predictions of one experiment on val and test."""

import logging

from galstar.evaluation.predict import predict_experiment
from galstar.io import write_parquet
from galstar.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821
predictions = predict_experiment(
    snakemake.input.model,  # noqa: F821
    snakemake.input.scaler,  # noqa: F821
    list(snakemake.input.tables),  # noqa: F821
    list(snakemake.input.images),  # noqa: F821
    mc_passes=snakemake.params.mc_passes,  # noqa: F821
    batch_size=snakemake.params.batch_size,  # noqa: F821
    seed=snakemake.params.seed,  # noqa: F821
    clip=snakemake.params.clip,  # noqa: F821
    tta=snakemake.params.tta,  # noqa: F821
)
write_parquet(predictions, snakemake.output[0])  # noqa: F821
logging.info("%d predictions written", len(predictions))
