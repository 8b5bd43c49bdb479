"""Snakemake adapter: rest-frame SDSS spectra of one shard, with the mock's noiseless
truth when the archive is the mock (galstar.spectra.restframe_shard.restframe_shard)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from pathlib import Path

    from galstar.spectra.restframe import RestframeSettings
    from galstar.spectra.restframe_shard import restframe_shard

    truth = None
    if snakemake.params.archive == "mock":  # noqa: F821
        from galstar.mock.sdss_truth import true_spectra

        # <mock root>/truth/sdss_spectra.parquet
        truth = true_spectra(Path(snakemake.input.truth).parents[1])  # noqa: F821
    restframe_shard(snakemake.input.manifest, snakemake.output.table,  # noqa: F821
                    snakemake.output.tensor,  # noqa: F821
                    RestframeSettings.from_mapping(snakemake.params.restframe),  # noqa: F821
                    truth)
