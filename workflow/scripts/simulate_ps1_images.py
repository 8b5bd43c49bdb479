"""Snakemake adapter: Stage 0 mock Pan-STARRS1 grizy cutouts and listings
(galstar.mock.ps1_images.build_ps1_images)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.mock.ps1_images import build_ps1_images
    from galstar.mock.skyserver import mock_root_of

    build_ps1_images(mock_root_of(snakemake.input.galspec),  # noqa: F821
                     **snakemake.params.options)  # noqa: F821
