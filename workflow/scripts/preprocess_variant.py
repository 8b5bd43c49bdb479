"""Snakemake adapter: Stage 3 band/resolution variant (galstar.imaging.stage.run_variant)."""

from galstar.imaging.stage import run_variant
from galstar.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821
run_variant(
    snakemake.input[0],  # noqa: F821
    snakemake.output[0],  # noqa: F821
    snakemake.params.bands,  # noqa: F821
    snakemake.params.resolution,  # noqa: F821
)
