"""Snakemake adapter: the SDSS spectrum grid description
(galstar.spectra.sdss_sample.write_grid_description)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.spectra.sdss_sample import spectra_settings, write_grid_description

    write_grid_description(*spectra_settings(snakemake.params.spectra),  # noqa: F821
                           snakemake.output[0])  # noqa: F821
