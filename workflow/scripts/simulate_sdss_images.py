"""Snakemake adapter: Stage 0 mock SDSS ugriz cutouts
(galstar.mock.sdss_images.build_sdss_images)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.mock.sdss_images import build_sdss_images
    from galstar.mock.skyserver import mock_root_of

    build_sdss_images(mock_root_of(snakemake.input.galspec),  # noqa: F821
                      **snakemake.params.options)  # noqa: F821
