"""File-level entry points of the Stage 3 rules (the scripts call one each).

Scoring against the mock's truth is :func:`galstar.scoring.stage.run_quality`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from galstar.imaging.pipeline import PreprocessConfig
from galstar.imaging.shard import preprocess_shard
from galstar.imaging.variants import make_variant
from galstar.io import load_npy, read_parquet, save_npy, write_parquet

__all__ = ["run_preprocess_shard", "run_variant"]

log = logging.getLogger(__name__)


def run_preprocess_shard(
    manifest_path: str | os.PathLike,
    catalog_path: str | os.PathLike,
    table_path: str | os.PathLike,
    images_path: str | os.PathLike,
    preprocess: Mapping[str, Any],
    threads: int = 1,
    neighbours_path: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Preprocess one shard and write its table and grz tensor (atomically).

    Parameters
    ----------
    manifest_path, catalog_path : path
        Cutout manifest and catalogue shard (Parquet).
    table_path, images_path : path
        Outputs: the Parquet table of all objects and the ``.npy`` of kept images.
    preprocess : mapping
        The ``galaxies.preprocess`` settings (plus ``pixscale``).
    threads : int
        Worker processes.
    neighbours_path : path, optional
        The shard's catalogue neighbour table (the catalogue pass is skipped without).

    Returns
    -------
    pandas.DataFrame
        The table written.
    """
    config = PreprocessConfig.from_mapping(preprocess)
    neighbours = read_parquet(neighbours_path) if neighbours_path else None
    table, tensor = preprocess_shard(read_parquet(manifest_path), read_parquet(catalog_path),
                                     config, threads=threads, progress=True,
                                     neighbours=neighbours)
    save_npy(tensor, images_path)
    write_parquet(table, table_path)
    return table


def run_variant(in_path: str | os.PathLike, out_path: str | os.PathLike, bands: str,
                resolution: int) -> None:
    """Write the ``bands``-``resolution`` variant of a grz tensor (atomically)."""
    images = load_npy(in_path, mmap=True)
    save_npy(make_variant(np.asarray(images), bands, int(resolution)), out_path)
