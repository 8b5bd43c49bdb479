"""Snakemake adapter: the iterative-PCA gap filler fitted on the training split of every
shard, and the rest-frame grid description (galstar.spectra.restframe_shard.fit_gap_filler)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.spectra.restframe import RestframeSettings
    from galstar.spectra.restframe_shard import fit_gap_filler

    i, o = snakemake.input, snakemake.output  # noqa: F821
    fit_gap_filler(i.catalog, i.tables, i.tensors,
                   RestframeSettings.from_mapping(snakemake.params.restframe),  # noqa: F821
                   o.pca, o.grid, seed=snakemake.params.seed)  # noqa: F821
