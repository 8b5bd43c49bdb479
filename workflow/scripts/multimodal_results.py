"""Snakemake adapter: the multimodal results table and the fusion verdict."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    import logging

    from galstar.methods.multimodal_tables import summarise

    table = summarise(snakemake.params.spec,  # noqa: F821
                      results_path=snakemake.output.results,  # noqa: F821
                      verdict_path=snakemake.output.fusion,  # noqa: F821
                      outlier=snakemake.params.outlier)  # noqa: F821
    logging.info("results:\n%s", table.to_string())
