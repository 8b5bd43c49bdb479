"""Snakemake adapter: every model's interval coverage in one table (methods compared)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.evaluation.calibration import summary_table
    from galstar.evaluation.evaluate import write_csv

    write_csv(summary_table(dict(snakemake.input.items())), snakemake.output[0])  # noqa: F821
