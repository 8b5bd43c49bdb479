"""Snakemake adapter: Stage 3 band/resolution variant (galstar.imaging.stage.run_variant)."""

import logging

from galstar.imaging.stage import run_variant

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO,  # noqa: F821
                    format="%(asctime)s %(name)s %(levelname)s %(message)s")
run_variant(
    snakemake.input[0],  # noqa: F821
    snakemake.output[0],  # noqa: F821
    snakemake.params.bands,  # noqa: F821
    snakemake.params.resolution,  # noqa: F821
)
