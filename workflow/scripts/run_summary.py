"""Snakemake adapter: the report's run page (galstar.provenance)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.provenance import write_run_summary

    params = snakemake.params  # noqa: F821
    write_run_summary(snakemake.output[0], code=params.code, archive=params.archive,  # noqa: F821
                      methods=params.methods)
