"""Snakemake adapter: mock archive overview figure (galstar.simulate.figures)."""

import logging
from pathlib import Path

from galstar.simulate.figures import plot_mock_overview

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO,  # noqa: F821
                    format="%(asctime)s %(name)s %(levelname)s %(message)s")
root = Path(snakemake.input.universe).parent  # noqa: F821  (the archive root)
plot_mock_overview(root, snakemake.output[0], n_cutouts=snakemake.params.n_cutouts,  # noqa: F821
                   seed=snakemake.params.seed)  # noqa: F821
