"""Snakemake adapter: mock archive overview figure (galstar.mock.figures)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from pathlib import Path

    from galstar.mock.figures import plot_mock_overview

    root = Path(snakemake.input.universe).parent  # noqa: F821  (the archive root)
    plot_mock_overview(root, snakemake.output[0], n_cutouts=snakemake.params.n_cutouts,  # noqa: F821
                       seed=snakemake.params.seed)  # noqa: F821
