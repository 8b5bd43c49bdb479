"""Snakemake adapter: Stage 0 mock archive (galstar.mock.writer.build_mock_archive)."""

from pathlib import Path

from galstar.logs import log_to_file
from galstar.mock.writer import build_mock_archive

log_to_file(snakemake.log[0])  # noqa: F821
p = snakemake.params  # noqa: F821
root = Path(snakemake.output.manifest).parent  # noqa: F821  (the archive root)
build_mock_archive(root, n_galaxies=p.n_galaxies, n_stars=p.n_stars, n_field=p.n_field,
                   seed=p.seed, **p.options)
