"""Snakemake adapter: train one experiment of one method (galstar.methods.run)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: errors go to the log)
    from galstar.training.backend import start_backend

    start_backend(snakemake.threads)  # noqa: F821  (before Keras is imported)
    from galstar.methods.run import train_experiment

    out = snakemake.output  # noqa: F821
    train_experiment(
        snakemake.wildcards.method,  # noqa: F821
        {k: list(v) for k, v in snakemake.input.items()},  # noqa: F821
        snakemake.params.experiment,  # noqa: F821
        seed=snakemake.params.seed,  # noqa: F821
        outputs={"model_path": out.model, "scaler_path": out.scaler,
                 "history_path": out.history, "config_path": out.config},
    )
