"""Snakemake adapter: Stage 0 mock SDSS spectra and DR7 flat files
(galstar.mock.sdss_spectra.build_sdss_spectra)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.mock.sdss_spectra import build_sdss_spectra
    from galstar.mock.skyserver import mock_root_of

    build_sdss_spectra(mock_root_of(snakemake.input.galspec),  # noqa: F821
                       **snakemake.params.options)  # noqa: F821
