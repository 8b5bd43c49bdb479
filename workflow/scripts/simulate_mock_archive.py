"""Snakemake adapter: Stage 0 mock archive (galstar.archives.mock.build_mock_archive)."""

import logging
from pathlib import Path

from galstar.archives.mock import build_mock_archive

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO,  # noqa: F821
                    format="%(asctime)s %(name)s %(levelname)s %(message)s")
p = snakemake.params  # noqa: F821
root = Path(snakemake.output.manifest).parent  # noqa: F821  (the archive root)
build_mock_archive(root, n_galaxies=p.n_galaxies, n_stars=p.n_stars, n_field=p.n_field,
                   seed=p.seed, **p.options)
