"""Snakemake adapter: the stellar mock archive (galstar.mock.stellar.build_stellar_mock)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from pathlib import Path

    from galstar.mock.stellar import build_stellar_mock

    p = snakemake.params  # noqa: F821
    root = Path(snakemake.output.manifest).parent  # noqa: F821  (the archive root)
    build_stellar_mock(root, p.n_stars, p.seed, **p.options)
