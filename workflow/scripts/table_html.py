"""Snakemake adapter: one CSV table as an HTML page for the report (galstar.evaluation.tables)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    import pandas as pd

    from galstar.evaluation.tables import write_html_table

    write_html_table(pd.read_csv(snakemake.input[0]), snakemake.output[0],  # noqa: F821
                     title=snakemake.params.title, csv=snakemake.input[0])  # noqa: F821
