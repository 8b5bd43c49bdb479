"""Snakemake adapter: PS1 grizy cutouts of one shard as model inputs
(galstar.imaging.ps1.preprocess_ps1_shard)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.imaging.ps1 import Ps1ImageSettings, preprocess_ps1_shard

    preprocess_ps1_shard(snakemake.input[0], snakemake.output.table,  # noqa: F821
                         snakemake.output.stack,  # noqa: F821
                         Ps1ImageSettings.from_mapping(snakemake.params.panstarrs))  # noqa: F821
