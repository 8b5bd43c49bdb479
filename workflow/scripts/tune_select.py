"""Snakemake adapter: choose a tuned experiment's values from its trials' histories."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    import json
    import logging

    from galstar.evaluation.evaluate import write_csv
    from galstar.io import atomic_path
    from galstar.training.tuning import select

    table, chosen = select(dict(snakemake.input.items()),  # noqa: F821
                           snakemake.params.trials, snakemake.params.grid)  # noqa: F821
    write_csv(table, snakemake.output.table)  # noqa: F821
    with atomic_path(snakemake.output.tuned) as tmp:  # noqa: F821
        tmp.write_text(json.dumps({"chosen": chosen, "metric": "best val_loss, mean over folds",
                                   "points": table.to_dict(orient="records")}, indent=2))
    logging.info("cross-validation:\n%s\nchosen: %s", table.to_string(), chosen)
