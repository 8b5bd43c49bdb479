"""Snakemake adapter: the Sigma_SFR sample (features, target, reject reasons)."""

from galstar.logs import log_to_file
from galstar.methods.sigma_sfr import write_sample

log_to_file(snakemake.log[0])  # noqa: F821
write_sample(list(snakemake.input), snakemake.params.features,  # noqa: F821
             snakemake.params.cosmology, snakemake.output[0])  # noqa: F821
