"""Splits from shard tables and their per-shard tensors (docs/contracts.md, Stage 3).

Any method whose inputs are per-shard ``.npy`` tensors (row i = the i-th kept object
of the shard's table) loads its splits here: one :class:`~galstar.training.data.ShardSource`
per named input, the labels from the table.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from galstar.io import load_npy, read_parquet
from galstar.training.data import SPLITS, ShardSource, Split, check_columns, finite_labels

__all__ = ["load_shard_split"]

Paths = Sequence[str | os.PathLike]


def load_shard_split(tables: Paths, arrays: Mapping[str, Paths], split: str,
                     targets: Sequence[str], *, ndim: Mapping[str, int] | None = None) -> Split:
    """Collect the kept objects of ``split`` from shard tables and their tensors.

    Parameters
    ----------
    tables : sequence of paths
        ``results/galaxies/preprocess/shard-XXX.parquet`` (columns object_id, split,
        kept, row and the targets), in shard order.
    arrays : mapping
        Input name -> the matching per-shard ``.npy`` paths, in the same shard order.
    split : {'train', 'val', 'test'}
    targets : sequence of str
        Label columns.
    ndim : mapping, optional
        Input name -> expected array rank (batch axis included), checked per file.

    Raises
    ------
    ValueError
        Mismatched shard lists, a tensor whose length differs from the table's kept
        count, bad row indices, missing columns or non-finite labels (naming the file).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got '{split}'")
    for name, paths in arrays.items():
        if len(paths) != len(tables) or not tables:
            raise ValueError(f"need one '{name}' tensor per shard table: {len(tables)} "
                             f"tables, {len(paths)} tensors")
    loaded: dict[str, list[np.ndarray]] = {name: [] for name in arrays}
    shard_ids, rows, frames = [], [], []
    for s, tpath in enumerate(tables):
        table = read_parquet(tpath)
        check_columns(table, ("object_id", "split", "kept", "row", *targets), str(tpath))
        kept = table["kept"].to_numpy(dtype=bool)
        for name, paths in arrays.items():
            array = load_npy(paths[s])
            want = (ndim or {}).get(name)
            if (want and array.ndim != want) or array.shape[0] != kept.sum():
                raise ValueError(f"{paths[s]}: shape {array.shape} does not hold the "
                                 f"{kept.sum()} kept objects of {tpath}")
            if loaded[name] and array.shape[1:] != loaded[name][0].shape[1:]:
                raise ValueError(f"{paths[s]}: shape {array.shape[1:]} differs from "
                                 f"{loaded[name][0].shape[1:]} in the other shards")
            loaded[name].append(array)
        sel = table[kept & (table["split"] == split).to_numpy()]
        row = sel["row"].to_numpy(dtype=np.int64)
        n_rows = int(kept.sum())
        if np.any((row < 0) | (row >= n_rows)):
            raise ValueError(f"{tpath}: kept rows index outside its tensors (0..{n_rows})")
        shard_ids.append(np.full(len(sel), s, dtype=np.int32))
        rows.append(row)
        frames.append(sel)
    table = pd.concat(frames, ignore_index=True)
    labels = finite_labels(table, targets, f"'{split}' of {[str(t) for t in tables]}")
    shard, row = np.concatenate(shard_ids), np.concatenate(rows)
    inputs = {name: ShardSource(a, shard, row) for name, a in loaded.items()}
    return Split(inputs, labels, table, tuple(targets))
