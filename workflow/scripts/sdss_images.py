"""Snakemake adapter: SDSS ugriz cutouts of one shard as model inputs
(galstar.imaging.sdss.preprocess_images_shard)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.imaging.sdss import SdssImageSettings, preprocess_images_shard

    preprocess_images_shard(snakemake.input[0], snakemake.output.table,  # noqa: F821
                            snakemake.output.tensor,  # noqa: F821
                            SdssImageSettings.from_mapping(snakemake.params.images))  # noqa: F821
