"""Snakemake adapter: the stellar sample (labels and arm rows per star) and its rejects."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.methods.stellar_data import write_rejects, write_sample

    p = snakemake.params  # noqa: F821
    observed = dict(zip(p.arms, snakemake.input.observed, strict=True))  # noqa: F821
    sample = write_sample(snakemake.input.labels, observed, p.labels,  # noqa: F821
                          snakemake.output.sample)  # noqa: F821
    write_rejects(sample, observed, snakemake.output.rejects)  # noqa: F821
