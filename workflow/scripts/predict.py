"""Snakemake adapter: point and MC-dropout predictions of one experiment on val and test."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: errors go to the log)
    from galstar.training.backend import start_backend

    start_backend(snakemake.threads)  # noqa: F821  (before Keras is imported)
    import logging

    from galstar.io import write_parquet
    from galstar.methods.run import predict_experiment

    inputs = snakemake.input  # noqa: F821
    predictions = predict_experiment(
        snakemake.wildcards.method,  # noqa: F821
        {k: list(v) for k, v in inputs.items() if k not in ("model", "scaler")},
        snakemake.params.experiment,  # noqa: F821
        model_path=inputs.model, scaler_path=inputs.scaler,
        seed=snakemake.params.seed,  # noqa: F821
        **snakemake.params.options,  # noqa: F821
    )
    write_parquet(predictions, snakemake.output[0])  # noqa: F821
    logging.info("%d predictions written", len(predictions))
