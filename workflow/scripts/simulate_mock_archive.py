"""Snakemake adapter: Stage 0 mock archive (galstar.mock.writer.build_mock_archive)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from pathlib import Path

    from galstar.mock.writer import build_mock_archive

    p = snakemake.params  # noqa: F821
    root = Path(snakemake.output.manifest).parent  # noqa: F821  (the archive root)
    build_mock_archive(root, n_galaxies=p.n_galaxies, n_stars=p.n_stars, n_field=p.n_field,
                       seed=p.seed, **p.options)
