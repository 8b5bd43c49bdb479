"""Snakemake adapter: Stage 3, one shard (galstar.imaging.stage.run_preprocess_shard)."""

import logging

from galstar.imaging.stage import run_preprocess_shard

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO,  # noqa: F821
                    format="%(asctime)s %(name)s %(levelname)s %(message)s")
run_preprocess_shard(
    snakemake.input.manifest,  # noqa: F821
    snakemake.input.catalog,  # noqa: F821
    snakemake.output.table,  # noqa: F821
    snakemake.output.images,  # noqa: F821
    snakemake.params.preprocess,  # noqa: F821
    threads=snakemake.threads,  # noqa: F821
)
