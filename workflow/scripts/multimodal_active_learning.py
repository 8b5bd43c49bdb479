"""Snakemake adapter: active learning with the MC-dropout image CNN (multimodal)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: errors go to the log)
    from galstar.training.backend import start_backend

    start_backend(snakemake.threads)  # noqa: F821  (before Keras is imported)
    import logging

    import pandas as pd

    from galstar.evaluation.evaluate import write_csv
    from galstar.io import write_parquet
    from galstar.methods.multimodal_active import active_learning_curve, labels_to_reach
    from galstar.methods.multimodal_figures import plot_active_learning

    out = snakemake.output  # noqa: F821
    curve, acquired = active_learning_curve(
        {k: list(v) for k, v in snakemake.input.items()},  # noqa: F821
        snakemake.params.experiment, snakemake.params.settings,  # noqa: F821
        seed=snakemake.params.seed)  # noqa: F821
    scores = ["mean", *dict.fromkeys(curve["target"])]
    summary = pd.concat([labels_to_reach(curve, target_r2=s) for s in scores],
                        ignore_index=True)
    write_csv(curve, out.curve)
    write_csv(summary, out.summary)
    write_parquet(acquired, out.acquired)
    plot_active_learning(curve, out.figure)
    logging.info("curve:\n%s", curve.to_string())
