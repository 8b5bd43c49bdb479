"""Snakemake adapter: the Sigma_SFR sample (features, target, reject reasons)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.methods.sigma_sfr import write_sample

    write_sample(list(snakemake.input), snakemake.params.features,  # noqa: F821
                 snakemake.params.cosmology, snakemake.output[0])  # noqa: F821
