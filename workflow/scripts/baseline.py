"""Snakemake adapter: fit one catalogue baseline of a method and write its predictions."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    import logging

    from galstar.io import write_parquet
    from galstar.methods.run import run_baseline

    predictions = run_baseline(
        snakemake.wildcards.method,  # noqa: F821
        {k: list(v) for k, v in snakemake.input.items()},  # noqa: F821
        snakemake.params.baseline,  # noqa: F821
        label_columns=snakemake.params.label_columns,  # noqa: F821
        seed=snakemake.params.seed,  # noqa: F821
    )
    write_parquet(predictions, snakemake.output[0])  # noqa: F821
    logging.info("%d predictions written", len(predictions))
