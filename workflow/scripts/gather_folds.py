"""Snakemake adapter: one predictions table from a cross-validation group's folds."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    import logging

    from galstar.io import read_parquet, write_parquet
    from galstar.training.folds import gather_folds

    table = gather_folds({p: read_parquet(p) for p in snakemake.input})  # noqa: F821
    write_parquet(table, snakemake.output[0])  # noqa: F821
    logging.info("%d predictions from %d folds", len(table), len(snakemake.input))  # noqa: F821
