"""Snakemake adapter: the Sigma_SFR results table and binned residuals."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    import logging

    from galstar.methods.sigma_sfr import summarise

    table = summarise(dict(snakemake.input.items()), snakemake.params.settings,  # noqa: F821
                      results_path=snakemake.output.results,  # noqa: F821
                      bins_path=snakemake.output.bins)  # noqa: F821
    logging.info("results:\n%s", table.to_string())
