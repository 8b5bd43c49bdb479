"""Snakemake adapter: GalEffNet's Table 2 (by size, z, TYPE) and MC-dropout sigma bins."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.io import read_parquet
    from galstar.methods.galeffnet import evaluate_extras

    evaluate_extras(
        read_parquet(snakemake.input[0]),  # noqa: F821
        snakemake.params.evaluation,  # noqa: F821
        table2_path=snakemake.output.table2,  # noqa: F821
        uncertainty_path=snakemake.output.uncertainty,  # noqa: F821
    )
