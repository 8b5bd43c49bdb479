"""Snakemake adapter: mock archive overview figure (galstar.mock.figures)."""

from pathlib import Path

from galstar.logs import log_to_file
from galstar.mock.figures import plot_mock_overview

log_to_file(snakemake.log[0])  # noqa: F821
root = Path(snakemake.input.universe).parent  # noqa: F821  (the archive root)
plot_mock_overview(root, snakemake.output[0], n_cutouts=snakemake.params.n_cutouts,  # noqa: F821
                   seed=snakemake.params.seed)  # noqa: F821
