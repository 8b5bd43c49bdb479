"""Snakemake adapter: the Sigma_SFR results table and binned residuals."""

import logging

from galstar.logs import log_to_file
from galstar.methods.sigma_sfr import summarise

log_to_file(snakemake.log[0])  # noqa: F821
table = summarise(dict(snakemake.input.items()), snakemake.params.settings,  # noqa: F821
                  results_path=snakemake.output.results,  # noqa: F821
                  bins_path=snakemake.output.bins)  # noqa: F821
logging.info("results:\n%s", table.to_string())
