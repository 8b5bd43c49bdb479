"""Snakemake adapter: separation histogram of the cross-matched catalogue."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.catalog.figures import plot_separation
    from galstar.io import read_parquet

    catalog = read_parquet(snakemake.input.catalog, columns=["sep_arcsec"])  # noqa: F821
    plot_separation(
        catalog["sep_arcsec"].to_numpy(),
        snakemake.params.radius_arcsec,  # noqa: F821
        snakemake.output[0],  # noqa: F821
    )
