"""Snakemake adapter: one feature baseline, tuned by k-fold CV on the training split."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    import logging

    import pandas as pd

    from galstar.evaluation.evaluate import write_csv
    from galstar.io import read_parquet, write_parquet
    from galstar.methods.multimodal import TARGETS
    from galstar.methods.multimodal_stacking import tune_tabular, write_fit

    spec = dict(snakemake.params.spec)  # noqa: F821
    spec.pop("features")  # the modality: which feature table the rule read
    predictions, fit = tune_tabular(read_parquet(snakemake.input.features), TARGETS, spec,  # noqa: F821
                                    seed=snakemake.params.seed,  # noqa: F821
                                    cv_folds=snakemake.params.cv_folds)  # noqa: F821
    write_parquet(predictions, snakemake.output.predictions)  # noqa: F821
    write_fit(fit, snakemake.output.fit)  # noqa: F821
    cv = pd.DataFrame(fit["cv"])
    cv["chosen"] = cv["mean_r2"] == cv["mean_r2"].max()
    write_csv(cv, snakemake.output.cv)  # noqa: F821
    logging.info("chosen %s; CV:\n%s", fit["chosen"], cv.to_string())
