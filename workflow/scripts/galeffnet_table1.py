"""Snakemake adapter: GalEffNet's Table 1 and the like-for-like image gain."""

from galstar.logs import log_to_file
from galstar.methods.galeffnet import summarise

log_to_file(snakemake.log[0])  # noqa: F821
names = snakemake.params.names  # noqa: F821
summarise(
    dict(zip(names, snakemake.input.metrics, strict=True)),  # noqa: F821
    snakemake.params.settings,  # noqa: F821
    table1_path=snakemake.output.table1,  # noqa: F821
    gain_path=snakemake.output.gain,  # noqa: F821
)
