"""Snakemake adapter: one star through the preprocessing, its grid model on top."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.methods.stellar_figures import preprocessing_example

    i, p = snakemake.input, snakemake.params  # noqa: F821
    preprocessing_example(i.spectra, i.grid, i.sample, i.observed, p.arm, p.settings,
                          p.resolving_power, snakemake.output[0])  # noqa: F821
