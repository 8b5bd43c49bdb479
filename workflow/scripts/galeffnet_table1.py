"""Snakemake adapter: GalEffNet's Table 1 and the like-for-like image gain."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.methods.galeffnet import summarise

    names = snakemake.params.names  # noqa: F821
    summarise(
        dict(zip(names, snakemake.input.metrics, strict=True)),  # noqa: F821
        snakemake.params.settings,  # noqa: F821
        table1_path=snakemake.output.table1,  # noqa: F821
        gain_path=snakemake.output.gain,  # noqa: F821
    )
