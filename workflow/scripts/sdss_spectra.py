"""Snakemake adapter: SDSS spectra of one shard on the model grid
(galstar.spectra.sdss_sample.preprocess_spectra_shard)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.spectra.sdss_sample import preprocess_spectra_shard, spectra_settings

    grid, settings = spectra_settings(snakemake.params.spectra)  # noqa: F821
    preprocess_spectra_shard(snakemake.input[0], snakemake.output.table,  # noqa: F821
                             snakemake.output.tensor, grid, settings)  # noqa: F821
