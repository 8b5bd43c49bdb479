"""Snakemake adapter: the stellar Table 6.1 analogue and the synthetic-gap table."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    import logging

    from galstar.methods.stellar import summarise

    table = summarise(dict(snakemake.input.items()), snakemake.params.settings,  # noqa: F821
                      table_path=snakemake.output.table,  # noqa: F821
                      gap_path=snakemake.output.gap)  # noqa: F821
    logging.info("Table 6.1:\n%s", table.to_string())
