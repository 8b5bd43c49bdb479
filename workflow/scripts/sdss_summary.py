"""Snakemake adapter: SDSS reject counts over all shards
(galstar.imaging.summary.write_reject_counts)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.imaging.summary import write_reject_counts

    write_reject_counts(list(snakemake.input), snakemake.output[0])  # noqa: F821
