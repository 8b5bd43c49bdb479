"""Snakemake adapter: the stellar grid, spectrum and label files (mock or live)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from pathlib import Path

    from galstar.methods.stellar_data import fetch_stellar, live_grid_nodes

    p, out = snakemake.params, snakemake.output  # noqa: F821
    mock = snakemake.input.mock  # noqa: F821
    fetch_stellar(p.archive, grid_path=out.grid, spectra_path=out.spectra,
                  labels_path=out.labels, mock_root=Path(mock).parent if mock else None,
                  live=p.live, download=p.download, nodes=live_grid_nodes(p.live),
                  seed=p.seed)
